"""GraphQL over ASGI against a real worker and dev server: every mutation, every typed error."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.documents import mutation
from tests.conftest import Api

CHANGED = """
  ... on OpportunityChanged {
    opportunity { id stage version owner amount arrDiscounted forecastCategory lossReason
                  deadlines { timer dueAt } }
    transition { seq trigger fromState toState actor reason }
  }
"""


OPEN = mutation("openOpportunity", "OpenOpportunityInput", CHANGED)
RECORD = mutation("recordExitCriterion", "ExitCriterionInput", CHANGED)
WAIVE = mutation("waiveExitCriterion", "WaiveExitCriterionInput", CHANGED)
ADVANCE = mutation("advanceOpportunity", "AdvanceOpportunityInput", CHANGED)
BACK = mutation("moveOpportunityBack", "MoveOpportunityBackInput", CHANGED)
WON = mutation("closeOpportunityWon", "CloseOpportunityWonInput", CHANGED)
LOST = mutation("closeOpportunityLost", "CloseOpportunityLostInput", CHANGED)
UPDATE = mutation("updateOpportunity", "UpdateOpportunityInput", CHANGED)
REPLY = mutation("recordCustomerReply", "CustomerReplyInput", CHANGED)
STOP = mutation("stopOpportunityFollowUps", "StopFollowUpsInput", CHANGED)

STATE = """query($id: ID!) { opportunity(id: $id) { __typename ... on Opportunity {
  id stage version history { totalCount edges { node { seq trigger actor reason } } }
  effects { id name } } } }"""

PROBLEM_CRITERIA = ("quantified_pain", "cost_of_inaction", "problem_acknowledged")


def deal(entity_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": entity_id,
        "name": "ACME analytics",
        "account": {"id": "acme", "name": "ACME"},
        "closeDate": "2027-03-31",
        "amount": "60000",
        **fields,
    }


async def call(api: Api, query: str, variables: dict[str, Any], *, role: str = "operator") -> dict[str, Any]:
    data = await api.gql(query, {"input": variables}, role=role)
    return next(iter(data.values()))


async def state(api: Api, entity_id: str) -> dict[str, Any]:
    return (await api.gql(STATE, {"id": entity_id}, role="viewer"))["opportunity"]


async def unchanged(
    api: Api, entity_id: str, query: str, variables: dict[str, Any], typename: str, *, role: str = "operator"
) -> dict[str, Any]:
    """Send a request that must be refused with ``typename`` and must change nothing."""
    before = await state(api, entity_id)
    result = await call(api, query, variables, role=role)
    assert result["__typename"] == typename, result
    assert await state(api, entity_id) == before
    return result


async def refused_by_schema(
    api: Api, entity_id: str, query: str, variables: dict[str, Any], field: str, value: str
) -> None:
    """Send a value outside an enum: GraphQL refuses it, naming the field, and nothing changes."""
    before = await state(api, entity_id)
    response = await api.post(query, {"input": variables})
    errors = response.json()["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"]
    assert f"at .{field}: Value '{value}' does not exist" in errors[0]["message"]
    assert await state(api, entity_id) == before


async def open_deal(api: Api, entity_id: str, **fields: Any) -> dict[str, Any]:
    result = await call(api, OPEN, deal(entity_id, **fields))
    assert result["__typename"] == "OpportunityChanged", result
    return result


# ---- access -------------------------------------------------------------------------------------


async def test_anonymous_callers_get_nothing_but_health(api: Api):
    response = await api.post("{ lifecycleMachines { kind } }", role=None)
    assert response.status_code == 401
    wrong = await api.post("{ lifecycleMachines { kind } }", role=None, headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert (await api.http.get("/healthz")).json() == {"status": "ok"}
    ready = await api.http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"temporal": "ok", "database": "ok"}
    page = await api.http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


async def test_viewers_read_but_change_nothing(api: Api, entity_id: str):
    await open_deal(api, entity_id)
    result = await unchanged(api, entity_id, UPDATE, {"id": entity_id, "name": "x"}, "Forbidden", role="viewer")
    assert result["requiredRole"] == "OPERATOR"
    result = await call(api, OPEN, deal(f"{entity_id}-2"), role="viewer")
    assert result["__typename"] == "Forbidden"
    assert (await state(api, f"{entity_id}-2"))["__typename"] == "NotFound"


# ---- opening --------------------------------------------------------------------------------------


async def test_opening_answers_with_the_read_model_copy(api: Api, entity_id: str):
    result = await open_deal(
        api,
        entity_id,
        planType="ANNUAL",
        discountPercent="10",
        termMonths=24,
        nextStep={"text": "Demo", "customerOwner": "CTO", "dueDate": "2027-01-15"},
    )
    opportunity = result["opportunity"]
    assert opportunity["stage"] == "PROBLEM_AGREEMENT" and opportunity["version"] == 1
    assert opportunity["owner"] == "otto@example.com"
    assert opportunity["arrDiscounted"] == "27000.00"
    assert {d["timer"] for d in opportunity["deadlines"]} == {
        "silence_first_nudge",
        "silence_second_nudge",
        "silence_close",
        "next_step_overdue",
    }
    assert result["transition"] == {
        "seq": 1,
        "trigger": "open",
        "fromState": "",
        "toState": "PROBLEM_AGREEMENT",
        "actor": "otto@example.com",
        "reason": None,
    }
    read = await state(api, entity_id)
    assert read["version"] == 1 and read["history"]["totalCount"] == 1


async def test_a_deal_reads_with_its_derived_fields(api: Api, entity_id: str):
    await open_deal(
        api,
        entity_id,
        recordType="RENEWAL",
        stage="MEETING_BOOKED",
        planType="ANNUAL",
        termMonths=24,
        contractStartDate="2027-04-01",
        nextStep={"text": "QBR", "dueDate": "2027-02-01"},
    )
    data = await api.gql(
        """query($id: ID!) { opportunity(id: $id) { ... on Opportunity {
        stage pipeline probability recordType planType arrDiscounted contractEndDate followUpsStopped
        nextStep { text customerOwner dueDate } exitCriteria { stage key met waived evidence } } } }""",
        {"id": entity_id},
        role="viewer",
    )
    assert data["opportunity"] == {
        "stage": "MEETING_BOOKED",
        "pipeline": "RENEWAL",
        "probability": 20,
        "recordType": "RENEWAL",
        "planType": "ANNUAL",
        "arrDiscounted": "30000.00",
        "contractEndDate": "2029-04-01",
        "followUpsStopped": False,
        "nextStep": {"text": "QBR", "customerOwner": None, "dueDate": "2027-02-01"},
        "exitCriteria": [
            {
                "stage": "COMMERCIAL_LEGAL_REVIEW",
                "key": "contract_signed",
                "met": False,
                "waived": False,
                "evidence": None,
            }
        ],
    }


async def test_opening_an_existing_id_is_refused(api: Api, entity_id: str):
    await open_deal(api, entity_id)
    result = await unchanged(api, entity_id, OPEN, deal(entity_id, name="Other"), "AlreadyExists")
    assert entity_id in result["message"]


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"amount": "-1"}, ["amount"]),
        ({"amount": "lots"}, ["amount"]),
        ({"discountPercent": "150"}, ["discountPercent"]),
        ({"termMonths": 0}, ["termMonths"]),
        ({"closeDate": "next tuesday"}, ["closeDate"]),
        ({"amount": "lots", "termMonths": 0}, ["amount", "termMonths"]),
        ({"stage": "CLOSED_WON"}, ["stage"]),
        ({"account": {"id": "", "name": "ACME"}}, ["account.id"]),
        ({"nextStep": {"text": "Demo", "dueDate": "2027-02-30"}}, ["nextStep.dueDate"]),
    ],
)
async def test_bad_fields_are_refused_one_by_one_and_nothing_is_opened(api: Api, entity_id: str, fields, bad):
    result = await call(api, OPEN, deal(entity_id, **fields))
    assert result["__typename"] == "ValidationError", result
    assert sorted(f["field"] for f in result["fields"]) == sorted(bad)
    assert (await state(api, entity_id))["__typename"] == "NotFound"


@pytest.mark.parametrize(
    ("field", "value"),
    [("recordType", "PARTNERSHIP"), ("planType", "WEEKLY"), ("forecastCategory", "MAYBE"), ("stage", "NOWHERE")],
)
async def test_a_value_outside_an_enum_is_refused_by_the_schema_and_nothing_is_opened(
    api: Api, entity_id: str, field: str, value: str
):
    await refused_by_schema(api, entity_id, OPEN, deal(entity_id, **{field: value}), field, value)
    assert (await state(api, entity_id))["__typename"] == "NotFound"


async def test_policy_overrides_are_for_admins_and_are_pinned(api: Api, entity_id: str):
    override = {"silence_first_nudge_after": "P3D"}
    refused = await call(api, OPEN, deal(entity_id, policy=override))
    assert refused["__typename"] == "Forbidden" and refused["requiredRole"] == "ADMIN"
    opened = await call(api, OPEN, deal(entity_id, policy=override), role="admin")
    assert opened["__typename"] == "OpportunityChanged"
    data = await api.gql(
        "query($id: ID!) { opportunity(id: $id) { ... on Opportunity { policy } } }", {"id": entity_id}
    )
    assert data["opportunity"]["policy"]["silence_first_nudge_after"] == "P3D"
    bad = await call(api, OPEN, deal(f"{entity_id}-b", policy={"silence_first_nudge_after": "soon"}), role="admin")
    assert bad["__typename"] == "ValidationError"
    assert bad["fields"][0]["field"] == "policy.silenceFirstNudgeAfter"


# ---- moving through the pipeline ------------------------------------------------------------------


async def test_a_deal_from_problem_agreement_to_closed_won(api: Api, entity_id: str):
    await open_deal(api, entity_id, planType="MONTHLY", amount="250000")
    refused = await unchanged(api, entity_id, ADVANCE, {"id": entity_id}, "GuardFailed")
    assert {u["guard"] for u in refused["unmet"]} == {"exit_criteria_met"}
    assert len(refused["unmet"]) == 3

    for criterion in PROBLEM_CRITERIA:
        recorded = await call(
            api,
            RECORD,
            {"id": entity_id, "stage": "PROBLEM_AGREEMENT", "criterion": criterion, "evidence": "discovery call notes"},
        )
        assert recorded["__typename"] == "OpportunityChanged"
    advanced = await call(api, ADVANCE, {"id": entity_id, "reason": "pain confirmed"})
    assert advanced["opportunity"]["stage"] == "SOLUTION_AGREEMENT"
    assert advanced["transition"]["fromState"] == "PROBLEM_AGREEMENT"

    skip = await unchanged(api, entity_id, ADVANCE, {"id": entity_id, "toStage": "VENDOR_APPROVAL"}, "GuardFailed")
    assert any("PRIORITY_AGREEMENT" in u["message"] for u in skip["unmet"])

    # An admin waives what the deal cannot show; the operator then skips ahead.
    criteria = await api.gql(
        """query($id: ID!) { opportunity(id: $id) { ... on Opportunity {
        exitCriteria { stage key met } } } }""",
        {"id": entity_id},
    )
    for c in criteria["opportunity"]["exitCriteria"]:
        if not c["met"] and c["stage"] in ("SOLUTION_AGREEMENT", "PRIORITY_AGREEMENT", "COMMERCIAL_AGREEMENT"):
            waived = await call(
                api,
                WAIVE,
                {"id": entity_id, "stage": c["stage"], "criterion": c["key"], "reason": "strategic logo"},
                role="admin",
            )
            assert waived["__typename"] == "OpportunityChanged", waived
    skipped = await call(api, ADVANCE, {"id": entity_id, "toStage": "VENDOR_APPROVAL"})
    assert skipped["opportunity"]["stage"] == "VENDOR_APPROVAL"

    unsigned = await unchanged(api, entity_id, WON, {"id": entity_id}, "GuardFailed")
    assert "Contract signed" in unsigned["message"]
    await call(
        api,
        RECORD,
        {"id": entity_id, "stage": "VENDOR_APPROVAL", "criterion": "contract_signed", "evidence": "PandaDoc completed"},
    )
    won = await call(api, WON, {"id": entity_id})
    assert won["opportunity"]["stage"] == "CLOSED_WON"
    after = await unchanged(api, entity_id, ADVANCE, {"id": entity_id}, "InvalidTransition")
    assert after["state"] == "CLOSED_WON"


async def test_waivers_need_an_admin(api: Api, entity_id: str):
    await open_deal(api, entity_id)
    result = await unchanged(
        api,
        entity_id,
        WAIVE,
        {"id": entity_id, "stage": "PROBLEM_AGREEMENT", "criterion": "quantified_pain", "reason": "x"},
        "Forbidden",
    )
    assert result["requiredRole"] == "ADMIN"
    missing_reason = await unchanged(
        api,
        entity_id,
        WAIVE,
        {"id": entity_id, "stage": "PROBLEM_AGREEMENT", "criterion": "quantified_pain"},
        "GuardFailed",
        role="admin",
    )
    assert missing_reason["unmet"][0]["guard"] == "reason_required"


async def test_bad_criteria_are_refused(api: Api, entity_id: str):
    await open_deal(api, entity_id)
    unknown = await unchanged(
        api,
        entity_id,
        RECORD,
        {"id": entity_id, "stage": "PROBLEM_AGREEMENT", "criterion": "vibes", "evidence": "x"},
        "ValidationError",
    )
    assert unknown["fields"][0]["field"] == "criterion" or "vibes" in unknown["fields"][0]["message"]
    other_pipeline = await unchanged(
        api,
        entity_id,
        RECORD,
        {"id": entity_id, "stage": "COMMERCIAL_LEGAL_REVIEW", "criterion": "contract_signed", "evidence": "x"},
        "ValidationError",
    )
    assert other_pipeline["fields"] == [
        {"field": "stage", "message": "COMMERCIAL_LEGAL_REVIEW is not a stage of the NEW_BUSINESS pipeline"}
    ]
    await refused_by_schema(
        api,
        entity_id,
        RECORD,
        {"id": entity_id, "stage": "NOWHERE", "criterion": "x", "evidence": "x"},
        "stage",
        "NOWHERE",
    )


async def test_moving_back_needs_a_reason(api: Api, entity_id: str):
    await open_deal(api, entity_id, stage="COMMERCIAL_AGREEMENT")
    refused = await unchanged(api, entity_id, BACK, {"id": entity_id, "toStage": "SOLUTION_AGREEMENT"}, "GuardFailed")
    assert refused["unmet"] == [{"guard": "reason_required", "message": "Say why the opportunity moves back."}]
    forward = await unchanged(
        api, entity_id, BACK, {"id": entity_id, "toStage": "VENDOR_APPROVAL", "reason": "x"}, "InvalidTransition"
    )
    assert "move_back" in forward["allowed"] and "advance" in forward["allowed"]
    moved = await call(api, BACK, {"id": entity_id, "toStage": "SOLUTION_AGREEMENT", "reason": "new champion"})
    assert moved["opportunity"]["stage"] == "SOLUTION_AGREEMENT"
    assert moved["transition"]["reason"] == "new champion"


async def test_closing_lost_needs_a_reason_from_the_list(api: Api, entity_id: str):
    await open_deal(api, entity_id)
    missing = await unchanged(api, entity_id, LOST, {"id": entity_id}, "GuardFailed")
    assert missing["unmet"][0]["guard"] == "loss_reason_given"
    await refused_by_schema(
        api, entity_id, LOST, {"id": entity_id, "lossReason": "MERCURY_RETROGRADE"}, "lossReason", "MERCURY_RETROGRADE"
    )
    lost = await call(api, LOST, {"id": entity_id, "lossReason": "COMPETITOR", "lossNote": "Went with X"})
    assert lost["opportunity"]["stage"] == "CLOSED_LOST"
    assert lost["opportunity"]["lossReason"] == "COMPETITOR"
    assert lost["opportunity"]["forecastCategory"] == "OMITTED"
    assert [d["timer"] for d in lost["opportunity"]["deadlines"]] == ["loss_follow_up"]
    again = await unchanged(api, entity_id, LOST, {"id": entity_id, "lossReason": "PRICING"}, "InvalidTransition")
    assert set(again["allowed"]) == {"stop_follow_ups", "change_owner"}
    stopped = await call(api, STOP, {"id": entity_id, "reason": "signed with X for 3 years"})
    assert stopped["opportunity"]["deadlines"] == []
    data = await api.gql(
        "query($id: ID!) { opportunity(id: $id) { ... on Opportunity { followUpsStopped } } }", {"id": entity_id}
    )
    assert data["opportunity"]["followUpsStopped"] is True


async def test_small_monthly_deals_close_won_from_any_stage(api: Api, entity_id: str):
    await open_deal(api, entity_id, planType="MONTHLY", amount="12000")
    won = await call(api, WON, {"id": entity_id})
    assert won["opportunity"]["stage"] == "CLOSED_WON"
    data = await api.gql(
        "query($id: ID!) { opportunity(id: $id) { ... on Opportunity { closedAsMonthlyContract } } }", {"id": entity_id}
    )
    assert data["opportunity"]["closedAsMonthlyContract"] is True


async def test_updating_fields(api: Api, entity_id: str):
    await open_deal(api, entity_id)
    updated = await call(
        api,
        UPDATE,
        {
            "id": entity_id,
            "amount": "90000",
            "discountPercent": "10",
            "forecastCategory": "COMMIT",
            "reason": "new quote",
        },
    )
    assert updated["opportunity"]["arrDiscounted"] == "81000.00"
    assert updated["opportunity"]["forecastCategory"] == "COMMIT"
    bad = await unchanged(
        api,
        entity_id,
        UPDATE,
        {
            "id": entity_id,
            "amount": "-10",
            "discountPercent": "101",
            "termMonths": 0,
            "closeDate": "soon",
        },
        "ValidationError",
    )
    assert sorted(f["field"] for f in bad["fields"]) == [
        "amount",
        "closeDate",
        "discountPercent",
        "termMonths",
    ]
    await refused_by_schema(
        api, entity_id, UPDATE, {"id": entity_id, "forecastCategory": "MAYBE"}, "forecastCategory", "MAYBE"
    )
    empty = await unchanged(api, entity_id, UPDATE, {"id": entity_id}, "ValidationError")
    assert "at least one field" in empty["fields"][0]["message"]


async def test_customer_replies_restart_the_silence_ladder(api: Api, entity_id: str):
    opened = await open_deal(api, entity_id)
    first_due = {d["timer"]: d["dueAt"] for d in opened["opportunity"]["deadlines"]}["silence_first_nudge"]
    replied = await call(api, REPLY, {"id": entity_id, "note": "Will review next week"})
    due = {d["timer"]: d["dueAt"] for d in replied["opportunity"]["deadlines"]}["silence_first_nudge"]
    assert due > first_due
    future = await unchanged(api, entity_id, REPLY, {"id": entity_id, "at": "2999-01-01T00:00:00Z"}, "ValidationError")
    assert future["fields"] == [{"field": "at", "message": "must not be in the future"}]
    naive = await unchanged(api, entity_id, REPLY, {"id": entity_id, "at": "2020-01-01T00:00:00"}, "ValidationError")
    assert naive["fields"][0]["field"] == "at"


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (RECORD, {"stage": "PROBLEM_AGREEMENT", "criterion": "quantified_pain", "evidence": "x"}),
        (ADVANCE, {}),
        (BACK, {"toStage": "PROBLEM_AGREEMENT", "reason": "x"}),
        (WON, {}),
        (LOST, {"lossReason": "PRICING"}),
        (UPDATE, {"name": "x"}),
        (REPLY, {}),
        (STOP, {"reason": "x"}),
    ],
)
async def test_unknown_ids_are_not_found(api: Api, query: str, variables: dict[str, Any]):
    result = await call(api, query, {"id": "no-such-deal", **variables})
    assert result["__typename"] == "NotFound", result


async def test_history_records_the_authenticated_caller(api: Api, entity_id: str):
    await open_deal(api, entity_id)
    await call(api, UPDATE, {"id": entity_id, "name": "Renamed"}, role="admin")
    history = (await state(api, entity_id))["history"]["edges"]
    assert [(e["node"]["trigger"], e["node"]["actor"]) for e in history] == [
        ("open", "otto@example.com"),
        ("update_fields", "ada@example.com"),
    ]


async def test_idempotency_keys_apply_a_mutation_once(api: Api, entity_id: str):
    await open_deal(api, entity_id)
    variables = {"id": entity_id, "amount": "75000", "idempotencyKey": "quote-v2"}
    first = await call(api, UPDATE, variables)
    second = await call(api, UPDATE, variables)
    assert first["transition"] == second["transition"]
    assert (await state(api, entity_id))["version"] == 2


async def test_reassigning_any_lifecycle(api: Api, entity_id: str):
    await open_deal(api, entity_id)
    query = """mutation($input: ReassignLifecycleInput!) { reassignLifecycle(input: $input) {
        __typename ... on LifecycleChanged { lifecycle { owner version } transition { actor reason } }
        ... on GuardFailed { unmet { guard } } ... on ValidationError { fields { field message } }
        ... on NotFound { message } } }"""
    base = {"kind": "opportunity", "id": entity_id, "newOwner": "csm@example.com"}
    refused = (await api.gql(query, {"input": base}))["reassignLifecycle"]
    assert refused == {"__typename": "GuardFailed", "unmet": [{"guard": "reason_required"}]}
    done = (await api.gql(query, {"input": {**base, "reason": "handover"}}))["reassignLifecycle"]
    assert done["lifecycle"] == {"owner": "csm@example.com", "version": 2}
    assert done["transition"] == {"actor": "otto@example.com", "reason": "handover"}
    same = (await api.gql(query, {"input": {**base, "reason": "again"}}))["reassignLifecycle"]
    assert same["fields"] == [{"field": "newOwner", "message": "is already the owner"}]
    unknown = (await api.gql(query, {"input": {**base, "kind": "spaceship"}}))["reassignLifecycle"]
    assert unknown["__typename"] == "NotFound"


async def test_effects_are_visible_with_their_delivery_status(api: Api, entity_id: str):
    await open_deal(api, entity_id, planType="MONTHLY", amount="5000")
    await call(api, WON, {"id": entity_id})
    from tests.workflows.helpers import eventually

    async def delivered():
        data = await api.gql(
            "query($id: ID!) { opportunity(id: $id) { ... on Opportunity { effects { name status "
            "attempts lastError } } } }",
            {"id": entity_id},
        )
        effects = data["opportunity"]["effects"]
        return effects if effects and all(e["status"] == "DELIVERED" for e in effects) else None

    effects = await eventually(delivered)
    assert [(e["name"], e["attempts"], e["lastError"]) for e in effects] == [
        ("revops_set_up_billing", 1, None),
        ("closed_won_announced", 1, None),
        ("open_onboarding", 1, None),
    ]


async def test_available_transitions_explain_what_is_missing(api: Api, entity_id: str):
    await open_deal(api, entity_id)
    data = await api.gql(
        """query($id: ID!) { opportunity(id: $id) { ... on Opportunity {
        availableTransitions { trigger toState allowed unmet requiredRole } } } }""",
        {"id": entity_id},
        role="viewer",
    )
    available = {(a["trigger"], a["toState"]): a for a in data["opportunity"]["availableTransitions"]}
    advance = available[("advance", "SOLUTION_AGREEMENT")]
    assert not advance["allowed"] and len(advance["unmet"]) == 3
    assert available[("close_lost", "CLOSED_LOST")]["allowed"]
    assert available[("waive_criterion", None)]["requiredRole"] == "ADMIN"
    assert ("silence_nudge", None) not in available
