"""Onboardings over GraphQL against a real worker and dev server: opening (numbered per account),
each step, each typed refusal changing nothing, lists, and the specialists' retention query."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.documents import mutation
from tests.conftest import Api
from tests.workflows.helpers import eventually

OWNER, CALLER = "tae@example.com", "otto@example.com"
SKILLS = ("ACTIONS", "COHORTS", "DATA_TAXONOMY", "NOTEBOOKS", "ACTIVITY_LOG", "INTERNAL_AND_TEST_USER_FILTERING")

CHANGED = """
  ... on OnboardingChanged {
    onboarding { id state version owner track arr wonAt cadence nextCheckInAt missedCheckIns
                 missingSkills productsNotOnboarded retainedThreeMonths churn { source reason } }
    transition { seq trigger fromState toState actor reason }
  }
"""

# Opening refuses only with these: it has no state to be in, nor guards.
OPEN = f"""mutation($input: OpenOnboardingInput!) {{ openOnboarding(input: $input) {{ __typename {CHANGED}
  ... on Error {{ message }} ... on ValidationError {{ fields {{ field message }} }}
  ... on Forbidden {{ requiredRole }} }} }}"""


def unguarded(name: str, input_type: str) -> str:
    """A trigger without guards: its result union has no GuardFailed."""
    return mutation(name, input_type, CHANGED).replace("... on GuardFailed { unmet { guard message } }", "")


PLAN = unguarded("sendOnboardingPlan", "SendOnboardingPlanInput")
CHECK_IN = unguarded("recordOnboardingCheckIn", "OnboardingCheckInInput")
PAID = unguarded("recordOnboardingPaidProducts", "OnboardingPaidProductsInput")
SKILL = unguarded("recordOnboardingSkill", "OnboardingSkillInput")
PRODUCT = unguarded("recordOnboardingProduct", "OnboardingProductInput")
HEALTH = unguarded("recordOnboardingHealthCheck", "OnboardingHealthCheckInput")
ONBOARDED = mutation("markOnboarded", "OnboardingStepInput", CHANGED)
CHURN = mutation("churnOnboarding", "ChurnOnboardingInput", CHANGED)

STATE = """query($id: ID!) { onboarding(id: $id) { __typename ... on Onboarding {
  id state version history { totalCount } effects { id name } } } }"""

RETENTION = """query($after: DateTime!, $before: DateTime!) {
  onboardingRetention(wonAfter: $after, wonBefore: $before) { __typename
    ... on OnboardingRetention { started retained churned undecided ratePercent targetPercent }
    ... on ValidationError { fields { field message } } } }"""

LIST = """query($filter: OnboardingFilter) { onboardings(filter: $filter) {
  totalCount edges { node { id track state } } } }"""


def opening(account_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "account": {"id": account_id, "name": "ACME"},
        "owner": OWNER,
        "ownerRole": "TAE",
        "track": "SALES_LED",
        "arr": "72000",
        "paidProducts": ["PRODUCT_ANALYTICS", "SESSION_REPLAY"],
        **fields,
    }


async def call(api: Api, query: str, variables: dict[str, Any], *, role: str = "operator") -> dict[str, Any]:
    data = await api.gql(query, {"input": variables}, role=role)
    return next(iter(data.values()))


async def state(api: Api, onboarding_id: str) -> dict[str, Any]:
    return (await api.gql(STATE, {"id": onboarding_id}, role="viewer"))["onboarding"]


async def changed(api: Api, query: str, variables: dict[str, Any], *, role: str = "operator") -> dict[str, Any]:
    result = await call(api, query, variables, role=role)
    assert result["__typename"] == "OnboardingChanged", result
    return result["onboarding"]


async def unchanged(api: Api, onboarding_id: str, query: str, variables: dict[str, Any], typename: str) -> Any:
    """Send a request that must be refused with ``typename`` and must change nothing."""
    before = await state(api, onboarding_id)
    result = await call(api, query, variables)
    assert result["__typename"] == typename, result
    assert await state(api, onboarding_id) == before
    return result


# ---- opening -------------------------------------------------------------------------------------


async def test_an_onboarding_gets_the_next_number_and_a_second_open_one_is_refused(api: Api, entity_id: str):
    first = await call(api, OPEN, opening(entity_id))
    assert first["__typename"] == "OnboardingChanged"
    onboarding = first["onboarding"]
    assert (onboarding["id"], onboarding["state"], onboarding["owner"]) == (f"{entity_id}/1", "PLAN_PENDING", OWNER)
    assert onboarding["cadence"] == "every 14 days for the first 6 months, then every 30 days"
    assert first["transition"]["actor"] == CALLER

    again = await unchanged(api, f"{entity_id}/1", OPEN, opening(entity_id), "AlreadyExists")
    assert f"{entity_id}/1" in again["message"] and "PLAN_PENDING" in again["message"]
    assert (await state(api, f"{entity_id}/2"))["__typename"] == "NotFound"

    await changed(api, CHURN, {"id": f"{entity_id}/1", "reason": "Cancelled before kickoff"})
    assert (await changed(api, OPEN, opening(entity_id)))["id"] == f"{entity_id}/2"


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"arr": "-5"}, ["arr"]),
        ({"wonAt": (datetime.now(UTC) + timedelta(days=2)).isoformat()}, ["wonAt"]),
        ({"ownerRole": "CSM", "retainedByTae": True}, ["retainedByTae"]),
        ({"owner": "  "}, ["owner"]),
        ({"account": {"id": "", "name": "ACME"}}, ["account.id"]),
    ],
)
async def test_bad_openings_are_refused_per_field_and_open_nothing(api: Api, entity_id: str, fields, bad):
    result = await call(api, OPEN, opening(entity_id, **fields))
    assert result["__typename"] == "ValidationError", result
    assert sorted(f["field"] for f in result["fields"]) == bad
    assert (await state(api, f"{entity_id}/1"))["__typename"] == "NotFound"


@pytest.mark.parametrize(("field", "value"), [("track", "SELF_SERVE"), ("paidProducts", ["TELEPATHY"])])
async def test_an_unknown_track_or_product_is_refused_by_the_schema_and_opens_nothing(
    api: Api, entity_id: str, field: str, value: Any
):
    response = await api.post(OPEN, {"input": opening(entity_id, **{field: value})})
    errors = response.json()["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"]
    assert "does not exist" in errors[0]["message"]
    assert (await state(api, f"{entity_id}/1"))["__typename"] == "NotFound"


async def test_viewers_open_nothing(api: Api, entity_id: str):
    result = await call(api, OPEN, opening(entity_id), role="viewer")
    assert result["__typename"] == "Forbidden" and result["requiredRole"] == "OPERATOR"
    assert (await state(api, f"{entity_id}/1"))["__typename"] == "NotFound"


# ---- the steps -------------------------------------------------------------------------------------


async def test_from_the_plan_to_onboarded_with_every_refusal_on_the_way(api: Api, entity_id: str):
    oid = (await changed(api, OPEN, opening(entity_id)))["id"]
    await unchanged(api, oid, CHECK_IN, {"id": oid, "note": "too early"}, "InvalidTransition")
    planned = await changed(api, PLAN, {"id": oid})
    assert planned["state"] == "IN_PROGRESS" and planned["nextCheckInAt"] is not None

    future = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    refused = await unchanged(api, oid, CHECK_IN, {"id": oid, "note": "n", "heldAt": future}, "ValidationError")
    assert refused["fields"] == [{"field": "heldAt", "message": "must not be in the future"}]
    await unchanged(api, oid, CHECK_IN, {"id": oid, "note": "   "}, "ValidationError")
    checked = await changed(api, CHECK_IN, {"id": oid, "note": "kickoff held"})
    assert checked["state"] == "IN_PROGRESS" and checked["missedCheckIns"] == 0

    refused = await unchanged(api, oid, ONBOARDED, {"id": oid}, "GuardFailed")
    assert [u["guard"] for u in refused["unmet"]] == ["minimum_skills"] * 6 + ["paid_products_onboarded"] * 2 + [
        "health_check_done"
    ]
    for skill in SKILLS:
        await changed(api, SKILL, {"id": oid, "skill": skill, "evidence": "shown in session 1"})
    await unchanged(api, oid, SKILL, {"id": oid, "skill": "COHORTS", "evidence": "again"}, "ValidationError")
    refused = await unchanged(
        api, oid, PRODUCT, {"id": oid, "product": "DATA_WAREHOUSE", "evidence": "x"}, "ValidationError"
    )
    assert refused["fields"][0]["field"] == "product" and "not paid for" in refused["fields"][0]["message"]
    await changed(api, PRODUCT, {"id": oid, "product": "PRODUCT_ANALYTICS", "evidence": "dashboards"})
    await unchanged(api, oid, PAID, {"id": oid, "paidProducts": ["SESSION_REPLAY"]}, "ValidationError")
    await changed(api, PRODUCT, {"id": oid, "product": "SESSION_REPLAY", "evidence": "recordings on"})
    refused = await unchanged(api, oid, ONBOARDED, {"id": oid}, "GuardFailed")
    assert [u["message"] for u in refused["unmet"]] == [
        "Not recorded yet: the implementation health check (004:11588)."
    ]
    await changed(api, HEALTH, {"id": oid, "evidence": "https://vitally.example/health"})
    onboarded = await changed(api, ONBOARDED, {"id": oid})
    assert onboarded["state"] == "ONBOARDED" and onboarded["missingSkills"] == []
    assert onboarded["productsNotOnboarded"] == []

    refused = await unchanged(api, oid, CHURN, {"id": oid}, "GuardFailed")
    assert refused["unmet"][0]["guard"] == "reason_required"
    churned = await changed(api, CHURN, {"id": oid, "source": "BILLING", "reason": "subscription cancelled"})
    assert churned["state"] == "CHURNED" and churned["churn"] == {
        "source": "BILLING",
        "reason": "subscription cancelled",
    }
    effects = [e["name"] for e in (await state(api, oid))["effects"]]
    assert effects[0] == "onboarding_opened" and effects[-1] == "churn_retro_due"


# ---- lists and the retention query -----------------------------------------------------------------


async def test_the_specialists_retention_over_a_period(api: Api, entity_id: str):
    now = datetime.now(UTC)
    four_months_ago = (now - timedelta(days=122)).isoformat()
    specialist = {"track": "SPECIALIST", "arr": "9000", "ownerRole": "ONBOARDING", "wonAt": four_months_ago}
    kept = (await changed(api, OPEN, opening(f"{entity_id}-a", **specialist)))["id"]
    # Churned a month in: not retained. One won today: not decided yet.
    month_ago = {**specialist, "wonAt": (now - timedelta(days=30)).isoformat()}
    lost = (await changed(api, OPEN, opening(f"{entity_id}-b", **month_ago)))["id"]
    await changed(api, CHURN, {"id": lost, "reason": "went with a competitor"})
    await changed(api, OPEN, opening(f"{entity_id}-c", **{**specialist, "wonAt": now.isoformat()}))
    await changed(api, OPEN, opening(f"{entity_id}-d"))  # sales-led: not counted

    async def kept_recorded() -> bool:
        data = await api.gql(
            "query($id: ID!) { onboarding(id: $id) { ... on Onboarding { retainedThreeMonths } } }", {"id": kept}
        )
        return data["onboarding"]["retainedThreeMonths"] is True

    await eventually(kept_recorded)
    period = {"after": (now - timedelta(days=200)).isoformat(), "before": (now + timedelta(days=1)).isoformat()}
    retention = (await api.gql(RETENTION, period, role="viewer"))["onboardingRetention"]
    assert retention == {
        "__typename": "OnboardingRetention",
        "started": 3,
        "retained": 1,
        "churned": 1,
        "undecided": 1,
        "ratePercent": "50.0",
        "targetPercent": "90",
    }
    listed = await api.gql(LIST, {"filter": {"track": ["SPECIALIST"], "state": ["CHURNED"]}}, role="viewer")
    assert [e["node"]["id"] for e in listed["onboardings"]["edges"]] == [lost]


async def test_a_period_the_wrong_way_round_is_refused(api: Api):
    now = datetime.now(UTC)
    period = {"after": now.isoformat(), "before": (now - timedelta(days=1)).isoformat()}
    refused = (await api.gql(RETENTION, period, role="viewer"))["onboardingRetention"]
    assert refused == {
        "__typename": "ValidationError",
        "fields": [{"field": "wonBefore", "message": "must be after wonAfter"}],
    }
