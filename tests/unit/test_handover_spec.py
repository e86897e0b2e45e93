"""The handover machine as a pure table: every edge, every refusal, the team rule, the follow-up timers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from workflows.engine.common import CHANGE_OWNER
from workflows.engine.errors import Forbidden, GuardFailed, InvalidTransition, Rejection, ValidationError
from workflows.engine.instance import LifecycleInstance
from workflows.engine.spec import Role
from workflows.handover import (
    BEFORE_CALL,
    BEFORE_READY,
    HANDOVER,
    INVALID_REASONS,
    OPEN_LATE_PAYMENTS,
    VALID_REASONS,
    FollowUpItem,
    HandoverState,
    OwnerTeam,
    suggested_team,
)

S = HandoverState
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OUTGOING, INCOMING, LEAD = "tae@example.com", "csm@example.com", "lead@example.com"
REQUEST = {
    "account": {"id": "acme", "name": "ACME"},
    "arr": "48000",
    "owner": OUTGOING,
    "outgoing_role": "TAE",
    "reason": "ONBOARDED",
    "paid_products": ["PRODUCT_ANALYTICS", "SESSION_REPLAY"],
    "onboarded_products": ["PRODUCT_ANALYTICS"],
}
NO_LATE_PAYMENTS: dict[str, Any] = {OPEN_LATE_PAYMENTS: []}


def opened(policy: dict[str, Any] | None = None, **fields: Any) -> LifecycleInstance:
    return LifecycleInstance.open(HANDOVER, "acme/1", {**REQUEST, **fields}, policy or {}, NOW, actor=OUTGOING)


def fire(
    instance: LifecycleInstance,
    trigger: str,
    params: dict[str, Any] | None = None,
    *,
    actor: str = OUTGOING,
    role: Role = Role.OPERATOR,
    reason: str | None = None,
    at: datetime = NOW,
    facts: dict[str, Any] | None = None,
):
    decision = instance.decide(trigger, params or {}, actor=actor, role=role, reason=reason, now=at, facts=facts)
    return instance.apply(decision, at)


def rejected(
    instance: LifecycleInstance, kind: type[Rejection], trigger: str, params: dict[str, Any] | None = None, **kwargs
) -> Rejection:
    before = instance.core.model_copy(deep=True)
    with pytest.raises(kind) as caught:
        fire(instance, trigger, params, **kwargs)
    # A refusal changes nothing: not the state, the data, the history or the outbox.
    assert instance.core == before
    return caught.value


def assigned(policy: dict[str, Any] | None = None, **fields: Any) -> LifecycleInstance:
    handover = opened(policy, **fields)
    fire(handover, "allocate", {"team": "TAM", "region": "EU"}, actor=LEAD)
    fire(handover, "assign", {"incoming_owner": INCOMING}, actor=LEAD)
    return handover


def readied(handover: LifecycleInstance, at: datetime = NOW) -> LifecycleInstance:
    fire(handover, "record_account_plan", {"link": "https://vitally/acme", "updated_on": "2026-02-20"}, at=at)
    for product in handover.data.paid_products:
        if product not in handover.data.onboarded_products:
            fire(handover, "record_onboarding", {"product": product}, at=at)
    fire(handover, "record_health_check", {"healthy": True, "note": "usage steady, 12 active users"}, at=at)
    return handover


def ready(at: datetime = NOW, policy: dict[str, Any] | None = None) -> LifecycleInstance:
    handover = readied(assigned(policy), at)
    fire(handover, "mark_ready", facts=NO_LATE_PAYMENTS, at=at)
    return handover


def called(at: datetime = NOW) -> LifecycleInstance:
    handover = ready(at)
    fire(handover, "record_call", {"notes": "champion is Dana"}, at=at)
    return handover


def followed_up(handover: LifecycleInstance, at: datetime = NOW) -> None:
    for item in FollowUpItem:
        fire(handover, "record_follow_up", {"item": item, "note": "done"}, actor=INCOMING, at=at)


def deadline(instance: LifecycleInstance, timer: str, at: datetime = NOW) -> datetime | None:
    return next((d.due_at for d in instance.deadlines(at) if d.timer == timer), None)


# ---- the main path -------------------------------------------------------------------------------


def test_request_to_completion_through_every_step():
    handover = opened()
    assert handover.state == S.REQUESTED and handover.snapshot(NOW).owner == OUTGOING
    assert [e.name for e in handover.core.unprojected_effects] == ["allocation_requested"]
    assert handover.core.unprojected_effects[0].recipients == ["role:allocator"]

    fire(handover, "allocate", {"team": "TAM", "region": "EU"}, actor=LEAD)
    assert (handover.state, handover.data.team, handover.data.region) == (S.ALLOCATED, "TAM", "EU")
    fire(handover, "assign", {"incoming_owner": f"  {INCOMING} "}, actor=LEAD)
    assert (handover.state, handover.data.incoming_owner) == (S.ASSIGNED, INCOMING)
    assert handover.core.unprojected_effects[-1].recipients == [OUTGOING, INCOMING]

    readied(handover)
    fire(handover, "mark_ready", facts=NO_LATE_PAYMENTS)
    assert handover.state == S.READY

    later = NOW + timedelta(days=2)
    fire(handover, "record_call", {"notes": "Dana is the champion"}, at=later)
    assert handover.state == S.CALL_HELD and handover.data.call.held_at == later
    followed_up(handover, later)
    record = fire(handover, "complete", at=later, reason="unassigned in Vitally")
    assert (record.from_state, record.to_state, handover.terminal) == (S.CALL_HELD, S.COMPLETED, True)
    assert [t.trigger for t in handover.core.history] == [
        "open",
        "allocate",
        "assign",
        "record_account_plan",
        "record_onboarding",
        "record_health_check",
        "mark_ready",
        "record_call",
        "record_follow_up",
        "record_follow_up",
        "record_follow_up",
        "complete",
    ]


def test_completion_cascades_the_owner_change_to_every_other_open_lifecycle_of_the_account():
    handover = called()
    followed_up(handover)
    fire(handover, "complete", actor=OUTGOING)
    cascade, announced = handover.core.unprojected_effects[-2:]
    assert (cascade.type, cascade.name) == ("lifecycle.fire", "owners_follow")
    assert cascade.payload == {
        "account_id": "acme",
        "kinds": None,
        "exclude": ["handover/acme/1"],
        "trigger": CHANGE_OWNER,
        "params": {"new_owner": INCOMING},
        "actor": OUTGOING,
        "reason": f"Handover acme/1 of ACME completed: {OUTGOING} → {INCOMING}",
    }
    assert announced.name == "handover_completed" and announced.recipients == [OUTGOING, INCOMING]


@pytest.mark.parametrize("state", [s for s in S if s not in (S.COMPLETED, S.REJECTED)])
def test_every_state_before_the_call_may_be_rejected_with_a_reason(state):
    handover = _in_state(state)
    if state == S.CALL_HELD:
        rejected(handover, InvalidTransition, "reject", reason="too late")
        return
    refused = rejected(handover, GuardFailed, "reject")
    assert refused.details["unmet"][0]["guard"] == "reason_required"
    fire(handover, "reject", reason="expansion levers remain (004:8184)")
    assert handover.state == S.REJECTED and handover.terminal
    assert handover.core.unprojected_effects[-1].recipients == [OUTGOING]


def _in_state(state: HandoverState) -> LifecycleInstance:
    if state == S.REQUESTED:
        return opened()
    if state == S.ALLOCATED:
        handover = opened()
        fire(handover, "allocate", {"team": "TAM", "region": "US"})
        return handover
    if state == S.ASSIGNED:
        return assigned()
    if state == S.PUSHED_BACK:
        handover = assigned()
        fire(handover, "push_back", {"flags": ["NO_ENGAGEMENT"]}, actor=INCOMING)
        return handover
    if state == S.READY:
        return ready()
    return called()


@pytest.mark.parametrize("terminal", [S.COMPLETED, S.REJECTED])
@pytest.mark.parametrize("trigger", ["allocate", "mark_ready", "record_follow_up", "complete", CHANGE_OWNER])
def test_terminal_states_are_final(terminal, trigger):
    if terminal == S.COMPLETED:
        handover = called()
        followed_up(handover)
        fire(handover, "complete")
    else:
        handover = opened()
        fire(handover, "reject", reason="not in a good state")
    rejected(handover, InvalidTransition, trigger)


# ---- requesting: only for a valid reason -----------------------------------------------------------


@pytest.mark.parametrize("reason", list(INVALID_REASONS))
def test_the_handbook_invalid_reasons_are_refused_at_request(reason):
    with pytest.raises(ValidationError) as refused:
        opened(reason=reason)
    fields = refused.value.details["fields"]
    assert [f["field"] for f in fields] == ["reason"]
    assert "not a reason to hand it off" in fields[0]["message"] and "004:" in fields[0]["message"]


@pytest.mark.parametrize("reason", list(VALID_REASONS))
def test_valid_reasons_open_the_request(reason):
    assert opened(reason=reason).state == S.REQUESTED


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"reason": "BORED"}, ["reason"]),
        ({"outgoing_role": "CEO"}, ["outgoing_role"]),
        ({"arr": "-5"}, ["arr"]),
        ({"paid_products": []}, ["paid_products"]),
        ({"paid_products": ["SURVEYS"]}, ["paid_products.0"]),
        ({"onboarded_products": ["ERROR_TRACKING"]}, ["onboarded_products"]),
        ({"owner": "  "}, ["owner"]),
        ({"account": {"id": "", "name": "ACME"}}, ["account.id"]),
    ],
)
def test_a_bad_request_is_refused_per_field(fields, bad):
    with pytest.raises(ValidationError) as refused:
        opened(**fields)
    assert sorted(f["field"] for f in refused.value.details["fields"]) == bad


# ---- allocation: the team the handbook suggests -------------------------------------------------


@pytest.mark.parametrize(
    ("onboarded", "team"),
    [
        ([], OwnerTeam.TAM),
        (["PRODUCT_ANALYTICS", "DATA_WAREHOUSE"], OwnerTeam.TAM),
        (["SESSION_REPLAY"], OwnerTeam.TAM),
        (["SESSION_REPLAY", "FEATURE_FLAGS"], OwnerTeam.TAM),
        (["SESSION_REPLAY", "FEATURE_FLAGS", "ERROR_TRACKING"], OwnerTeam.CSM),
    ],
)
def test_the_suggested_team_counts_primary_products_onboarded(onboarded, team):
    handover = opened(paid_products=[*onboarded, "PRODUCT_ANALYTICS"], onboarded_products=onboarded)
    assert suggested_team(handover.data, handover.policy) is team


def test_the_csm_threshold_is_policy():
    two = ["SESSION_REPLAY", "FEATURE_FLAGS"]
    handover = opened({"csm_from_primary_products": 2}, paid_products=two, onboarded_products=two)
    assert suggested_team(handover.data, handover.policy) is OwnerTeam.CSM


def test_another_team_than_suggested_needs_a_reason():
    handover = opened()
    refused = rejected(handover, GuardFailed, "allocate", {"team": "CSM", "region": "EU"})
    assert refused.details["unmet"][0]["guard"] == "team_as_suggested_or_explained"
    assert "suggests TAM" in refused.message and "004:2289" in refused.message
    fire(handover, "allocate", {"team": "CSM", "region": "EU"}, reason="CSM team has capacity")
    assert handover.data.team == "CSM"


@pytest.mark.parametrize(
    ("params", "field"),
    [({"team": "SALES", "region": "EU"}, "team"), ({"team": "TAM", "region": "APAC"}, "region"), ({}, "team")],
)
def test_allocation_takes_a_known_team_and_region(params, field):
    refused = rejected(opened(), ValidationError, "allocate", params)
    assert field in [f["field"] for f in refused.details["fields"]]


def test_the_incoming_owner_must_differ_from_the_outgoing_one():
    handover = opened()
    fire(handover, "allocate", {"team": "TAM", "region": "EU"})
    refused = rejected(handover, ValidationError, "assign", {"incoming_owner": OUTGOING})
    assert refused.details["fields"] == [
        {"field": "incoming_owner", "message": "is the outgoing owner; a handover moves the account to someone else"}
    ]
    rejected(handover, ValidationError, "assign", {"incoming_owner": "   "})


def test_the_outgoing_owner_may_be_replaced_but_not_by_the_incoming_one():
    handover = assigned()
    refused = rejected(handover, ValidationError, CHANGE_OWNER, {"new_owner": INCOMING}, reason="left")
    assert refused.details["fields"][0]["field"] == "new_owner"
    fire(handover, CHANGE_OWNER, {"new_owner": "tae2@example.com"}, reason="tae left the company")
    assert handover.data.owner == "tae2@example.com" and handover.data.previous_owners == [OUTGOING]


# ---- readiness ------------------------------------------------------------------------------------


def test_ready_names_every_missing_item_of_the_checklist():
    handover = assigned()
    refused = rejected(handover, GuardFailed, "mark_ready", facts=NO_LATE_PAYMENTS)
    assert [u["guard"] for u in refused.details["unmet"]] == [
        "account_plan_current",
        "onboarding_complete",
        "account_healthy",
    ]
    assert "session replay" in refused.message


def test_ready_is_refused_while_a_late_payment_is_open_on_the_account():
    handover = readied(assigned())
    late = {"workflow_id": "late-payment/inv-9", "state": "SUSPENDED", "summary": "Invoice inv-9 · ACME"}
    refused = rejected(handover, GuardFailed, "mark_ready", facts={OPEN_LATE_PAYMENTS: [late]})
    assert refused.details["unmet"] == [
        {
            "guard": "invoices_paid",
            "message": "Invoice inv-9 · ACME is unpaid (SUSPENDED, late-payment/inv-9): all open invoices must be "
            "paid before handing over (004:2413).",
        }
    ]
    # Without the read model's answer the check cannot pass.
    unchecked = rejected(handover, GuardFailed, "mark_ready")
    assert unchecked.details["unmet"][0]["guard"] == "invoices_paid"
    fire(handover, "mark_ready", facts=NO_LATE_PAYMENTS)
    assert handover.state == S.READY


def test_the_account_plan_must_be_current():
    handover = readied(assigned())
    fire(handover, "record_account_plan", {"link": "https://vitally/acme", "updated_on": "2025-12-01"})
    refused = rejected(handover, GuardFailed, "mark_ready", facts=NO_LATE_PAYMENTS)
    assert refused.details["unmet"][0]["guard"] == "account_plan_current" and "91 days ago" in refused.message
    fire(handover, "record_account_plan", {"link": "https://vitally/acme", "updated_on": "2025-12-02"})
    fire(handover, "mark_ready", facts=NO_LATE_PAYMENTS)
    assert handover.state == S.READY


def test_an_unhealthy_account_is_not_ready():
    handover = readied(assigned())
    fire(handover, "record_health_check", {"healthy": False, "note": "usage down 40%"})
    refused = rejected(handover, GuardFailed, "mark_ready", facts=NO_LATE_PAYMENTS)
    assert refused.details["unmet"][0]["guard"] == "account_healthy" and "usage down 40%" in refused.message


@pytest.mark.parametrize(
    ("trigger", "params", "field"),
    [
        ("record_account_plan", {"link": "https://vitally/acme", "updated_on": "2026-03-03"}, "updated_on"),
        ("record_account_plan", {"link": "", "updated_on": "2026-03-01"}, "link"),
        ("record_onboarding", {"product": "ERROR_TRACKING"}, "product"),
        ("record_onboarding", {"product": "PRODUCT_ANALYTICS"}, "product"),
        ("record_onboarding", {"product": "TELEPORTATION"}, "product"),
        ("record_health_check", {"healthy": True}, "note"),
    ],
)
def test_checklist_records_refuse_bad_input(trigger, params, field):
    refused = rejected(assigned(), ValidationError, trigger, params)
    assert [f["field"] for f in refused.details["fields"]] == [field]


@pytest.mark.parametrize("state", BEFORE_READY)
def test_the_checklist_is_recorded_before_ready(state):
    handover = _in_state(state)
    fire(handover, "record_onboarding", {"product": "SESSION_REPLAY"})
    assert "SESSION_REPLAY" in handover.data.onboarded_products


# ---- push-back ------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [S.ASSIGNED, S.READY])
def test_the_incoming_owner_pushes_back_with_flags(state):
    handover = _in_state(state)
    refused = rejected(handover, GuardFailed, "push_back", {"flags": ["NO_ENGAGEMENT"]}, actor=OUTGOING)
    assert refused.details["unmet"][0]["guard"] == "raised_by_incoming_owner"
    rejected(handover, ValidationError, "push_back", {"flags": []}, actor=INCOMING)
    rejected(handover, ValidationError, "push_back", {"flags": ["RUDE"]}, actor=INCOMING)
    fire(
        handover,
        "push_back",
        {"flags": ["CONCENTRATED_USERS", "MISSING_ACCOUNT_PLAN"], "note": "2 users"},
        actor=INCOMING,
    )
    assert handover.state == S.PUSHED_BACK
    raised = handover.data.push_backs[-1]
    assert (raised.flags, raised.raised_by, raised.resolution) == (
        ["CONCENTRATED_USERS", "MISSING_ACCOUNT_PLAN"],
        INCOMING,
        None,
    )
    assert handover.core.unprojected_effects[-1].recipients == [OUTGOING, "role:team_lead"]


def test_an_admin_may_record_a_push_back_for_the_incoming_owner():
    handover = assigned()
    fire(handover, "push_back", {"flags": ["DECLINING_USAGE"]}, actor="ada@example.com", role=Role.ADMIN)
    assert handover.state == S.PUSHED_BACK


def test_a_push_back_is_remedied_with_a_reason_back_to_assigned():
    handover = _in_state(S.PUSHED_BACK)
    rejected(handover, GuardFailed, "remedy")
    fire(handover, "remedy", reason="account plan written, 5 users trained", at=NOW + timedelta(days=3))
    assert handover.state == S.ASSIGNED
    resolved = handover.data.push_backs[-1]
    assert (resolved.resolution, resolved.resolved_by, resolved.resolution_note) == (
        "REMEDIED",
        OUTGOING,
        "account plan written, 5 users trained",
    )


def test_only_an_admin_overrules_a_push_back_and_says_why():
    handover = _in_state(S.PUSHED_BACK)
    refused = rejected(handover, Forbidden, "overrule", reason="take it", actor=LEAD)
    assert refused.details["required_role"] == "ADMIN"
    rejected(handover, GuardFailed, "overrule", role=Role.ADMIN, actor=LEAD)
    fire(handover, "overrule", role=Role.ADMIN, actor=LEAD, reason="work it as a lead (004:8290)")
    assert handover.state == S.ASSIGNED
    assert (handover.data.push_backs[-1].resolution, handover.data.push_backs[-1].resolved_by) == ("OVERRULED", LEAD)
    # The checklist still stands after an overrule.
    rejected(handover, GuardFailed, "mark_ready", facts=NO_LATE_PAYMENTS)


# ---- the call, the follow-ups, completion ---------------------------------------------------------


@pytest.mark.parametrize("state", BEFORE_CALL)
def test_completing_without_the_call_names_it(state):
    refused = rejected(_in_state(state), GuardFailed, "complete")
    assert [u["guard"] for u in refused.details["unmet"]] == ["call_held"]
    assert "004:2504" in refused.message


def test_completing_needs_the_three_follow_ups():
    handover = called()
    fire(handover, "record_follow_up", {"item": "INTRODUCED", "note": "warm intro via the TAE"}, actor=INCOMING)
    refused = rejected(handover, GuardFailed, "complete")
    assert [u["guard"] for u in refused.details["unmet"]] == ["follow_ups_done", "follow_ups_done"]
    assert "004:2625-2627" in refused.message and "004:2631" in refused.message
    record = handover.data.follow_ups["INTRODUCED"]
    assert (record.note, record.recorded_by) == ("warm intro via the TAE", INCOMING)


def test_follow_ups_are_recorded_once_each():
    handover = called()
    fire(handover, "record_follow_up", {"item": "INTRODUCED", "note": "x"})
    refused = rejected(handover, ValidationError, "record_follow_up", {"item": "INTRODUCED", "note": "again"})
    assert refused.details["fields"] == [{"field": "item", "message": "is already recorded"}]
    rejected(handover, ValidationError, "record_follow_up", {"item": "LUNCH", "note": "x"})
    rejected(handover, ValidationError, "record_follow_up", {"item": "INTRODUCED"})


def test_the_call_time_is_neither_in_the_future_nor_before_ready():
    handover = ready(NOW)
    future = rejected(handover, ValidationError, "record_call", {"held_at": (NOW + timedelta(hours=1)).isoformat()})
    assert future.details["fields"][0]["field"] == "held_at"
    early = rejected(handover, ValidationError, "record_call", {"held_at": (NOW - timedelta(hours=1)).isoformat()})
    assert "ready" in early.details["fields"][0]["message"]
    rejected(handover, ValidationError, "record_call", {"held_at": "2026-03-02T08:00:00"})
    held = NOW + timedelta(hours=2)
    fire(handover, "record_call", {"held_at": held.isoformat()}, at=NOW + timedelta(days=1))
    assert handover.data.call.held_at == held


# ---- timers ---------------------------------------------------------------------------------------


def test_no_follow_up_timer_before_the_call():
    for state in BEFORE_CALL:
        assert _in_state(state).deadlines(NOW) == []


def test_a_week_after_the_call_the_incoming_owner_is_reminded_then_the_team_lead_told():
    handover = called(NOW)
    assert deadline(handover, "follow_up_reminder") == NOW + timedelta(days=7)
    assert deadline(handover, "follow_up_escalation") == NOW + timedelta(days=9)
    assert handover.next_due_timer(NOW + timedelta(days=7) - timedelta(seconds=1)) is None

    history = list(handover.core.history)
    timer, due = handover.next_due_timer(NOW + timedelta(days=7))
    assert (timer.name, due) == ("follow_up_reminder", NOW + timedelta(days=7))
    assert handover.fire_timer(timer, due, due) is None
    reminder = handover.core.unprojected_effects[-1]
    assert (reminder.name, reminder.at, reminder.recipients) == ("follow_up_reminder", due, [INCOMING])
    assert reminder.payload["body"].startswith("7 days since the handover call, still to do: ")
    assert "Introduced themselves" in reminder.payload["body"]
    assert handover.next_due_timer(NOW + timedelta(days=9) - timedelta(seconds=1)) is None

    timer, due = handover.next_due_timer(NOW + timedelta(days=9))
    assert (timer.name, due) == ("follow_up_escalation", NOW + timedelta(days=9))
    assert handover.fire_timer(timer, due, due) is None
    escalated = handover.core.unprojected_effects[-1]
    assert (escalated.name, escalated.at, escalated.recipients) == (
        "follow_up_escalated",
        due,
        ["role:team_lead", INCOMING],
    )
    assert escalated.payload["body"].endswith("(due 2026-03-09, reminded 2 days ago).")
    assert handover.deadlines(NOW + timedelta(days=9)) == []
    # Reminding and escalating tell people; the handover itself stays as it was.
    assert (handover.core.history, handover.state) == (history, S.CALL_HELD)


def test_follow_ups_done_in_time_disarm_both_timers():
    handover = called(NOW)
    followed_up(handover, NOW + timedelta(days=3))
    assert handover.deadlines(NOW + timedelta(days=3)) == []


def test_the_follow_up_durations_are_policy():
    handover = ready(policy={"follow_up_within": "P5D", "follow_up_escalate_after": "P1D"})
    fire(handover, "record_call")
    assert deadline(handover, "follow_up_reminder") == NOW + timedelta(days=5)
    assert deadline(handover, "follow_up_escalation") == NOW + timedelta(days=6)


def test_the_follow_up_messages_state_the_period_of_the_pinned_policy():
    handover = ready(policy={"follow_up_within": "P3D"})
    fire(handover, "record_call")
    started = handover.core.unprojected_effects[-1]
    assert started.name == "follow_ups_started"
    assert started.payload["body"].startswith("Within 3 days of the call, by 2026-03-05: Vitally updated")
    timer, due = handover.next_due_timer(NOW + timedelta(days=3))
    handover.fire_timer(timer, due, due)
    reminder = handover.core.unprojected_effects[-1]
    assert reminder.payload["body"].startswith("3 days since the handover call, still to do: Vitally updated")


@pytest.mark.parametrize("trigger", ["remind_follow_up", "escalate_follow_up"])
def test_no_caller_can_send_the_follow_up_reminders(trigger):
    # The timers send them; there is no trigger to fire them with.
    error = rejected(called(), InvalidTransition, trigger, role=Role.ADMIN)
    assert trigger not in error.details["allowed"]


# ---- describing -----------------------------------------------------------------------------------


def test_describe_shows_what_keeps_ready_and_complete_from_firing():
    handover = assigned()
    allowed = {a.trigger: a for a in handover.describe(NOW, NO_LATE_PAYMENTS)}
    assert not allowed["mark_ready"].allowed and len(allowed["mark_ready"].unmet) == 3
    assert allowed["push_back"].allowed  # who pushes back depends on the caller, judged on the request
    assert allowed["complete"].unmet == [
        "The handover call between the outgoing and incoming owner has not been held yet (004:2504)."
    ]
    assert "remind_follow_up" not in allowed
