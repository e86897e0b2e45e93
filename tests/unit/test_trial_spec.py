"""The trial machine as a pure table: every edge, every refusal, every timer's moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from workflows.engine.errors import Forbidden, GuardFailed, InvalidTransition, Rejection, ValidationError
from workflows.engine.instance import LifecycleInstance
from workflows.engine.spec import TIMER_ACTOR, Role
from workflows.trial import TRIAL, ProvisioningStep, TrialState

T = TrialState
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
TRIAL_FIELDS = {
    "organization": {"id": "org-acme", "name": "ACME"},
    "owner": "tae@example.com",
    "target": "TEAMS",
    "expected_arr": "30000",
    "contact_emails": ["cto@acme.test"],
}
STEPS = list(ProvisioningStep)


def opened(policy: dict[str, Any] | None = None, **fields: Any) -> LifecycleInstance:
    return LifecycleInstance.open(TRIAL, "tr-1", {**TRIAL_FIELDS, **fields}, policy or {}, NOW, actor="tae@example.com")


def fire(
    instance: LifecycleInstance,
    trigger: str,
    params: dict[str, Any] | None = None,
    *,
    role: Role = Role.OPERATOR,
    reason: str | None = None,
    at: datetime = NOW,
    actor: str = "tae@example.com",
):
    decision = instance.decide(trigger, params or {}, actor=actor, role=role, reason=reason, now=at)
    return instance.apply(decision, at)


def rejected(
    instance: LifecycleInstance,
    kind: type[Rejection],
    trigger: str,
    params: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Rejection:
    before = instance.core.model_copy(deep=True)
    with pytest.raises(kind) as caught:
        fire(instance, trigger, params, **kwargs)
    # A refusal changes nothing: not the state, the data, the history or the outbox.
    assert instance.core == before
    return caught.value


def refused_opening(**fields: Any) -> list[dict[str, str]]:
    with pytest.raises(ValidationError) as caught:
        opened(**fields)
    return caught.value.details["fields"]


def provisioned(**fields: Any) -> LifecycleInstance:
    trial = opened(existing_paid_subscription=True, **fields)
    for step in STEPS:
        fire(trial, "record_provisioning_step", {"step": step}, actor="revops@example.com")
    return trial


def in_state(state: TrialState) -> LifecycleInstance:
    if state is T.PROVISIONING:
        return opened(existing_paid_subscription=True)
    trial = opened()
    moves = {
        T.ACTIVE: [],
        T.PAUSED: [("pause", {}, "their team is at a conference")],
        T.CONVERTED: [("convert", {}, None)],
        T.CANCELLED: [("cancel", {}, "went with a competitor")],
    }
    if state is T.EXPIRED:
        run_timers(trial, trial.data.expires_at)
    for trigger, params, reason in moves.get(state, []):
        fire(trial, trigger, params, reason=reason)
    assert trial.state == state
    return trial


def run_timers(instance: LifecycleInstance, until: datetime) -> list[tuple[str, datetime, dict[str, Any]]]:
    """Fire every timer due up to ``until`` at its own moment, as the workflow does."""
    fired = []
    while (due := instance.next_due_timer(until)) is not None:
        timer, at = due
        record = instance.fire_timer(timer, at, at)
        if record is not None or timer.trigger is None:
            fired.append((timer.name, at, record.params if record else {}))
    return fired


def deadlines(instance: LifecycleInstance, at: datetime = NOW) -> dict[str, datetime]:
    return {d.timer: d.due_at for d in instance.deadlines(at)}


def effects(instance: LifecycleInstance, *names: str) -> list[Any]:
    return [e for e in instance.core.unprojected_effects if not names or e.name in names]


# ---- opening ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expected_arr", "days"),
    [("20000", 14), ("60000", 14), ("60000.01", 28), ("250000", 28)],
)
def test_the_default_length_is_14_days_or_28_over_60k_arr(expected_arr, days):
    trial = opened(expected_arr=expected_arr)
    assert trial.data.starts_at == NOW
    assert trial.data.expires_at == NOW + days * DAY


def test_an_explicit_expiry_wins_and_the_policy_sets_the_defaults():
    assert opened(expires_at="2026-04-30T17:00:00+02:00").data.expires_at == datetime(2026, 4, 30, 15, tzinfo=UTC)
    assert opened({"default_length": "P21D"}).data.expires_at == NOW + 21 * DAY
    assert opened({"long_length_above_arr": "10000"}).data.expires_at == NOW + 28 * DAY


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"expires_at": (NOW - DAY).isoformat()}, [{"field": "expires_at", "message": "must be in the future"}]),
        ({"expires_at": NOW.isoformat()}, [{"field": "expires_at", "message": "must be in the future"}]),
        (
            {"starts_at": (NOW - 10 * DAY).isoformat(), "expires_at": (NOW - 12 * DAY).isoformat()},
            [{"field": "expires_at", "message": "must be in the future"}],
        ),
        (
            {"starts_at": (NOW + 2 * DAY).isoformat(), "expires_at": (NOW + DAY).isoformat()},
            [{"field": "expires_at", "message": "must be after the trial starts"}],
        ),
    ],
)
def test_an_expiry_in_the_past_or_before_the_start_is_refused(fields, bad):
    assert refused_opening(**fields) == bad


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"target": "PLATINUM"}, ["target"]),
        ({"trial_type": "LONG"}, ["trial_type"]),
        ({"expected_arr": "-1"}, ["expected_arr"]),
        ({"expected_arr": "lots"}, ["expected_arr"]),
        ({"expires_at": "2026-04-30T17:00:00"}, ["expires_at"]),
        ({"contact_emails": ["cto@acme.test", "not an email"]}, ["contact_emails.1"]),
        ({"organization": {"id": "", "name": "ACME"}}, ["organization.id"]),
        ({"target": "GOLD", "expected_arr": "-5"}, ["target", "expected_arr"]),
    ],
)
def test_a_new_trial_with_bad_fields_is_refused_per_field(fields, bad):
    assert sorted(f["field"] for f in refused_opening(**fields)) == sorted(bad)


def test_a_policy_with_inverted_extension_bounds_is_refused():
    with pytest.raises(ValidationError) as caught:
        opened({"extension_min_days": 10, "extension_max_days": 5})
    assert caught.value.details["fields"][0]["field"] == "policy"


def test_a_new_customer_starts_active_with_the_trial_features_granted():
    trial = opened()
    assert trial.state == T.ACTIVE
    assert [(e.type, e.payload) for e in effects(trial)] == [
        (
            "entitlements.grant",
            {
                "organization_id": "org-acme",
                "organization_name": "ACME",
                "target": "TEAMS",
                "trial_type": "STANDARD",
                "trial_id": "tr-1",
            },
        )
    ]


def test_an_existing_payer_waits_for_revops_before_anything_is_granted():
    trial = opened(existing_paid_subscription=True)
    assert trial.state == T.PROVISIONING
    (asked,) = effects(trial)
    assert (asked.name, asked.recipients) == ("revops_prepare_billing", ["role:revops"])
    assert "keeping the customer id" in asked.payload["body"]
    assert set(deadlines(trial)) == {"new_subscription_request", "expiry"}


# ---- provisioning ----------------------------------------------------------------------------


@pytest.mark.parametrize("order", [STEPS, STEPS[::-1], [STEPS[1], STEPS[2], STEPS[0]]])
def test_the_last_of_the_three_revops_steps_starts_the_trial(order):
    trial = opened(existing_paid_subscription=True)
    for step in order[:-1]:
        record = fire(trial, "record_provisioning_step", {"step": step, "note": "done"}, actor="revops@example.com")
        assert (record.to_state, trial.state) == (T.PROVISIONING, T.PROVISIONING)
    last = fire(trial, "record_provisioning_step", {"step": order[-1]}, actor="revops@example.com")
    assert (last.from_state, last.to_state) == (T.PROVISIONING, T.ACTIVE)
    assert {step: r.recorded_by for step, r in trial.data.provisioning.items()} == dict.fromkeys(
        STEPS, "revops@example.com"
    )
    assert [e.type for e in effects(trial)] == ["notify", "entitlements.grant"]


def test_recording_a_provisioning_step_twice_applies_it_once():
    trial = opened(existing_paid_subscription=True)
    fire(trial, "record_provisioning_step", {"step": STEPS[0]}, actor="mine@example.com")
    error = rejected(trial, ValidationError, "record_provisioning_step", {"step": STEPS[0]}, actor="otto@example.com")
    assert error.details["fields"] == [
        {"field": "step", "message": "is already recorded done by mine@example.com on 2026-03-02"}
    ]
    for step in STEPS[1:]:
        fire(trial, "record_provisioning_step", {"step": step})
    error = rejected(trial, InvalidTransition, "record_provisioning_step", {"step": STEPS[0]})
    assert error.details["state"] == T.ACTIVE
    assert len(trial.core.history) == 4


def test_provisioning_steps_are_only_the_handbook_ones():
    trial = opened(existing_paid_subscription=True)
    error = rejected(trial, ValidationError, "record_provisioning_step", {"step": "CALL_THE_BANK"})
    assert error.details["fields"][0]["field"] == "step"
    assert rejected(opened(), InvalidTransition, "record_provisioning_step", {"step": STEPS[0]}).details["state"] == (
        T.ACTIVE
    )


# ---- the table of edges ------------------------------------------------------------------------

EDGES = [
    (T.ACTIVE, "pause", {}, "customer asked for two weeks", T.PAUSED),
    (T.PAUSED, "resume", {}, None, T.ACTIVE),
    (T.ACTIVE, "convert", {"subscription_id": "sub_123"}, None, T.CONVERTED),
    (T.PAUSED, "convert", {}, None, T.CONVERTED),
    (T.PROVISIONING, "cancel", {}, "customer changed their mind", T.CANCELLED),
    (T.ACTIVE, "cancel", {}, "no budget this year", T.CANCELLED),
    (T.PAUSED, "cancel", {}, "champion left", T.CANCELLED),
    (T.ACTIVE, "extend", {"days": 7, "give_back": "intro to the CFO"}, "security review", T.ACTIVE),
    (T.PAUSED, "extend", {"days": 30, "give_back": "procurement started"}, "holidays", T.PAUSED),
    (T.ACTIVE, "record_customer_activity", {"note": "built a funnel"}, None, T.ACTIVE),
    (T.PAUSED, "record_customer_activity", {}, None, T.PAUSED),
    (T.ACTIVE, "change_owner", {"new_owner": "tam@example.com"}, "handover", T.ACTIVE),
    (T.PROVISIONING, "change_owner", {"new_owner": "tam@example.com"}, "handover", T.PROVISIONING),
]


@pytest.mark.parametrize(("source", "trigger", "params", "reason", "dest"), EDGES)
def test_every_edge(source, trigger, params, reason, dest):
    trial = in_state(source)
    record = fire(trial, trigger, params, reason=reason)
    assert (record.from_state, record.to_state, trial.state) == (source, dest, dest)
    assert (record.trigger, record.reason) == (trigger, reason)


ENDED = [T.CONVERTED, T.EXPIRED, T.CANCELLED]
CALLER_TRIGGERS = [
    ("extend", {"days": 7, "give_back": "x"}),
    ("pause", {}),
    ("resume", {}),
    ("convert", {}),
    ("cancel", {}),
    ("record_customer_activity", {}),
    ("confirm_new_subscription", {}),
    ("record_provisioning_step", {"step": STEPS[0]}),
]


@pytest.mark.parametrize("ended", ENDED)
@pytest.mark.parametrize(("trigger", "params"), CALLER_TRIGGERS)
def test_an_ended_trial_is_final(ended, trigger, params):
    trial = in_state(ended)
    error = rejected(trial, InvalidTransition, trigger, params, reason="why not")
    assert error.details["state"] == ended and error.details["allowed"] == []


@pytest.mark.parametrize(
    ("state", "trigger", "params"),
    [
        (T.PROVISIONING, "extend", {"days": 7, "give_back": "x"}),
        (T.PROVISIONING, "pause", {}),
        (T.PROVISIONING, "convert", {}),
        (T.PROVISIONING, "record_customer_activity", {}),
        (T.ACTIVE, "resume", {}),
        (T.PAUSED, "pause", {}),
    ],
)
def test_triggers_not_possible_from_a_state(state, trigger, params):
    error = rejected(in_state(state), InvalidTransition, trigger, params, reason="x")
    assert trigger not in error.details["allowed"]


def test_timer_triggers_belong_to_the_service():
    trial = opened(existing_paid_subscription=True)
    error = rejected(trial, Forbidden, "expire", {}, role=Role.ADMIN)
    assert error.details["required_role"] == "SYSTEM"
    assert "expire" not in rejected(trial, InvalidTransition, "teleport").details["allowed"]


def test_viewers_change_nothing():
    error = rejected(opened(), Forbidden, "pause", role=Role.VIEWER, reason="x")
    assert error.details["required_role"] == "OPERATOR"


# ---- extensions ------------------------------------------------------------------------------


@pytest.mark.parametrize(("days", "ok"), [(6, False), (7, True), (30, True), (31, False), (0, False), (-7, False)])
def test_extensions_are_7_to_30_days(days, ok):
    trial = opened()
    params = {"days": days, "give_back": "weekly check-in calls until trial end"}
    if ok:
        fire(trial, "extend", params, reason="their CTO is away")
        assert trial.data.expires_at == NOW + (14 + days) * DAY
    else:
        error = rejected(trial, ValidationError, "extend", params, reason="their CTO is away")
        assert error.details["fields"] == [{"field": "days", "message": "must be between 7 and 30 days (004:11816)"}]


def test_an_extension_needs_a_reason_and_the_customers_give_back():
    trial = opened()
    error = rejected(trial, GuardFailed, "extend", {"days": 7, "give_back": "verbal commitment"})
    assert error.details["unmet"][0]["guard"] == "reason_required"
    error = rejected(trial, ValidationError, "extend", {"days": 7}, reason="x")
    assert [f["field"] for f in error.details["fields"]] == ["give_back"]
    error = rejected(trial, ValidationError, "extend", {"days": 7, "give_back": ""}, reason="x")
    assert [f["field"] for f in error.details["fields"]] == ["give_back"]
    error = rejected(trial, ValidationError, "extend", {"days": "a week", "give_back": "x"}, reason="x")
    assert [f["field"] for f in error.details["fields"]] == ["days"]


def test_an_extension_moves_the_expiry_and_every_timer_with_it():
    trial = opened(existing_paid_subscription=True, expected_arr="90000")
    for step in STEPS:
        fire(trial, "record_provisioning_step", {"step": step})
    before = deadlines(trial)
    at = NOW + 3 * DAY
    fire(trial, "record_customer_activity", {}, at=at)
    fire(trial, "extend", {"days": 10, "give_back": "intro to the economic buyer"}, reason="late SDK", at=at)
    after = deadlines(trial, at)
    moved = {"expiry", "wrap_up_call", "first_customer_notice", "last_customer_notice", "new_subscription_request"}
    assert {name: after[name] - before[name] for name in moved} == dict.fromkeys(moved, 10 * DAY)
    assert after["feedback_session"] - before["feedback_session"] == 5 * DAY
    (extension,) = trial.data.extensions
    assert (extension.days, extension.reason, extension.give_back, extension.granted_by) == (
        10,
        "late SDK",
        "intro to the economic buyer",
        "tae@example.com",
    )
    assert extension.previous_expires_at == NOW + 28 * DAY and extension.expires_at == NOW + 38 * DAY


def test_an_extension_after_a_reminder_does_not_send_it_again_late():
    trial = opened()
    fired = run_timers(trial, NOW + 13 * DAY)
    assert [name for name, _, _ in fired if name in ("feedback_session", "wrap_up_call")] == [
        "feedback_session",
        "wrap_up_call",
    ]
    at = NOW + 13 * DAY
    fire(trial, "record_customer_activity", {}, at=at)
    fire(trial, "extend", {"days": 7, "give_back": "procurement in parallel"}, reason="legal review", at=at)
    # The new halfway point (day 10.5) lies behind us: it is not owed; the new wrap-up is.
    assert "feedback_session" not in deadlines(trial, at)
    assert deadlines(trial, at)["wrap_up_call"] == NOW + 14 * DAY


# ---- pausing -----------------------------------------------------------------------------------


def test_pausing_needs_a_reason_and_stops_only_the_engagement_timers():
    trial = provisioned()
    assert rejected(trial, GuardFailed, "pause").details["unmet"][0]["guard"] == "reason_required"
    fire(trial, "pause", reason="customer re-prioritised for a sprint")
    assert set(deadlines(trial)) == {
        "first_customer_notice",
        "last_customer_notice",
        "new_subscription_request",
        "expiry",
    }
    assert trial.data.pauses[0].reason == "customer re-prioritised for a sprint"


def test_resuming_restarts_the_engagement_timers_without_granting_again():
    trial = opened()
    fire(trial, "pause", reason="vacation")
    back = NOW + 8 * DAY
    fire(trial, "resume", at=back)
    after = deadlines(trial, back)
    # The halfway point and the wrap-up fell inside the pause: skipped, not sent late.
    assert "feedback_session" not in after and "wrap_up_call" not in after
    assert after["owner_inactivity_nudge"] == back + 3 * DAY
    assert after["team_lead_inactivity_nudge"] == back + 5 * DAY
    assert [e.type for e in effects(trial)] == ["entitlements.grant"]
    assert trial.data.pauses[0].resumed_at == back


def test_a_paused_trial_still_ends_and_its_customer_is_still_told():
    trial = opened()
    fire(trial, "pause", reason="waiting on their data team")
    fired = run_timers(trial, NOW + 15 * DAY)
    assert [(name, at - NOW) for name, at, _ in fired] == [
        ("first_customer_notice", 7 * DAY),
        ("last_customer_notice", 13 * DAY),
        ("expiry", 14 * DAY),
    ]
    assert trial.state == T.EXPIRED


# ---- timers ------------------------------------------------------------------------------------


def test_the_timers_of_a_28_day_trial():
    trial = opened(expected_arr="75000")
    assert deadlines(trial) == {
        "owner_inactivity_nudge": NOW + 3 * DAY,
        "team_lead_inactivity_nudge": NOW + 5 * DAY,
        "feedback_session": NOW + 14 * DAY,
        "wrap_up_call": NOW + 21 * DAY,
        "first_customer_notice": NOW + 21 * DAY,
        "last_customer_notice": NOW + 27 * DAY,
        "expiry": NOW + 28 * DAY,
    }


def test_silenced_notifications_send_the_customer_nothing():
    trial = opened(silence_notifications=True)
    assert not {"first_customer_notice", "last_customer_notice"} & set(deadlines(trial))
    run_timers(trial, NOW + 15 * DAY)
    assert trial.state == T.EXPIRED
    assert not effects(trial, "customer_expiry_notice")


def test_a_short_trial_skips_the_reminders_that_would_precede_its_start():
    trial = opened(expires_at=(NOW + 5 * DAY).isoformat(), existing_paid_subscription=True)
    assert deadlines(trial)["new_subscription_request"] == NOW + 2 * DAY
    for step in STEPS:
        fire(trial, "record_provisioning_step", {"step": step})
    due = deadlines(trial)
    assert "wrap_up_call" not in due and "first_customer_notice" not in due
    assert due["last_customer_notice"] == NOW + 4 * DAY and due["feedback_session"] == NOW + 2.5 * DAY


def test_a_trial_shorter_than_the_revops_lead_time_asks_revops_at_once():
    trial = opened(expires_at=(NOW + 2 * DAY).isoformat(), existing_paid_subscription=True)
    assert deadlines(trial)["new_subscription_request"] == NOW


def test_customer_activity_restarts_the_inactivity_nudges():
    trial = opened()
    fired = run_timers(trial, NOW + 4 * DAY)
    assert [name for name, _, _ in fired] == ["owner_inactivity_nudge"]
    assert [e.recipients for e in effects(trial, "owner_inactivity_nudge", "team_lead_inactivity_alert")] == [
        ["tae@example.com"]
    ]
    at = NOW + 4 * DAY
    fire(trial, "record_customer_activity", {"note": "built three dashboards"}, at=at)
    assert deadlines(trial, at)["owner_inactivity_nudge"] == at + 3 * DAY
    assert deadlines(trial, at)["team_lead_inactivity_nudge"] == at + 5 * DAY
    # Activity recorded late, and older than what is known, does not pull the nudges back.
    fire(trial, "record_customer_activity", {"at": (NOW + DAY).isoformat()}, at=at)
    assert deadlines(trial, at)["owner_inactivity_nudge"] == at + 3 * DAY
    fired = run_timers(trial, at + 5 * DAY)
    assert [(name, at_ - at) for name, at_, _ in fired if "inactivity" in name] == [
        ("owner_inactivity_nudge", 3 * DAY),
        ("team_lead_inactivity_nudge", 5 * DAY),
    ]
    assert [e.recipients for e in effects(trial, "owner_inactivity_nudge", "team_lead_inactivity_alert")] == [
        ["tae@example.com"],
        ["tae@example.com"],
        ["role:team_lead"],
    ]


@pytest.mark.parametrize(
    ("at", "message"),
    [
        (NOW + DAY, "must not be in the future"),
        (NOW - DAY, "must not be before the trial started"),
    ],
)
def test_customer_activity_must_lie_within_the_trial(at, message):
    error = rejected(opened(), ValidationError, "record_customer_activity", {"at": at.isoformat()})
    assert error.details["fields"] == [{"field": "at", "message": message}]


def test_customer_notices_go_to_the_contacts_or_else_the_owner():
    with_contacts, without = opened(), opened(contact_emails=[])
    for trial in (with_contacts, without):
        run_timers(trial, NOW + 7 * DAY)
    assert [e.recipients for e in effects(with_contacts, "customer_expiry_notice")] == [["cto@acme.test"]]
    assert [e.recipients for e in effects(without, "customer_expiry_notice")] == [["tae@example.com"]]
    (notice,) = effects(with_contacts, "customer_expiry_notice")
    assert notice.payload["subject"] == "Your teams trial ends on 2026-03-16"


def test_expiry_resets_the_features_to_the_free_plan():
    trial = opened()
    fired = run_timers(trial, NOW + 14 * DAY)
    assert fired[-1][0] == "expiry" and trial.state == T.EXPIRED and trial.terminal
    assert trial.core.history[-1].actor == TIMER_ACTOR
    reset = effects(trial, "reset_to_free_plan")[0]
    assert (reset.type, reset.payload["organization_id"], reset.payload["target"], reset.payload["plan"]) == (
        "entitlements.reset",
        "org-acme",
        "TEAMS",
        "FREE",
    )
    assert deadlines(trial, NOW + 14 * DAY) == {}


# ---- the existing payer's new subscription -------------------------------------------------------


def test_an_unconfirmed_new_subscription_is_requested_3_days_ahead_and_flagged_at_expiry():
    trial = provisioned()
    fired = run_timers(trial, NOW + 14 * DAY)
    assert ("new_subscription_request", NOW + 11 * DAY) in [(name, at) for name, at, _ in fired]
    assert trial.state == T.EXPIRED and trial.data.subscription_missing_at_expiry
    assert [e.recipients for e in effects(trial, "revops_create_subscription", "revops_restore_subscription")] == [
        ["role:revops"],
        ["role:revops"],
    ]


def test_a_confirmed_new_subscription_stops_the_request_and_the_flag():
    trial = provisioned()
    fire(trial, "confirm_new_subscription", {"subscription_id": "sub_9"}, actor="mine@example.com")
    assert "new_subscription_request" not in deadlines(trial)
    error = rejected(trial, GuardFailed, "confirm_new_subscription")
    assert error.details["unmet"] == [
        {
            "guard": "subscription_not_yet_confirmed",
            "message": "The new subscription was already confirmed by mine@example.com on 2026-03-02.",
        }
    ]
    run_timers(trial, NOW + 14 * DAY)
    assert trial.state == T.EXPIRED and not trial.data.subscription_missing_at_expiry
    assert not effects(trial, "revops_create_subscription", "revops_restore_subscription")


def test_a_new_customer_has_no_subscription_to_confirm():
    error = rejected(opened(), GuardFailed, "confirm_new_subscription")
    assert error.details["unmet"][0]["guard"] == "existing_payer"


def test_cancelling_before_activation_resets_nothing_but_asks_revops_to_restore_billing():
    trial = opened(existing_paid_subscription=True)
    fire(trial, "record_provisioning_step", {"step": ProvisioningStep.CANCEL_SUBSCRIPTION})
    assert rejected(trial, GuardFailed, "cancel").details["unmet"][0]["guard"] == "reason_required"
    fire(trial, "cancel", reason="deal fell through")
    assert trial.data.cancellation_reason == "deal fell through"
    assert [e.name for e in effects(trial)] == ["revops_prepare_billing", "revops_restore_subscription"]


def test_cancelling_a_running_trial_resets_its_features():
    trial = opened()
    fire(trial, "cancel", reason="duplicate trial")
    assert [e.type for e in effects(trial)] == ["entitlements.grant", "entitlements.reset"]


def test_converting_keeps_the_features_and_tells_revops():
    trial = opened()
    fire(trial, "convert", {"subscription_id": "sub_42"})
    assert trial.data.subscription_id == "sub_42"
    assert [(e.type, e.recipients) for e in effects(trial)] == [
        ("entitlements.grant", []),
        ("notify", ["role:revops"]),
    ]
    assert deadlines(trial) == {}


# ---- describing --------------------------------------------------------------------------------


def test_describe_lists_what_a_caller_may_do_now():
    trial = opened(existing_paid_subscription=True)
    described = {(a.trigger, a.to_state): a for a in trial.describe(NOW)}
    assert set(described) == {
        ("record_provisioning_step", None),
        ("record_provisioning_step", T.ACTIVE),
        ("confirm_new_subscription", None),
        ("cancel", T.CANCELLED),
        ("change_owner", None),
    }
    assert described[("confirm_new_subscription", None)].allowed
    active = {(a.trigger, a.to_state): a for a in opened().describe(NOW)}
    assert not active[("confirm_new_subscription", None)].allowed
    assert active[("pause", T.PAUSED)].allowed and ("expire", T.EXPIRED) not in active
