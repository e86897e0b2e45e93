"""Handovers over GraphQL against a real worker and dev server: each step, each typed refusal,
lists with filters and cursors, and the account view."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.db import Sessions
from services.projection import apply_projection
from tests.api.documents import mutation
from tests.conftest import Api
from tests.workflows.helpers import eventually
from workflows.engine.instance import LifecycleInstance
from workflows.engine.spec import Role
from workflows.handover import HANDOVER, OPEN_LATE_PAYMENTS, FollowUpItem

OUTGOING, CALLER = "tae@example.com", "otto@example.com"

CHANGED = """
  ... on HandoverChanged {
    handover { id state version outgoingOwner incomingOwner team region suggestedTeam
               deadlines { timer dueAt } followUpDueAt }
    transition { seq trigger fromState toState actor reason }
  }
"""


REQUEST = mutation("requestHandover", "RequestHandoverInput", CHANGED)
ALLOCATE = mutation("allocateHandover", "AllocateHandoverInput", CHANGED)
ASSIGN = mutation("assignHandover", "AssignHandoverInput", CHANGED)
PLAN = mutation("recordHandoverAccountPlan", "HandoverAccountPlanInput", CHANGED)
ONBOARDING = mutation("recordHandoverOnboarding", "HandoverOnboardingInput", CHANGED)
HEALTH = mutation("recordHandoverHealthCheck", "HandoverHealthCheckInput", CHANGED)
READY = mutation("markHandoverReady", "HandoverStepInput", CHANGED)
PUSH_BACK = mutation("pushBackHandover", "PushBackHandoverInput", CHANGED)
REMEDY = mutation("remedyHandoverPushBack", "HandoverStepInput", CHANGED)
OVERRULE = mutation("overruleHandoverPushBack", "HandoverStepInput", CHANGED)
CALL = mutation("recordHandoverCall", "HandoverCallInput", CHANGED)
FOLLOW_UP = mutation("recordHandoverFollowUp", "HandoverFollowUpInput", CHANGED)
COMPLETE = mutation("completeHandover", "HandoverStepInput", CHANGED)
REJECT = mutation("rejectHandover", "HandoverStepInput", CHANGED)

STATE = """query($id: ID!) { handover(id: $id) { __typename ... on Handover {
  id state version history { totalCount edges { node { seq trigger actor reason } } }
  effects { id name } } } }"""


def handover_request(account_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "account": {"id": account_id, "name": "ACME"},
        "arr": "48000",
        "outgoingOwner": OUTGOING,
        "outgoingRole": "TAE",
        "reason": "ONBOARDED",
        "reasonNote": "Onboarded three months after the first credit purchase",
        "paidProducts": ["PRODUCT_ANALYTICS", "SESSION_REPLAY"],
        "onboardedProducts": ["PRODUCT_ANALYTICS"],
        **fields,
    }


async def call(api: Api, query: str, variables: dict[str, Any], *, role: str = "operator") -> dict[str, Any]:
    data = await api.gql(query, {"input": variables}, role=role)
    return next(iter(data.values()))


async def state(api: Api, handover_id: str) -> dict[str, Any]:
    return (await api.gql(STATE, {"id": handover_id}, role="viewer"))["handover"]


async def unchanged(
    api: Api, handover_id: str, query: str, variables: dict[str, Any], typename: str, *, role: str = "operator"
) -> dict[str, Any]:
    """Send a request that must be refused with ``typename`` and must change nothing."""
    before = await state(api, handover_id)
    result = await call(api, query, variables, role=role)
    assert result["__typename"] == typename, result
    assert await state(api, handover_id) == before
    return result


async def changed(api: Api, query: str, variables: dict[str, Any], *, role: str = "operator") -> dict[str, Any]:
    result = await call(api, query, variables, role=role)
    assert result["__typename"] == "HandoverChanged", result
    return result["handover"]


async def request_handover(api: Api, account_id: str, **fields: Any) -> str:
    return (await changed(api, REQUEST, handover_request(account_id, **fields)))["id"]


# ---- requesting -----------------------------------------------------------------------------------


async def test_a_request_gets_the_next_number_and_a_second_open_one_is_refused(api: Api, entity_id: str):
    first = await call(api, REQUEST, handover_request(entity_id))
    assert first["__typename"] == "HandoverChanged"
    assert first["handover"]["id"] == f"{entity_id}/1"
    assert (first["handover"]["state"], first["handover"]["suggestedTeam"]) == ("REQUESTED", "TAM")
    assert first["transition"]["actor"] == CALLER and first["transition"]["reason"].startswith("Onboarded")

    again = await unchanged(api, f"{entity_id}/1", REQUEST, handover_request(entity_id), "AlreadyExists")
    assert f"{entity_id}/1" in again["message"] and "REQUESTED" in again["message"]
    assert (await state(api, f"{entity_id}/2"))["__typename"] == "NotFound"

    await changed(api, REJECT, {"id": f"{entity_id}/1", "reason": "Expansion levers remain"})
    assert await request_handover(api, entity_id) == f"{entity_id}/2"


async def test_two_requests_at_once_open_one_handover(api: Api, entity_id: str):
    results = await asyncio.gather(*(call(api, REQUEST, handover_request(entity_id)) for _ in range(2)))
    assert sorted(r["__typename"] for r in results) == ["AlreadyExists", "HandoverChanged"]
    assert (await state(api, f"{entity_id}/1"))["version"] == 1
    assert (await state(api, f"{entity_id}/2"))["__typename"] == "NotFound"


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"reason": "NO_RESPONSE"}, ["reason"]),
        ({"reason": "DIFFICULT_CUSTOMER"}, ["reason"]),
        ({"arr": "lots"}, ["arr"]),
        ({"onboardedProducts": ["ERROR_TRACKING"]}, ["onboardedProducts"]),
        ({"outgoingOwner": "  "}, ["outgoingOwner"]),
        ({"account": {"id": "", "name": "ACME"}}, ["account.id"]),
    ],
)
async def test_bad_requests_are_refused_per_field_and_open_nothing(api: Api, entity_id: str, fields, bad):
    result = await call(api, REQUEST, handover_request(entity_id, **fields))
    assert result["__typename"] == "ValidationError", result
    assert sorted(f["field"] for f in result["fields"]) == bad
    assert (await state(api, f"{entity_id}/1"))["__typename"] == "NotFound"


async def test_policy_overrides_are_for_admins_and_are_pinned(api: Api, entity_id: str):
    override = {"follow_up_within": "P5D"}
    refused = await call(api, REQUEST, handover_request(entity_id, policy=override))
    assert refused["__typename"] == "Forbidden" and refused["requiredRole"] == "ADMIN"
    bad = await call(api, REQUEST, handover_request(entity_id, policy={"follow_up_within": "soon"}), role="admin")
    assert bad["fields"][0]["field"] == "policy.followUpWithin"
    assert (await state(api, f"{entity_id}/1"))["__typename"] == "NotFound"
    await changed(api, REQUEST, handover_request(entity_id, policy=override), role="admin")
    pinned = await api.gql(
        "query($id: ID!) { handover(id: $id) { ... on Handover { policy } } }", {"id": f"{entity_id}/1"}
    )
    assert pinned["handover"]["policy"]["follow_up_within"] == "P5D"


async def test_the_suggested_team_and_the_follow_up_due_date_read_the_pinned_policy(api: Api, entity_id: str):
    products = {"paidProducts": ["SESSION_REPLAY"], "onboardedProducts": ["SESSION_REPLAY"]}
    override = {"csm_from_primary_products": 1, "follow_up_within": "P5D"}
    requested = await changed(api, REQUEST, handover_request(entity_id, policy=override, **products), role="admin")
    assert requested["suggestedTeam"] == "CSM"
    hid = requested["id"]
    steps: list[tuple[str, dict[str, Any]]] = [
        (ALLOCATE, {"team": "CSM", "region": "EU"}),
        (ASSIGN, {"incomingOwner": CALLER}),
        (PLAN, {"link": "https://vitally.example/acme", "updatedOn": datetime.now(UTC).date().isoformat()}),
        (HEALTH, {"healthy": True, "note": "usage up"}),
        (READY, {}),
    ]
    for step, variables in steps:
        await changed(api, step, {"id": hid, **variables})
    called = await changed(api, CALL, {"id": hid})
    held_at = datetime.fromisoformat((await detail(api, hid))["call"]["heldAt"])
    assert datetime.fromisoformat(called["followUpDueAt"]) == held_at + timedelta(days=5)
    listed = (await api.gql(LIST, {"filter": {"accountId": entity_id}}, role="viewer"))["handovers"]
    assert [e["node"]["followUpOverdue"] for e in listed["edges"]] == [False]


async def test_the_invalid_reasons_say_why_with_the_handbook_line(api: Api, entity_id: str):
    result = await call(api, REQUEST, handover_request(entity_id, reason="CHAMPION_LEFT"))
    assert result["fields"][0]["message"].startswith("a champion who left")
    assert "004:2328" in result["fields"][0]["message"]


async def test_viewers_request_nothing(api: Api, entity_id: str):
    result = await call(api, REQUEST, handover_request(entity_id), role="viewer")
    assert result["__typename"] == "Forbidden" and result["requiredRole"] == "OPERATOR"
    assert (await state(api, f"{entity_id}/1"))["__typename"] == "NotFound"


# ---- the steps -------------------------------------------------------------------------------------

DETAIL = """query($id: ID!) { handover(id: $id) { ... on Handover {
  state suggestedTeam primaryProductsOnboarded followUpOverdue
  readiness { key met unmet }
  pushBacks { flags note raisedBy resolution resolvedBy resolutionNote }
  call { heldAt notes recordedBy }
  followUps { item done note recordedBy }
  availableTransitions { trigger toState allowed unmet }
} } }"""

ACCOUNT = """query($id: ID!) { account(id: $id) { __typename
  ... on NotFound { message }
  ... on AccountView { id name owner ownerSince
    openLifecycles { totalCount edges { node { kind id owner stateName } } }
    handovers { totalCount edges { node { id state outgoingOwner incomingOwner } } } } } }"""


@pytest.mark.parametrize(
    ("field", "value", "at"),
    [
        ("reason", "BORED", ".reason"),
        ("outgoingRole", "CEO", ".outgoingRole"),
        ("paidProducts", ["SURVEYS"], ".paidProducts[0]"),
    ],
)
async def test_a_value_outside_an_enum_is_refused_by_the_schema_and_opens_nothing(
    api: Api, entity_id: str, field: str, value: Any, at: str
):
    response = await api.post(REQUEST, {"input": handover_request(entity_id, **{field: value})})
    errors = response.json()["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"]
    assert f"at {at}: Value '{value if isinstance(value, str) else value[0]}' does not exist" in errors[0]["message"]
    assert (await state(api, f"{entity_id}/1"))["__typename"] == "NotFound"


async def detail(api: Api, handover_id: str) -> dict[str, Any]:
    return (await api.gql(DETAIL, {"id": handover_id}, role="viewer"))["handover"]


async def test_a_handover_from_request_to_completion_and_the_account_view(api: Api, entity_id: str):
    deal = await api.gql(
        "mutation($input: OpenOpportunityInput!) { openOpportunity(input: $input) { __typename } }",
        {
            "input": {
                "id": f"{entity_id}-deal",
                "name": "ACME expansion",
                "account": {"id": entity_id, "name": "ACME"},
                "owner": OUTGOING,
                "closeDate": "2027-06-30",
                "amount": "20000",
            }
        },
    )
    assert deal["openOpportunity"]["__typename"] == "OpportunityChanged"
    hid = await request_handover(api, entity_id)
    before = (await api.gql(ACCOUNT, {"id": entity_id}, role="viewer"))["account"]
    assert (before["owner"], before["ownerSince"], before["openLifecycles"]["totalCount"]) == (OUTGOING, None, 2)

    refused = await unchanged(api, hid, ALLOCATE, {"id": hid, "team": "CSM", "region": "EU"}, "GuardFailed")
    assert refused["unmet"][0]["guard"] == "team_as_suggested_or_explained"
    before_bad = await state(api, hid)
    bad = (await api.post(ALLOCATE, {"input": {"id": hid, "team": "SALES", "region": "MARS"}})).json()["errors"]
    assert [e["extensions"]["code"] for e in bad] == ["BAD_USER_INPUT", "BAD_USER_INPUT"]
    assert sorted(e["message"].split(":")[0] for e in bad) == [
        "Variable '$input' has invalid value at .region",
        "Variable '$input' has invalid value at .team",
    ]
    assert await state(api, hid) == before_bad
    allocated = await changed(api, ALLOCATE, {"id": hid, "team": "TAM", "region": "EU"})
    assert (allocated["state"], allocated["team"], allocated["region"]) == ("ALLOCATED", "TAM", "EU")

    same = await unchanged(api, hid, ASSIGN, {"id": hid, "incomingOwner": OUTGOING}, "ValidationError")
    assert same["fields"][0]["field"] == "incomingOwner"
    assert (await changed(api, ASSIGN, {"id": hid, "incomingOwner": CALLER}))["incomingOwner"] == CALLER

    early = await unchanged(api, hid, COMPLETE, {"id": hid}, "GuardFailed")
    assert [u["guard"] for u in early["unmet"]] == ["call_held"]
    not_ready = await unchanged(api, hid, READY, {"id": hid}, "GuardFailed")
    assert [u["guard"] for u in not_ready["unmet"]] == [
        "account_plan_current",
        "onboarding_complete",
        "account_healthy",
    ]
    shown = await detail(api, hid)
    assert {r["key"]: r["met"] for r in shown["readiness"]} == {
        "account_plan_current": False,
        "onboarding_complete": False,
        "invoices_paid": True,
        "account_healthy": False,
    }
    mark_ready = next(t for t in shown["availableTransitions"] if t["trigger"] == "mark_ready")
    assert not mark_ready["allowed"] and len(mark_ready["unmet"]) == 3

    # The incoming owner (the caller) pushes back; only an admin overrules.
    pushed = await changed(api, PUSH_BACK, {"id": hid, "flags": ["MISSING_ACCOUNT_PLAN"], "note": "no plan"})
    assert pushed["state"] == "PUSHED_BACK"
    forbidden = await unchanged(api, hid, OVERRULE, {"id": hid, "reason": "take it"}, "Forbidden")
    assert forbidden["requiredRole"] == "ADMIN"
    await unchanged(api, hid, OVERRULE, {"id": hid}, "GuardFailed", role="admin")
    overruled = await changed(api, OVERRULE, {"id": hid, "reason": "Work it as a lead"}, role="admin")
    assert overruled["state"] == "ASSIGNED"

    today = datetime.now(UTC).date().isoformat()
    await changed(api, PLAN, {"id": hid, "link": "https://vitally.example/acme", "updatedOn": today})
    await changed(api, ONBOARDING, {"id": hid, "product": "SESSION_REPLAY"})
    await changed(api, HEALTH, {"id": hid, "healthy": True, "note": "12 active users, usage steady"})
    assert (await changed(api, READY, {"id": hid}))["state"] == "READY"

    held = await changed(api, CALL, {"id": hid, "notes": "Champion: Dana (CTO)"})
    assert held["state"] == "CALL_HELD"
    assert [d["timer"] for d in held["deadlines"]] == ["follow_up_reminder", "follow_up_escalation"]
    assert held["followUpDueAt"] == held["deadlines"][0]["dueAt"]

    await unchanged(api, hid, COMPLETE, {"id": hid}, "GuardFailed")
    for item in FollowUpItem:
        await changed(api, FOLLOW_UP, {"id": hid, "item": item, "note": f"{item.lower()} done"})
    twice = await unchanged(api, hid, FOLLOW_UP, {"id": hid, "item": "INTRODUCED", "note": "x"}, "ValidationError")
    assert twice["fields"] == [{"field": "item", "message": "is already recorded"}]

    shown = await detail(api, hid)
    assert shown["pushBacks"] == [
        {
            "flags": ["MISSING_ACCOUNT_PLAN"],
            "note": "no plan",
            "raisedBy": CALLER,
            "resolution": "OVERRULED",
            "resolvedBy": "ada@example.com",
            "resolutionNote": "Work it as a lead",
        }
    ]
    assert all(f["done"] and f["recordedBy"] == CALLER for f in shown["followUps"])
    assert shown["call"]["notes"] == "Champion: Dana (CTO)" and not shown["followUpOverdue"]

    completed = await call(api, COMPLETE, {"id": hid, "reason": "Unassigned in Vitally"})
    assert completed["handover"]["state"] == "COMPLETED" and completed["handover"]["deadlines"] == []
    after = await unchanged(api, hid, READY, {"id": hid}, "InvalidTransition")
    assert after["state"] == "COMPLETED"

    async def account_followed() -> dict[str, Any] | None:
        view = (await api.gql(ACCOUNT, {"id": entity_id}, role="viewer"))["account"]
        nodes = view["openLifecycles"]["edges"]
        return view if nodes and all(e["node"]["owner"] == CALLER for e in nodes) else None

    view = await eventually(account_followed)
    assert view is not None and view["owner"] == CALLER and view["ownerSince"] is not None and view["name"] == "ACME"
    assert [(e["node"]["kind"], e["node"]["id"]) for e in view["openLifecycles"]["edges"]] == [
        ("opportunity", f"{entity_id}-deal")
    ]
    assert view["handovers"]["edges"] == [
        {"node": {"id": hid, "state": "COMPLETED", "outgoingOwner": OUTGOING, "incomingOwner": CALLER}}
    ]
    missing = (await api.gql(ACCOUNT, {"id": f"{entity_id}-nobody"}, role="viewer"))["account"]
    assert missing["__typename"] == "NotFound"


async def test_only_the_incoming_owner_pushes_back_and_the_outgoing_one_remedies(api: Api, entity_id: str):
    hid = await request_handover(api, entity_id)
    await changed(api, ALLOCATE, {"id": hid, "team": "TAM", "region": "US"})
    await changed(api, ASSIGN, {"id": hid, "incomingOwner": "csm@example.com"})
    refused = await unchanged(api, hid, PUSH_BACK, {"id": hid, "flags": ["NO_ENGAGEMENT"]}, "GuardFailed")
    assert refused["unmet"] == [
        {
            "guard": "raised_by_incoming_owner",
            "message": "Only the incoming owner (csm@example.com) pushes back on a handover.",
        }
    ]
    empty = await unchanged(api, hid, PUSH_BACK, {"id": hid, "flags": []}, "ValidationError")
    assert empty["fields"][0]["field"] == "flags"
    # An admin records it for them.
    await changed(api, PUSH_BACK, {"id": hid, "flags": ["DECLINING_USAGE", "CONCENTRATED_USERS"]}, role="admin")
    await unchanged(api, hid, REMEDY, {"id": hid}, "GuardFailed")
    remedied = await changed(api, REMEDY, {"id": hid, "reason": "Usage dip explained; 4 more users trained"})
    assert remedied["state"] == "ASSIGNED"
    pushes = (await detail(api, hid))["pushBacks"]
    assert [(p["resolution"], p["resolvedBy"]) for p in pushes] == [("REMEDIED", CALLER)]


async def test_the_call_time_is_checked_field_by_field(api: Api, entity_id: str):
    hid = await request_handover(api, entity_id, onboardedProducts=["PRODUCT_ANALYTICS", "SESSION_REPLAY"])
    await changed(api, ALLOCATE, {"id": hid, "team": "TAM", "region": "US"})
    await changed(api, ASSIGN, {"id": hid, "incomingOwner": "csm@example.com"})
    future = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    bad_plan = await unchanged(api, hid, PLAN, {"id": hid, "link": "x", "updatedOn": future}, "ValidationError")
    assert bad_plan["fields"] == [{"field": "updatedOn", "message": "must not be in the future"}]
    garbled = await unchanged(api, hid, PLAN, {"id": hid, "link": "x", "updatedOn": "soon"}, "ValidationError")
    assert garbled["fields"][0]["field"] == "updatedOn"
    await changed(api, PLAN, {"id": hid, "link": "x", "updatedOn": datetime.now(UTC).date().isoformat()})
    await changed(api, HEALTH, {"id": hid, "healthy": True, "note": "fine"})
    await changed(api, READY, {"id": hid})
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    result = await unchanged(api, hid, CALL, {"id": hid, "heldAt": later}, "ValidationError")
    assert result["fields"] == [{"field": "heldAt", "message": "must not be in the future"}]


# ---- lists ----------------------------------------------------------------------------------------

LIST = """query($filter: HandoverFilter, $orderBy: HandoverOrder, $first: Int, $after: String) {
  handovers(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id state region outgoingOwner incomingOwner followUpOverdue } } } }"""

AGO = datetime.now(UTC) - timedelta(days=30)


def _step(instance: LifecycleInstance, trigger: str, params: dict[str, Any], at: datetime, actor: str = OUTGOING):
    decision = instance.decide(
        trigger, params, actor=actor, role=Role.OPERATOR, reason="r", now=at, facts={OPEN_LATE_PAYMENTS: []}
    )
    instance.apply(decision, at)


def _handover(account: str, n: int, *, until: str, region: str, incoming: str, call_days_ago: int = 0):
    at = AGO + timedelta(hours=n)
    data = {
        "account": {"id": account, "name": account},
        "arr": "30000",
        "owner": OUTGOING if n % 2 else "tam@example.com",
        "outgoing_role": "TAM",
        "reason": "EXPANSION_COMPLETE",
        "paid_products": ["SESSION_REPLAY"],
        "onboarded_products": ["SESSION_REPLAY"],
    }
    instance = LifecycleInstance.open(HANDOVER, f"{account}/{n}", data, {}, at, actor=OUTGOING)
    path = [
        ("allocate", {"team": "TAM", "region": region}),
        ("assign", {"incoming_owner": incoming}),
        ("record_account_plan", {"link": "x", "updated_on": at.date().isoformat()}),
        ("record_health_check", {"healthy": True, "note": "ok"}),
        ("mark_ready", {}),
        ("record_call", {}),
    ]
    for trigger, params in path:
        if instance.state == until:
            break
        moment = datetime.now(UTC) - timedelta(days=call_days_ago) if trigger == "record_call" else at
        _step(instance, trigger, params, moment)
    return instance


async def _project(sessions: Sessions, instance: LifecycleInstance) -> None:
    async with sessions.begin() as session:
        await apply_projection(session=session, batch=instance.projection_batch(datetime.now(UTC)))


@pytest.fixture
async def listed(api: Api) -> dict[str, str]:
    instances = {
        "a": _handover("acme", 1, until="REQUESTED", region="US", incoming="x@example.com"),
        "b": _handover("globex", 2, until="ALLOCATED", region="EU", incoming="x@example.com"),
        "c": _handover("initech", 3, until="READY", region="EU", incoming="csm@example.com"),
        "d": _handover("hooli", 4, until="DONE", region="US", incoming="csm@example.com", call_days_ago=8),
        "e": _handover("umbrella", 5, until="DONE", region="EU", incoming="csm@example.com", call_days_ago=2),
    }
    for instance in instances.values():
        await _project(api.stack.sessions, instance)
    return {key: instance.core.entity_id for key, instance in instances.items()}


async def page(api: Api, **variables: Any) -> dict[str, Any]:
    return (await api.gql(LIST, variables, role="viewer"))["handovers"]


def keys(result: dict[str, Any], listed: dict[str, str]) -> list[str]:
    names = {v: k for k, v in listed.items()}
    return [names[e["node"]["id"]] for e in result["edges"]]


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({}, ["e", "d", "c", "b", "a"]),
        ({"state": ["CALL_HELD"]}, ["e", "d"]),
        ({"state": ["REQUESTED", "ALLOCATED"]}, ["b", "a"]),
        ({"accountId": "initech"}, ["c"]),
        ({"outgoingOwner": OUTGOING}, ["e", "c", "a"]),
        ({"incomingOwner": "csm@example.com"}, ["e", "d", "c"]),
        ({"region": ["EU"]}, ["e", "c", "b"]),
        ({"overdueFollowUp": True}, ["d"]),
        ({"overdueFollowUp": False}, ["e", "c", "b", "a"]),
        ({"region": ["US"], "state": ["CALL_HELD"], "overdueFollowUp": True}, ["d"]),
        ({"accountId": "nobody"}, []),
    ],
)
async def test_list_filters(api: Api, listed: dict[str, str], filter: dict[str, Any], expected: list[str]):
    result = await page(api, filter=filter)
    assert keys(result, listed) == expected and result["totalCount"] == len(expected)


async def test_list_pages_and_orders(api: Api, listed: dict[str, str]):
    seen, after = [], None
    while True:
        result = await page(api, first=2, after=after)
        assert result["totalCount"] == 5
        seen += keys(result, listed)
        if not result["pageInfo"]["hasNextPage"]:
            break
        after = result["pageInfo"]["endCursor"]
    assert seen == ["e", "d", "c", "b", "a"]
    assert keys(await page(api, orderBy="OPENED_AT_ASC"), listed) == ["a", "b", "c", "d", "e"]
    # The call moved d and e last: both were updated after the others.
    assert keys(await page(api, orderBy="UPDATED_AT_DESC"), listed)[:2] == ["e", "d"]
    overdue = (await page(api, filter={"overdueFollowUp": True}))["edges"][0]["node"]
    assert overdue["followUpOverdue"] is True
    bogus = await api.post(LIST, {"after": "not-a-cursor"}, role="viewer")
    assert bogus.json()["errors"][0]["extensions"]["code"] == "ValidationError"
