"""Contract renewals over GraphQL: every mutation and its typed refusals, the list, the quote."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from services.api import create_app
from tests.api.documents import mutation
from tests.conftest import OPERATOR, Api, Stack, serve
from tests.workflows.helpers import eventually
from workflows.engine.calendar import add_months

CHANGED = """
  ... on RenewalChanged {
    renewal { contractId state version owner endDate atRisk onPrepaidPlan earlyRenewalWindowOpen
              atRiskFlag { reason flaggedBy } atRiskInvoices
              creditsExhausted { exhaustedOn usageCoveredUntil recordedBy }
              notRenewing { lossReason note decidedBy }
              deadlines { timer dueAt } nextDeadline }
    transition { seq trigger fromState toState actor reason }
  }
"""


START = mutation("startRenewal", "StartRenewalInput", CHANGED)
MARK = mutation("markRenewalAtRisk", "MarkRenewalAtRiskInput", CHANGED)
CLEAR = mutation("clearRenewalAtRisk", "ClearRenewalAtRiskInput", CHANGED)
EXHAUSTED = mutation("recordRenewalCreditsExhausted", "RecordRenewalCreditsExhaustedInput", CHANGED)
DECLINE = mutation("declineRenewal", "DeclineRenewalInput", CHANGED)

STATE = """query($id: ID!) { renewal(contractId: $id) { __typename ... on Renewal {
  contractId state version atRisk onPrepaidPlan
  history { totalCount edges { node { seq trigger actor reason } } }
  effects { id name } } } }"""

QUOTE = """query($id: ID!, $proposal: RenewalProposalInput!) { renewalQuote(contractId: $id, proposal: $proposal) {
  __typename
  ... on RenewalQuote { planType creditAmount termMonths customPricing discountPercent price annualSpend
                        rolloverAllowance rolloverReason levers { lever applied percent reason source } }
  ... on ValidationError { fields { field message } }
  ... on NotFound { message } } }"""

TODAY = datetime.now(UTC).date()


def contract(contract_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "contractId": contract_id,
        "account": {"id": "acme", "name": "ACME"},
        "startDate": TODAY.isoformat(),
        "creditAmount": "60000",
        "annualSpend": "45000",
        **fields,
    }


async def call(api: Api, query: str, variables: dict[str, Any], *, role: str = "operator") -> dict[str, Any]:
    data = await api.gql(query, {"input": variables}, role=role)
    return next(iter(data.values()))


async def state(api: Api, contract_id: str) -> dict[str, Any]:
    return (await api.gql(STATE, {"id": contract_id}, role="viewer"))["renewal"]


async def unchanged(
    api: Api, contract_id: str, query: str, variables: dict[str, Any], typename: str, *, role: str = "operator"
) -> dict[str, Any]:
    """Send a request that must be refused with ``typename`` and must change nothing."""
    before = await state(api, contract_id)
    result = await call(api, query, variables, role=role)
    assert result["__typename"] == typename, result
    assert await state(api, contract_id) == before
    return result


async def start(api: Api, contract_id: str, **fields: Any) -> dict[str, Any]:
    result = await call(api, START, contract(contract_id, **fields))
    assert result["__typename"] == "RenewalChanged", result
    return result["renewal"]


# ---- starting ------------------------------------------------------------------------------------------


async def test_a_contract_starts_active_with_its_milestones(api: Api, entity_id: str):
    started = await start(api, entity_id)
    end = add_months(TODAY, 12)
    assert started["state"] == "ACTIVE" and started["version"] == 1
    assert started["owner"] == "otto@example.com" and started["endDate"] == end.isoformat()
    assert started["earlyRenewalWindowOpen"] and started["onPrepaidPlan"] and not started["atRisk"]
    assert [d["timer"] for d in started["deadlines"]] == [
        "renewal_due",
        "early_renewal_reminder",
        "early_renewal_window_closes",
        "expiry",
    ]
    assert started["nextDeadline"] == started["deadlines"][0]["dueAt"]
    data = await api.gql(
        """query($id: ID!) { renewal(contractId: $id) { ... on Renewal {
        renewalOpportunityId milestones { key date passed }
        availableTransitions { trigger toState allowed unmet } } } }""",
        {"id": entity_id},
        role="viewer",
    )
    renewal = data["renewal"]
    assert renewal["renewalOpportunityId"] == f"{entity_id}-renewal-1"
    assert renewal["milestones"] == [
        {"key": "renewal_due", "date": (end - timedelta(days=90)).isoformat(), "passed": False},
        {"key": "early_renewal_reminder", "date": (end - timedelta(days=67)).isoformat(), "passed": False},
        {"key": "early_renewal_window_closes", "date": (end - timedelta(days=60)).isoformat(), "passed": False},
        {"key": "end", "date": end.isoformat(), "passed": False},
    ]
    available = {a["trigger"]: a for a in renewal["availableTransitions"]}
    assert set(available) == {"decline", "record_credits_exhausted", "mark_at_risk", "clear_at_risk", "change_owner"}
    assert not available["clear_at_risk"]["allowed"]
    # A contract registered directly opened its renewal opportunity.
    query = "query($id: ID!) { opportunity(id: $id) { __typename ... on Opportunity { recordType stage } } }"

    async def opened() -> Any:
        found = (await api.gql(query, {"id": f"{entity_id}-renewal-1"}, role="viewer"))["opportunity"]
        return found if found["__typename"] == "Opportunity" else None

    assert await eventually(opened) == {"__typename": "Opportunity", "recordType": "RENEWAL", "stage": "QUALIFICATION"}


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"termMonths": 0}, ["termMonths"]),
        ({"endDate": (TODAY - timedelta(days=1)).isoformat()}, ["endDate"]),
        ({"endDate": (add_months(TODAY, 12) - timedelta(days=1)).isoformat()}, ["endDate"]),
        ({"creditAmount": "-1"}, ["creditAmount"]),
        ({"creditAmount": "-5", "annualSpend": "lots"}, ["creditAmount", "annualSpend"]),
        ({"startDate": "soon"}, ["startDate"]),
        ({"startDate": add_months(TODAY, -13).isoformat()}, ["endDate"]),
        ({"account": {"id": "", "name": "ACME"}}, ["account.id"]),
    ],
)
async def test_bad_contracts_are_refused_one_by_one_and_nothing_starts(api: Api, entity_id: str, fields, bad):
    result = await call(api, START, contract(entity_id, **fields))
    assert result["__typename"] == "ValidationError", result
    assert sorted(f["field"] for f in result["fields"]) == sorted(bad)
    assert (await state(api, entity_id))["__typename"] == "NotFound"


async def test_end_before_start_says_so(api: Api, entity_id: str):
    before = await call(api, START, contract(entity_id, endDate=(TODAY - timedelta(days=1)).isoformat()))
    assert before["fields"] == [{"field": "endDate", "message": "must be after the start date"}]


async def test_starting_twice_viewers_and_policy_overrides(api: Api, entity_id: str):
    assert (await call(api, START, contract(entity_id), role="viewer"))["__typename"] == "Forbidden"
    override = {"renewal_due_before_end": "P120D"}
    refused = await call(api, START, contract(entity_id, policy=override))
    assert refused["__typename"] == "Forbidden" and refused["requiredRole"] == "ADMIN"
    started = await call(api, START, contract(entity_id, policy=override), role="admin")
    assert started["renewal"]["deadlines"][0]["dueAt"].startswith(
        (add_months(TODAY, 12) - timedelta(days=120)).isoformat()
    )
    again = await unchanged(api, entity_id, START, contract(entity_id), "AlreadyExists")
    assert entity_id in again["message"]


# ---- operators' changes --------------------------------------------------------------------------------


async def test_the_at_risk_flag_is_set_and_cleared_with_reasons(api: Api, entity_id: str):
    await start(api, entity_id)
    missing = await unchanged(api, entity_id, MARK, {"contractId": entity_id}, "GuardFailed")
    assert missing["unmet"] == [{"guard": "reason_required", "message": "Say why the renewal is at risk."}]
    not_flagged = await unchanged(api, entity_id, CLEAR, {"contractId": entity_id, "reason": "ok"}, "GuardFailed")
    assert not_flagged["unmet"][0]["guard"] == "flagged_at_risk"

    marked = await call(api, MARK, {"contractId": entity_id, "reason": "Evaluating alternatives"})
    assert marked["renewal"]["atRisk"]
    assert marked["renewal"]["atRiskFlag"] == {"reason": "Evaluating alternatives", "flaggedBy": "otto@example.com"}
    assert marked["transition"]["trigger"] == "mark_at_risk"
    no_reason = await unchanged(api, entity_id, CLEAR, {"contractId": entity_id}, "GuardFailed")
    assert no_reason["unmet"] == [{"guard": "reason_required", "message": "Say why the risk is gone."}]
    cleared = await call(api, CLEAR, {"contractId": entity_id, "reason": "Signed the renewal plan"})
    assert not cleared["renewal"]["atRisk"] and cleared["renewal"]["atRiskFlag"] is None
    history = [e["node"]["trigger"] for e in (await state(api, entity_id))["history"]["edges"]]
    assert history == ["open", "mark_at_risk", "clear_at_risk"]


async def test_credits_running_out_without_a_renewal(api: Api, entity_id: str):
    await start(api, entity_id, startDate=(TODAY - timedelta(days=40)).isoformat())
    future = await unchanged(
        api,
        entity_id,
        EXHAUSTED,
        {"contractId": entity_id, "exhaustedOn": (TODAY + timedelta(days=1)).isoformat()},
        "ValidationError",
    )
    assert future["fields"] == [{"field": "exhaustedOn", "message": "must not be in the future"}]
    garbled = await unchanged(
        api, entity_id, EXHAUSTED, {"contractId": entity_id, "exhaustedOn": "last week"}, "ValidationError"
    )
    assert garbled["fields"][0]["field"] == "exhaustedOn"

    on = (TODAY - timedelta(days=2)).isoformat()
    out = await call(api, EXHAUSTED, {"contractId": entity_id, "exhaustedOn": on})
    renewal = out["renewal"]
    assert renewal["creditsExhausted"] == {
        "exhaustedOn": on,
        "usageCoveredUntil": None,
        "recordedBy": "otto@example.com",
    }
    assert not renewal["onPrepaidPlan"] and not renewal["earlyRenewalWindowOpen"]
    twice = await unchanged(api, entity_id, EXHAUSTED, {"contractId": entity_id}, "GuardFailed")
    assert f"already recorded as run out on {on}" in twice["message"]


async def test_declining_closes_the_renewal_opportunity(api: Api, entity_id: str):
    await start(api, entity_id)
    before = await state(api, entity_id)
    response = await api.post(DECLINE, {"input": {"contractId": entity_id, "lossReason": "BAD_VIBES"}})
    unknown = response.json()["errors"]
    assert [e["extensions"]["code"] for e in unknown] == ["BAD_USER_INPUT"]
    assert "at .lossReason: Value 'BAD_VIBES' does not exist" in unknown[0]["message"]
    assert await state(api, entity_id) == before
    # Wait for the renewal opportunity the start opened, so the decline reaches it.
    query = "query($id: ID!) { opportunity(id: $id) { __typename ... on Opportunity { stage lossReason } } }"

    async def opportunity(stage: str) -> Any:
        found = (await api.gql(query, {"id": f"{entity_id}-renewal-1"}, role="viewer"))["opportunity"]
        return found if found.get("stage") == stage else None

    await eventually(lambda: opportunity("QUALIFICATION"))
    declined = await call(api, DECLINE, {"contractId": entity_id, "lossReason": "PRICING", "lossNote": "Budget cut"})
    assert declined["renewal"]["state"] == "NOT_RENEWING"
    assert declined["renewal"]["notRenewing"] == {
        "lossReason": "PRICING",
        "note": "Budget cut",
        "decidedBy": "otto@example.com",
    }
    assert (await eventually(lambda: opportunity("CLOSED_LOST")))["lossReason"] == "PRICING"
    again = await unchanged(
        api, entity_id, DECLINE, {"contractId": entity_id, "lossReason": "PRICING"}, "InvalidTransition"
    )
    assert again["state"] == "NOT_RENEWING"
    assert set(again["allowed"]) == {"record_credits_exhausted", "mark_at_risk", "clear_at_risk", "change_owner"}


async def test_a_renewal_signed_through_its_opportunity_names_the_successor(api: Api, entity_id: str):
    gateway, renewal_opportunity = api.stack.gateway, f"{entity_id}-renewal-1"
    deal = {
        "name": "ACME analytics",
        "account": {"id": "acme", "name": "ACME"},
        "owner": "otto@example.com",
        "close_date": add_months(TODAY, 3).isoformat(),
        "amount": "60000",
        "discount_percent": "25",
        "plan_type": "ANNUAL",
        "contract_start_date": TODAY.isoformat(),
    }
    await gateway.open("opportunity", entity_id, deal, principal=OPERATOR, initial_state="VENDOR_APPROVAL")
    signed = {"stage": "VENDOR_APPROVAL", "criterion": "contract_signed", "evidence": "PandaDoc #1"}
    await gateway.transition("opportunity", entity_id, "record_criterion", signed, principal=OPERATOR)
    await gateway.transition("opportunity", entity_id, "close_won", principal=OPERATOR)

    async def reached(kind: str, entity: str, wanted: str) -> bool:
        query = f'query($id: ID!) {{ lifecycle(kind: "{kind}", id: $id) {{ ... on Lifecycle {{ stateName }} }} }}'
        found = (await api.gql(query, {"id": entity}, role="viewer"))["lifecycle"]
        return found.get("stateName") == wanted

    await eventually(lambda: reached("opportunity", renewal_opportunity, "QUALIFICATION"))
    for _ in range(2):  # meeting booked, then product evaluation
        await gateway.transition("opportunity", renewal_opportunity, "advance", principal=OPERATOR)
    await eventually(lambda: reached("renewal", entity_id, "NEGOTIATING"))
    signed = {"stage": "COMMERCIAL_LEGAL_REVIEW", "criterion": "contract_signed", "evidence": "PandaDoc #2"}
    await gateway.transition("opportunity", renewal_opportunity, "record_criterion", signed, principal=OPERATOR)
    await gateway.transition("opportunity", renewal_opportunity, "close_won", principal=OPERATOR)
    await eventually(lambda: reached("renewal", entity_id, "RENEWED"))

    query = """query($id: ID!) { renewal(contractId: $id) { ... on Renewal {
      renewalOpportunityId creditAmount annualSpend
      renewal { opportunityId successorContractId nextRenewalOpportunityId earlyRenewalDiscount termMonths
                creditAmount }
    } } }"""
    renewed = (await api.gql(query, {"id": entity_id}, role="viewer"))["renewal"]
    assert renewed == {
        "renewalOpportunityId": renewal_opportunity,
        "creditAmount": "60000.00",
        "annualSpend": "45000.00",
        "renewal": {
            "opportunityId": renewal_opportunity,
            "successorContractId": renewal_opportunity,
            "nextRenewalOpportunityId": f"{entity_id}-renewal-2",
            "earlyRenewalDiscount": True,
            "termMonths": 12,
            "creditAmount": "60000.00",
        },
    }


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (MARK, {"reason": "x"}),
        (CLEAR, {"reason": "x"}),
        (EXHAUSTED, {}),
        (DECLINE, {"lossReason": "PRICING"}),
    ],
)
async def test_unknown_contracts_are_not_found(api: Api, query: str, variables: dict[str, Any]):
    result = await call(api, query, {"contractId": "no-such-contract", **variables})
    assert result["__typename"] == "NotFound", result


# ---- the quote ---------------------------------------------------------------------------------------


async def test_the_quote_shows_each_lever_and_why(api: Api, entity_id: str):
    await start(api, entity_id)

    async def quote(**proposal: Any) -> dict[str, Any]:
        return (await api.gql(QUOTE, {"id": entity_id, "proposal": proposal}, role="viewer"))["renewalQuote"]

    # 004:4876: $25k of credit at 20% costs the customer $20k.
    standard = await quote(
        planType="ANNUAL", creditAmount="25000", signingDate=(TODAY + timedelta(days=320)).isoformat()
    )
    assert (standard["discountPercent"], standard["price"], standard["annualSpend"]) == ("20", "20000.00", "20000.00")
    assert [(lever["lever"], lever["applied"]) for lever in standard["levers"]] == [
        ("VOLUME", True),
        ("LENGTH", False),
        ("CASH_TIMING", False),
        ("EARLY_RENEWAL", False),
    ]
    assert standard["rolloverAllowance"] == "0.00" and "below the current $45,000.00" in standard["rolloverReason"]
    # Signed today, a year before the end: early renewal, on top of two years paid upfront.
    early = await quote(planType="ANNUAL", creditAmount="60000", termMonths=24, yearsPaidUpfront=2)
    assert early["discountPercent"] == "35.5"  # 25 + 3 + 2.5 + 5
    assert early["rolloverAllowance"] == "0.00"  # $19,350 a year is below $45,000
    monthly = await quote(planType="MONTHLY", creditAmount="60000")
    assert monthly["discountPercent"] == "0" and {lever["source"] for lever in monthly["levers"]} == {"004:4350"}
    custom = await quote(planType="ANNUAL", creditAmount="1500000")
    assert custom["customPricing"] and custom["price"] is None

    bad = await quote(planType="WEEKLY", creditAmount="-1", termMonths=12, yearsPaidUpfront=3)
    assert bad["__typename"] == "ValidationError"
    assert sorted(f["field"] for f in bad["fields"]) == ["creditAmount", "planType", "yearsPaidUpfront"]
    missing = await api.gql(QUOTE, {"id": "nope", "proposal": {"planType": "ANNUAL", "creditAmount": "1"}})
    assert missing["renewalQuote"]["__typename"] == "NotFound"


# ---- the list -------------------------------------------------------------------------------------------

LIST = """query($filter: RenewalFilter, $orderBy: RenewalOrder, $first: Int, $after: String) {
  renewals(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { contractId state owner endDate atRisk earlyRenewalWindowOpen } } } }"""


@pytest.fixture
async def contracts(api: Api, entity_id: str) -> dict[str, str]:
    def ending_in(days: int, term: int = 12) -> str:
        return add_months(TODAY + timedelta(days=days), -term).isoformat()

    ids = {name: f"{entity_id}-{name}" for name in "abcde"}
    # a: ends in 30 days, so it opens straight into RENEWAL_DUE, past its early window.
    await start(api, ids["a"], startDate=ending_in(30), owner="ann@example.com")
    await start(api, ids["b"], startDate=ending_in(200), owner="bob@example.com")
    await start(api, ids["c"], startDate=ending_in(400, term=24), termMonths=24, owner="ann@example.com")
    await start(api, ids["d"], startDate=ending_in(500, term=24), termMonths=24, owner="ann@example.com")
    await start(api, ids["e"], startDate=ending_in(300), owner="bob@example.com", account={"id": "globex", "name": "G"})
    await call(api, MARK, {"contractId": ids["b"], "reason": "Usage dropped 30%"})
    await call(api, DECLINE, {"contractId": ids["d"], "lossReason": "PRICING"})
    await call(api, EXHAUSTED, {"contractId": ids["e"]})

    async def due() -> bool:
        return (await state(api, ids["a"]))["state"] == "RENEWAL_DUE"

    await eventually(due)
    return ids


async def page(api: Api, **variables: Any) -> dict[str, Any]:
    return (await api.gql(LIST, variables, role="viewer"))["renewals"]


def names(result: dict[str, Any], contracts: dict[str, str]) -> list[str]:
    by_id = {v: k for k, v in contracts.items()}
    return [by_id[e["node"]["contractId"]] for e in result["edges"]]


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({}, ["a", "b", "e", "c", "d"]),
        ({"state": ["RENEWAL_DUE"]}, ["a"]),
        ({"state": ["ACTIVE", "NOT_RENEWING"]}, ["b", "e", "c", "d"]),
        ({"owner": "ann@example.com"}, ["a", "c", "d"]),
        ({"accountId": "globex"}, ["e"]),
        ({"endingBefore": (TODAY + timedelta(days=300)).isoformat()}, ["a", "b"]),
        ({"endingAfter": (TODAY + timedelta(days=300)).isoformat()}, ["c", "d"]),
        ({"atRisk": True}, ["b"]),
        ({"atRisk": False}, ["a", "e", "c", "d"]),
        ({"earlyWindowOpen": True}, ["b", "c"]),
        ({"earlyWindowOpen": False}, ["a", "e", "d"]),
        ({"owner": "ann@example.com", "earlyWindowOpen": True}, ["c"]),
    ],
)
async def test_filters(api: Api, contracts: dict[str, str], filter: dict[str, Any], expected: list[str]):
    result = await page(api, filter=filter)
    assert names(result, contracts) == expected
    assert result["totalCount"] == len(expected)


async def test_pages_and_orders(api: Api, contracts: dict[str, str]):
    first = await page(api, first=2, orderBy="END_DATE_DESC")
    assert names(first, contracts) == ["d", "c"] and first["totalCount"] == 5
    assert first["pageInfo"]["hasNextPage"]
    second = await page(api, first=2, orderBy="END_DATE_DESC", after=first["pageInfo"]["endCursor"])
    third = await page(api, first=2, orderBy="END_DATE_DESC", after=second["pageInfo"]["endCursor"])
    assert names(second, contracts) + names(third, contracts) == ["e", "b", "a"]
    assert not third["pageInfo"]["hasNextPage"]
    for bad_filter in ({"endingBefore": "someday"}, {"earlyWindowOpen": "soon"}):
        bad = await api.post(LIST, {"filter": bad_filter}, role="viewer")
        assert bad.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_the_machine_description(api: Api):
    query = """{ lifecycleMachine(kind: "renewal") { ... on LifecycleMachine {
      states { name terminal } timers { name trigger } defaultPolicy } } }"""
    machine = (await api.gql(query, role="viewer"))["lifecycleMachine"]
    assert [(s["name"], s["terminal"]) for s in machine["states"]] == [
        ("ACTIVE", False),
        ("RENEWAL_DUE", False),
        ("NEGOTIATING", False),
        ("RENEWED", True),
        ("NOT_RENEWING", False),
        ("EXPIRED", True),
    ]
    assert [t["name"] for t in machine["timers"]] == [
        "renewal_due",
        "early_renewal_reminder",
        "early_renewal_window_closes",
        "expiry",
        "term_end",
    ]
    policy = machine["defaultPolicy"]
    assert policy["renewal_due_before_end"] == "P90D"
    assert policy["discounts"]["early_renewal_min_days_before_end"] == 60


# ---- an expired contract, on the time-skipping server -------------------------------------------------


@pytest.fixture
async def ts_api(ts_stack: Stack) -> AsyncIterator[Api]:
    async with serve(create_app(ts_stack.settings, client=ts_stack.client)) as http:
        yield Api(http, ts_stack)


async def test_an_expired_contract_refuses_every_change(
    ts_api: Api, time_skipping_env: WorkflowEnvironment, entity_id: str
):
    today = (await time_skipping_env.get_current_time()).date()
    await start(ts_api, entity_id, startDate=today.isoformat())
    await time_skipping_env.sleep(timedelta(days=370))

    async def expired() -> bool:
        return (await state(ts_api, entity_id))["state"] == "EXPIRED"

    await eventually(expired)
    for query, variables in (
        (DECLINE, {"lossReason": "PRICING"}),
        (MARK, {"reason": "unresponsive"}),
        (EXHAUSTED, {"exhaustedOn": today.isoformat()}),
    ):
        refused = await unchanged(ts_api, entity_id, query, {"contractId": entity_id, **variables}, "InvalidTransition")
        assert refused["allowed"] == []
