"""Trials over GraphQL against a real worker and dev server: every mutation, every typed error, the list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.documents import mutation
from tests.conftest import Api
from tests.workflows.helpers import eventually

CHANGED = """
  ... on TrialChanged {
    trial { id state version owner target expectedArr startsAt expiresAt existingPaidSubscription
            provisioningSteps { step done recordedBy }
            extensions { days reason giveBack previousExpiresAt expiresAt grantedBy }
            deadlines { timer dueAt } }
    transition { seq trigger fromState toState actor reason }
  }
"""


START = mutation("startTrial", "StartTrialInput", CHANGED)
STEP = mutation("recordTrialProvisioningStep", "RecordTrialProvisioningStepInput", CHANGED)
EXTEND = mutation("extendTrial", "ExtendTrialInput", CHANGED)
PAUSE = mutation("pauseTrial", "TrialChangeInput", CHANGED)
RESUME = mutation("resumeTrial", "TrialChangeInput", CHANGED)
ACTIVITY = mutation("recordTrialCustomerActivity", "TrialCustomerActivityInput", CHANGED)
CONFIRM = mutation("confirmTrialNewSubscription", "TrialSubscriptionInput", CHANGED)
CONVERT = mutation("convertTrial", "TrialSubscriptionInput", CHANGED)
CANCEL = mutation("cancelTrial", "TrialChangeInput", CHANGED)

STATE = """query($id: ID!) { trial(id: $id) { __typename ... on Trial {
  state version expiresAt history { totalCount edges { node { seq trigger actor reason } } }
  effects { id name type } } } }"""

STEPS = ("REMOVE_SUBSCRIPTION_ID", "SET_PRODUCTS_FREE", "CANCEL_SUBSCRIPTION")
DAY = timedelta(days=1)


def trial(entity_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": entity_id,
        "organization": {"id": f"org-{entity_id}", "name": "ACME"},
        "target": "ENTERPRISE",
        "expectedArr": "45000",
        "contactEmails": ["cto@acme.test"],
        **fields,
    }


async def call(api: Api, query: str, variables: dict[str, Any], *, role: str = "operator") -> dict[str, Any]:
    return next(iter((await api.gql(query, {"input": variables}, role=role)).values()))


async def state(api: Api, entity_id: str) -> dict[str, Any]:
    return (await api.gql(STATE, {"id": entity_id}, role="viewer"))["trial"]


async def unchanged(
    api: Api, entity_id: str, query: str, variables: dict[str, Any], typename: str, *, role: str = "operator"
) -> dict[str, Any]:
    """Send a request that must be refused with ``typename`` and must change nothing."""
    before = await state(api, entity_id)
    result = await call(api, query, variables, role=role)
    assert result["__typename"] == typename, result
    assert await state(api, entity_id) == before
    return result


async def started(api: Api, entity_id: str, **fields: Any) -> dict[str, Any]:
    result = await call(api, START, trial(entity_id, **fields))
    assert result["__typename"] == "TrialChanged", result
    return result


def moment(value: str) -> datetime:
    return datetime.fromisoformat(value)


# ---- starting ------------------------------------------------------------------------------------


async def test_a_new_customers_trial_starts_active_with_its_features_granted(api: Api, entity_id: str):
    result = await started(api, entity_id)
    started_trial = result["trial"]
    assert (started_trial["state"], started_trial["version"], started_trial["owner"]) == (
        "ACTIVE",
        1,
        "otto@example.com",
    )
    assert moment(started_trial["expiresAt"]) - moment(started_trial["startsAt"]) == 14 * DAY
    assert started_trial["provisioningSteps"] == []
    assert {d["timer"] for d in started_trial["deadlines"]} == {
        "feedback_session",
        "wrap_up_call",
        "first_customer_notice",
        "last_customer_notice",
        "owner_inactivity_nudge",
        "team_lead_inactivity_nudge",
        "expiry",
    }
    assert result["transition"] == {
        "seq": 1,
        "trigger": "open",
        "fromState": "",
        "toState": "ACTIVE",
        "actor": "otto@example.com",
        "reason": None,
    }
    data = await api.gql(
        """query($id: ID!) { trial(id: $id) { ... on Trial {
        organization { id name } trialType silenceNotifications contactEmails nextDeadline
        availableTransitions { trigger toState allowed unmet requiredRole }
        effects { type name payload } } } }""",
        {"id": entity_id},
        role="viewer",
    )
    read = data["trial"]
    assert read["organization"] == {"id": f"org-{entity_id}", "name": "ACME"} and read["trialType"] == "STANDARD"
    assert read["nextDeadline"] == min(d["dueAt"] for d in started_trial["deadlines"])
    available = {(a["trigger"], a["toState"]): a for a in read["availableTransitions"]}
    assert set(available) == {
        ("extend", None),
        ("pause", "PAUSED"),
        ("record_customer_activity", None),
        ("confirm_new_subscription", None),
        ("convert", "CONVERTED"),
        ("cancel", "CANCELLED"),
        ("change_owner", None),
    }
    assert not available[("confirm_new_subscription", None)]["allowed"]
    assert available[("convert", "CONVERTED")]["allowed"]
    assert read["effects"] == [
        {
            "type": "entitlements.grant",
            "name": "grant_trial_features",
            "payload": {
                "organization_id": f"org-{entity_id}",
                "organization_name": "ACME",
                "target": "ENTERPRISE",
                "trial_type": "STANDARD",
                "trial_id": entity_id,
            },
        }
    ]


async def test_a_large_deal_gets_28_days_and_an_explicit_expiry_wins(api: Api, entity_id: str):
    large = (await started(api, f"{entity_id}-l", expectedArr="60000.01"))["trial"]
    assert moment(large["expiresAt"]) - moment(large["startsAt"]) == 28 * DAY
    explicit = (await started(api, f"{entity_id}-e", expiresAt="2099-06-30T17:00:00+02:00"))["trial"]
    assert moment(explicit["expiresAt"]) == datetime(2099, 6, 30, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"expiresAt": "2020-01-01T00:00:00Z"}, [("expiresAt", "must be in the future")]),
        ({"expiresAt": "2099-01-01T00:00:00"}, [("expiresAt", "Input should have timezone info")]),
        ({"expiresAt": "next friday"}, [("expiresAt", None)]),
        ({"expectedArr": "-1"}, [("expectedArr", None)]),
        ({"contactEmails": ["cto@acme.test", "nobody"]}, [("contactEmails.1", None)]),
        ({"organization": {"id": "", "name": "ACME"}}, [("organization.id", None)]),
        ({"expiresAt": "soon", "expectedArr": "lots"}, [("expectedArr", None), ("expiresAt", None)]),
    ],
)
async def test_bad_fields_are_refused_one_by_one_and_nothing_starts(api: Api, entity_id: str, fields, bad):
    result = await call(api, START, trial(entity_id, **fields))
    assert result["__typename"] == "ValidationError", result
    got = sorted((f["field"], f["message"]) for f in result["fields"])
    assert [field for field, _ in got] == [field for field, _ in bad]
    for (_, message), (_, expected) in zip(got, bad, strict=True):
        assert expected is None or message == expected
    assert (await state(api, entity_id))["__typename"] == "NotFound"


@pytest.mark.parametrize(("field", "value"), [("target", "PLATINUM"), ("trialType", "FOREVER")])
async def test_a_value_outside_an_enum_is_refused_by_the_schema_and_nothing_starts(
    api: Api, entity_id: str, field: str, value: str
):
    response = await api.post(START, {"input": trial(entity_id, **{field: value})})
    errors = response.json()["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"]
    assert f"at .{field}: Value '{value}' does not exist" in errors[0]["message"]
    assert (await state(api, entity_id))["__typename"] == "NotFound"


async def test_starting_an_existing_id_or_as_a_viewer_is_refused(api: Api, entity_id: str):
    await started(api, entity_id)
    again = await unchanged(api, entity_id, START, trial(entity_id, target="PAID"), "AlreadyExists")
    assert entity_id in again["message"]
    viewer = await call(api, START, trial(f"{entity_id}-v"), role="viewer")
    assert viewer["__typename"] == "Forbidden" and viewer["requiredRole"] == "OPERATOR"
    denied = await unchanged(api, entity_id, PAUSE, {"id": entity_id, "reason": "x"}, "Forbidden", role="viewer")
    assert denied["requiredRole"] == "OPERATOR"


async def test_policy_overrides_are_for_admins_and_pinned(api: Api, entity_id: str):
    refused = await call(api, START, trial(entity_id, policy={"default_length": "P21D"}))
    assert refused["__typename"] == "Forbidden" and refused["requiredRole"] == "ADMIN"
    admin = (await call(api, START, trial(entity_id, policy={"default_length": "P21D"}), role="admin"))["trial"]
    assert moment(admin["expiresAt"]) - moment(admin["startsAt"]) == 21 * DAY
    bad = await call(api, START, trial(f"{entity_id}-b", policy={"extension_min_days": 0}), role="admin")
    assert bad["__typename"] == "ValidationError" and bad["fields"][0]["field"] == "policy.extensionMinDays"


# ---- an existing payer -----------------------------------------------------------------------------


async def test_an_existing_payer_waits_for_the_three_revops_steps(api: Api, entity_id: str):
    opened = (await started(api, entity_id, existingPaidSubscription=True))["trial"]
    assert opened["state"] == "PROVISIONING"
    assert [(s["step"], s["done"]) for s in opened["provisioningSteps"]] == [(step, False) for step in STEPS]
    assert {d["timer"] for d in opened["deadlines"]} == {"new_subscription_request", "expiry"}

    first = {"id": entity_id, "step": STEPS[0], "note": "kept cus_123", "idempotencyKey": f"{entity_id}-step-1"}
    done = await call(api, STEP, first)
    assert done["trial"]["state"] == "PROVISIONING" and done["transition"]["toState"] == "PROVISIONING"
    # A retry with the same key answers with the same transition; a second recording is refused.
    retried = await call(api, STEP, first)
    assert retried["transition"] == done["transition"]
    twice = await unchanged(api, entity_id, STEP, {"id": entity_id, "step": STEPS[0]}, "ValidationError")
    assert twice["fields"][0]["field"] == "step"
    assert twice["fields"][0]["message"].startswith("is already recorded done by otto@example.com")
    unknown = (await api.post(STEP, {"input": {"id": entity_id, "step": "CALL_THE_BANK"}})).json()["errors"]
    assert unknown[0]["extensions"]["code"] == "BAD_USER_INPUT" and "at .step:" in unknown[0]["message"]
    early = await unchanged(api, entity_id, PAUSE, {"id": entity_id, "reason": "x"}, "InvalidTransition")
    assert set(early["allowed"]) == {"record_provisioning_step", "confirm_new_subscription", "cancel", "change_owner"}

    await call(api, STEP, {"id": entity_id, "step": STEPS[1]})
    last = await call(api, STEP, {"id": entity_id, "step": STEPS[2]})
    assert last["transition"]["fromState"] == "PROVISIONING" and last["trial"]["state"] == "ACTIVE"
    assert all(s["done"] for s in last["trial"]["provisioningSteps"])
    effects = (await state(api, entity_id))["effects"]
    assert [e["name"] for e in effects] == ["revops_prepare_billing", "grant_trial_features"]

    confirmed = await call(api, CONFIRM, {"id": entity_id, "subscriptionId": "sub_new"})
    assert "new_subscription_request" not in {d["timer"] for d in confirmed["trial"]["deadlines"]}
    again = await unchanged(api, entity_id, CONFIRM, {"id": entity_id}, "GuardFailed")
    assert again["unmet"][0]["guard"] == "subscription_not_yet_confirmed"


async def test_a_new_customer_has_no_subscription_to_confirm(api: Api, entity_id: str):
    await started(api, entity_id)
    refused = await unchanged(api, entity_id, CONFIRM, {"id": entity_id}, "GuardFailed")
    assert refused["unmet"][0]["guard"] == "existing_payer"


# ---- running the trial ---------------------------------------------------------------------------


async def test_extensions_are_7_to_30_days_with_a_reason_and_a_give_back(api: Api, entity_id: str):
    opened = (await started(api, entity_id))["trial"]
    base = {"id": entity_id, "giveBack": "intro to the economic buyer", "reason": "security review pending"}
    short = await unchanged(api, entity_id, EXTEND, {**base, "days": 6}, "ValidationError")
    assert short["fields"] == [{"field": "days", "message": "must be between 7 and 30 days (004:11816)"}]
    await unchanged(api, entity_id, EXTEND, {**base, "days": 31}, "ValidationError")
    no_reason = await unchanged(api, entity_id, EXTEND, {**base, "days": 7, "reason": None}, "GuardFailed")
    assert no_reason["unmet"][0]["guard"] == "reason_required"
    no_give_back = await unchanged(api, entity_id, EXTEND, {**base, "days": 7, "giveBack": ""}, "ValidationError")
    assert no_give_back["fields"][0]["field"] == "giveBack"

    extended = await call(api, EXTEND, {**base, "days": 10})
    assert moment(extended["trial"]["expiresAt"]) - moment(opened["expiresAt"]) == 10 * DAY
    (extension,) = extended["trial"]["extensions"]
    assert extension == {
        "days": 10,
        "reason": "security review pending",
        "giveBack": "intro to the economic buyer",
        "previousExpiresAt": opened["expiresAt"],
        "expiresAt": extended["trial"]["expiresAt"],
        "grantedBy": "otto@example.com",
    }
    before = {d["timer"]: moment(d["dueAt"]) for d in opened["deadlines"]}
    after = {d["timer"]: moment(d["dueAt"]) for d in extended["trial"]["deadlines"]}
    for timer in ("expiry", "wrap_up_call", "first_customer_notice", "last_customer_notice"):
        assert after[timer] - before[timer] == 10 * DAY


async def test_pausing_keeps_the_expiry_and_resuming_restarts_engagement(api: Api, entity_id: str):
    await started(api, entity_id)
    missing = await unchanged(api, entity_id, PAUSE, {"id": entity_id}, "GuardFailed")
    assert missing["unmet"] == [{"guard": "reason_required", "message": "Say why the trial pauses."}]
    paused = await call(api, PAUSE, {"id": entity_id, "reason": "their launch slipped a week"})
    assert paused["trial"]["state"] == "PAUSED"
    assert {d["timer"] for d in paused["trial"]["deadlines"]} == {
        "first_customer_notice",
        "last_customer_notice",
        "expiry",
    }
    await unchanged(api, entity_id, PAUSE, {"id": entity_id, "reason": "again"}, "InvalidTransition")
    resumed = await call(api, RESUME, {"id": entity_id})
    assert resumed["trial"]["state"] == "ACTIVE"
    assert {"owner_inactivity_nudge", "feedback_session"} <= {d["timer"] for d in resumed["trial"]["deadlines"]}
    effects = (await state(api, entity_id))["effects"]
    assert [e["type"] for e in effects] == ["entitlements.grant"]


async def test_customer_activity_restarts_the_inactivity_nudges(api: Api, entity_id: str):
    opened = (await started(api, entity_id))["trial"]
    nudge = {d["timer"]: d["dueAt"] for d in opened["deadlines"]}["owner_inactivity_nudge"]
    active = await call(api, ACTIVITY, {"id": entity_id, "note": "three dashboards built"})
    assert {d["timer"]: d["dueAt"] for d in active["trial"]["deadlines"]}["owner_inactivity_nudge"] > nudge
    future = await unchanged(
        api, entity_id, ACTIVITY, {"id": entity_id, "at": "2999-01-01T00:00:00Z"}, "ValidationError"
    )
    assert future["fields"] == [{"field": "at", "message": "must not be in the future"}]
    earlier = await unchanged(
        api, entity_id, ACTIVITY, {"id": entity_id, "at": "2001-01-01T00:00:00Z"}, "ValidationError"
    )
    assert earlier["fields"] == [{"field": "at", "message": "must not be before the trial started"}]


async def test_converting_ends_the_trial_and_nothing_moves_it_after(api: Api, entity_id: str):
    await started(api, entity_id)
    converted = await call(api, CONVERT, {"id": entity_id, "subscriptionId": "sub_42"})
    assert converted["trial"]["state"] == "CONVERTED" and converted["trial"]["deadlines"] == []
    for query, variables in (
        (EXTEND, {"days": 7, "giveBack": "x", "reason": "x"}),
        (PAUSE, {"reason": "x"}),
        (CONVERT, {}),
        (CANCEL, {"reason": "x"}),
    ):
        refused = await unchanged(api, entity_id, query, {"id": entity_id, **variables}, "InvalidTransition")
        assert refused["state"] in ("CONVERTED", None)
    data = await api.gql(
        "query($id: ID!) { trial(id: $id) { ... on Trial { subscriptionId terminal effects { name } } } }",
        {"id": entity_id},
    )
    assert data["trial"]["subscriptionId"] == "sub_42" and data["trial"]["terminal"]
    assert [e["name"] for e in data["trial"]["effects"]] == ["grant_trial_features", "revops_trial_converted"]


async def test_cancelling_needs_a_reason_and_resets_the_features(api: Api, entity_id: str):
    await started(api, entity_id)
    missing = await unchanged(api, entity_id, CANCEL, {"id": entity_id}, "GuardFailed")
    assert missing["unmet"][0]["guard"] == "reason_required"
    cancelled = await call(api, CANCEL, {"id": entity_id, "reason": "bought a competitor"})
    assert cancelled["trial"]["state"] == "CANCELLED"
    assert cancelled["transition"]["reason"] == "bought a competitor"
    effects = (await state(api, entity_id))["effects"]
    assert [e["type"] for e in effects] == ["entitlements.grant", "entitlements.reset"]


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (STEP, {"step": STEPS[0]}),
        (EXTEND, {"days": 7, "giveBack": "x", "reason": "x"}),
        (PAUSE, {"reason": "x"}),
        (RESUME, {}),
        (ACTIVITY, {}),
        (CONFIRM, {}),
        (CONVERT, {}),
        (CANCEL, {"reason": "x"}),
    ],
)
async def test_unknown_ids_are_not_found(api: Api, query: str, variables: dict[str, Any]):
    result = await call(api, query, {"id": "no-such-trial", **variables})
    assert result["__typename"] == "NotFound", result


# ---- lists, machines, visibility -------------------------------------------------------------------

LIST = """query($filter: TrialFilter, $orderBy: TrialOrder, $first: Int, $after: String) {
  trials(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id state owner target expiresAt existingPaidSubscription } }
  } }"""


@pytest.fixture
async def trials(api: Api, entity_id: str) -> dict[str, str]:
    now = datetime.now(UTC)
    specs: dict[str, dict[str, Any]] = {
        "a": {"owner": "ann@example.com", "target": "PAID", "expiresAt": (now + 5 * DAY).isoformat()},
        "b": {"owner": "bob@example.com", "target": "TEAMS", "expiresAt": (now + 10 * DAY).isoformat()},
        "c": {
            "owner": "ann@example.com",
            "target": "ENTERPRISE",
            "expiresAt": (now + 15 * DAY).isoformat(),
            "existingPaidSubscription": True,
        },
        "d": {"owner": "ann@example.com", "target": "TEAMS", "expiresAt": (now + 20 * DAY).isoformat()},
    }
    ids = {}
    for key, fields in specs.items():
        ids[key] = f"{entity_id}-{key}"
        await started(api, ids[key], **fields)
    await call(api, PAUSE, {"id": ids["d"], "reason": "customer on holiday"})
    return ids


async def listed(api: Api, **variables: Any) -> dict[str, Any]:
    return (await api.gql(LIST, variables, role="viewer"))["trials"]


def keys(result: dict[str, Any], ids: dict[str, str]) -> list[str]:
    names = {v: k for k, v in ids.items()}
    return [names[e["node"]["id"]] for e in result["edges"]]


async def test_the_list_filters_orders_pages_and_counts(api: Api, trials: dict[str, str]):
    now = datetime.now(UTC)
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({}, ["a", "b", "c", "d"]),
        ({"state": ["PAUSED", "PROVISIONING"]}, ["c", "d"]),
        ({"owner": "ann@example.com"}, ["a", "c", "d"]),
        ({"target": ["TEAMS"]}, ["b", "d"]),
        ({"expiringBefore": (now + 12 * DAY).isoformat()}, ["a", "b"]),
        ({"expiringAfter": (now + 12 * DAY).isoformat(), "owner": "ann@example.com"}, ["c", "d"]),
        ({"existingPaidSubscription": True}, ["c"]),
        ({"existingPaidSubscription": False, "state": ["ACTIVE"]}, ["a", "b"]),
        ({"organizationId": f"org-{trials['b']}"}, ["b"]),
        ({"owner": "nobody@example.com"}, []),
    ]
    for filter, expected in cases:
        result = await listed(api, filter=filter)
        assert keys(result, trials) == expected, filter
        assert result["totalCount"] == len(expected)
    assert keys(await listed(api, orderBy="EXPIRES_AT_DESC"), trials) == ["d", "c", "b", "a"]
    assert keys(await listed(api, orderBy="UPDATED_AT_DESC"), trials) == ["d", "c", "b", "a"]

    seen, after = [], None
    while True:
        page = await listed(api, first=3, after=after)
        assert page["totalCount"] == 4
        seen += keys(page, trials)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["a", "b", "c", "d"]


async def test_bad_list_arguments_are_typed_errors(api: Api):
    naive = await api.post(LIST, {"filter": {"expiringBefore": "2027-01-01T00:00:00"}}, role="viewer")
    assert naive.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "expiringBefore"}
    bogus = await api.post(LIST, {"filter": {"expiringAfter": "soon"}}, role="viewer")
    assert bogus.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "expiringAfter"}
    cursor = await api.post(LIST, {"after": "not-a-cursor"}, role="viewer")
    assert cursor.json()["errors"][0]["extensions"]["code"] == "ValidationError"


async def test_trials_are_found_in_temporal_by_state_and_owner(api: Api, entity_id: str):
    owner = f"{entity_id}@example.com"
    await started(api, entity_id, owner=owner)
    await started(api, f"{entity_id}-2", owner=owner)
    await call(api, PAUSE, {"id": f"{entity_id}-2", "reason": "reconnect next month"})
    query = f'LifecycleKind = "trial" AND LifecycleOwner = "{owner}" AND LifecycleState = "PAUSED"'

    async def found() -> list[str]:
        return [w.id async for w in api.stack.client.list_workflows(query)]

    assert await eventually(found) == [f"trial/{entity_id}-2"]


async def test_the_machine_and_the_generic_view(api: Api, entity_id: str):
    await started(api, entity_id)
    machine = (
        await api.gql(
            """{ lifecycleMachine(kind: "trial") { ... on LifecycleMachine {
            states { name terminal checklist { key source } } timers { name states } defaultPolicy } } }""",
            role="viewer",
        )
    )["lifecycleMachine"]
    states = {s["name"]: s for s in machine["states"]}
    assert [c["key"] for c in states["PROVISIONING"]["checklist"]] == list(STEPS)
    assert {s for s, v in states.items() if v["terminal"]} == {"CONVERTED", "EXPIRED", "CANCELLED"}
    assert {t["name"]: t["states"] for t in machine["timers"]}["expiry"] == ["PROVISIONING", "ACTIVE", "PAUSED"]
    assert machine["defaultPolicy"]["long_length"] == "P28D"
    generic = (
        await api.gql(
            """query($id: ID!) { lifecycle(kind: "trial", id: $id) { ... on GenericLifecycle {
            accountId workflowId stateName } } }""",
            {"id": entity_id},
            role="viewer",
        )
    )["lifecycle"]
    assert generic == {"accountId": f"org-{entity_id}", "workflowId": f"trial/{entity_id}", "stateName": "ACTIVE"}
