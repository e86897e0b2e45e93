"""Churn risk: an account at risk of churning, from the flag to its recovery or its churn.

Rules from the handbook (``004:<line>``), as decided in ``shared/domain/README.md``
section 7 (reference-accounts.md §3):

- an account is flagged at risk for one of the handbook's reasons (004:11485-11505), by an
  operator or by signals the lifecycle records and judges itself: usage down 30% or more
  against the account's baseline with no seasonal explanation (004:11495), health "Poor"
  for 4 or more consecutive weeks (004:11503), a late payment suspended with no reply
  (004:11499), a full data export requested (004:11501), a renewal under 90 days out with
  negative engagement (004:11505);
- signals that meet no criterion are recorded in WATCHING (a health run needs its weeks);
- one open churn risk per account: a second flag adds its reason (the service routes every
  flag and signal of an account to its open instance: ``services/churn_risk.py``);
- FLAGGED: a recovery call is due within 48 hours: the owner is told at once, the team lead
  at 48 hours without a call (004:11588); the flag is posted to #customer-churn (004:11588);
- while flagged, the account's renewals are at risk (the renewal's ``churn_risk`` flag);
  RECOVERED clears the flag this lifecycle set, and only that one;
- IN_RECOVERY: a recovery plan names the churn scenario and its de-risking strategy
  (004:11468-11480); the weekly at-risk review asks the owner for a status note (004:11588);
- CHURNED: the churn retro is due within a week, posted to #customer-churn (004:11588).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, TypeAlias, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from workflows.churn_risk import messages
from workflows.engine import vocabulary as lc

KIND = "churn-risk"
RENEWAL_KIND = "renewal"
CHURN_CHANNEL = "customer-churn"


class ChurnRiskState(enum.StrEnum):
    """Where an account at risk stands (004:11485-11588)."""

    WATCHING = "WATCHING"
    FLAGGED = "FLAGGED"
    RECOVERY_CALL_HELD = "RECOVERY_CALL_HELD"
    IN_RECOVERY = "IN_RECOVERY"
    RECOVERED = "RECOVERED"
    CHURNED = "CHURNED"


class FlagReason(enum.StrEnum):
    """Why an account is at risk: the handbook's list (004:11487-11503)."""

    EVALUATING_ALTERNATIVES = "EVALUATING_ALTERNATIVES"  # mentions alternatives or churning
    USAGE_DROP = "USAGE_DROP"  # usage down 30%+, no seasonal explanation
    CHAMPION_LEFT = "CHAMPION_LEFT"  # key champion left, no replacement relationship
    PAYMENT_FAILED_UNRESPONSIVE = "PAYMENT_FAILED_UNRESPONSIVE"  # payment failed, customer unresponsive
    DATA_EXPORT_REQUESTED = "DATA_EXPORT_REQUESTED"  # a full data export requested
    POOR_HEALTH = "POOR_HEALTH"  # health "Poor" for 4+ consecutive weeks
    RENEWAL_NEGATIVE_ENGAGEMENT = "RENEWAL_NEGATIVE_ENGAGEMENT"  # renewal <90 days, negative engagement
    NOT_SOURCE_OF_TRUTH = "NOT_SOURCE_OF_TRUTH"  # all analysis happens outside the product


class HealthRating(enum.StrEnum):
    """A weekly health score's category."""

    GOOD = "GOOD"
    FAIR = "FAIR"
    POOR = "POOR"


class ChurnSignal(enum.StrEnum):
    """A recorded event that flags an account by itself (004:11499-11505)."""

    PAYMENT_FAILED_UNRESPONSIVE = "PAYMENT_FAILED_UNRESPONSIVE"  # a late payment suspended, no reply
    DATA_EXPORT_REQUESTED = "DATA_EXPORT_REQUESTED"
    RENEWAL_NEGATIVE_ENGAGEMENT = "RENEWAL_NEGATIVE_ENGAGEMENT"  # flags only within the renewal window


class ChurnScenario(enum.StrEnum):
    """The handbook's churn scenarios a recovery plan addresses (004:11468-11480)."""

    CHAMPION_LEAVES = "CHAMPION_LEAVES"
    CHAMPION_NOT_DECISION_MAKER = "CHAMPION_NOT_DECISION_MAKER"
    BUILDS_INTERNALLY_OR_SWITCHES = "BUILDS_INTERNALLY_OR_SWITCHES"
    POOR_CUSTOMER_EXPERIENCE = "POOR_CUSTOMER_EXPERIENCE"
    CANNOT_EXTRACT_VALUE = "CANNOT_EXTRACT_VALUE"
    MISSING_CRITICAL_FEATURE = "MISSING_CRITICAL_FEATURE"
    NOT_TRUSTED_AS_SOURCE_OF_TRUTH = "NOT_TRUSTED_AS_SOURCE_OF_TRUTH"
    PRIVACY_COMPLIANCE_CONCERNS = "PRIVACY_COMPLIANCE_CONCERNS"
    OUTSIDE_OUR_CONTROL = "OUTSIDE_OUR_CONTROL"  # acquisition, shut down, not ICP fit (004:11482)


# The handbook's table, scenario -> de-risking strategy (004:11468-11482).
DE_RISKING: dict[ChurnScenario, str] = {
    ChurnScenario.CHAMPION_LEAVES: "Multi-thread relationships across teams: the more users actively in the "
    "product, the less one departure matters.",
    ChurnScenario.CHAMPION_NOT_DECISION_MAKER: "Identify and build relationships with the actual decision makers; "
    "the champion can help with introductions.",
    ChurnScenario.BUILDS_INTERNALLY_OR_SWITCHES: "Drive multi-product adoption: five products are harder to "
    "replace than one.",
    ChurnScenario.POOR_CUSTOMER_EXPERIENCE: "Stay on top of open issues proactively, circle back before they "
    "follow up, rebuild trust through responsiveness.",
    ChurnScenario.CANNOT_EXTRACT_VALUE: "Offer workshops, training or hands-on help building specific insights, "
    "without waiting to be asked.",
    ChurnScenario.MISSING_CRITICAL_FEATURE: "Loop in the relevant PM and engineering team, be transparent about "
    "what can and cannot be done, and track the request in Vitally.",
    ChurnScenario.NOT_TRUSTED_AS_SOURCE_OF_TRUTH: "Dig into data discrepancies, often an implementation issue.",
    ChurnScenario.PRIVACY_COMPLIANCE_CONCERNS: "Explain data controls, masking, privacy controls, cookieless "
    "tracking and data deletion options.",
    ChurnScenario.OUTSIDE_OUR_CONTROL: "Document what happened and share the learnings with the team.",
}

# The reason each signal flags (the renewal's only within the policy's window).
SIGNAL_REASONS = {
    ChurnSignal.PAYMENT_FAILED_UNRESPONSIVE: FlagReason.PAYMENT_FAILED_UNRESPONSIVE,
    ChurnSignal.DATA_EXPORT_REQUESTED: FlagReason.DATA_EXPORT_REQUESTED,
    ChurnSignal.RENEWAL_NEGATIVE_ENGAGEMENT: FlagReason.RENEWAL_NEGATIVE_ENGAGEMENT,
}

C = ChurnRiskState
OPEN_STATES = (C.WATCHING, C.FLAGGED, C.RECOVERY_CALL_HELD, C.IN_RECOVERY)
AT_RISK_STATES = (C.FLAGGED, C.RECOVERY_CALL_HELD, C.IN_RECOVERY)

Person = Annotated[str, Field(min_length=1, max_length=200)]
Reference = Annotated[str, Field(min_length=1, max_length=200)]
# Readings kept per instance: a year of weekly health scores, enough for any run the policy asks.
MAX_READINGS = 60


class ChurnRiskPolicy(BaseModel):
    """Every threshold and duration of the churn-risk lifecycle, pinned per instance."""

    model_config = ConfigDict(extra="forbid")

    usage_drop: Decimal = Field(Decimal("0.30"), gt=0, le=1)  # 004:11495
    poor_health_weeks: int = Field(4, ge=1, le=MAX_READINGS)  # 004:11503
    renewal_window: timedelta = Field(timedelta(days=90), gt=timedelta(0))  # 004:11505
    recovery_call_within: timedelta = Field(timedelta(hours=48), gt=timedelta(0))  # 004:11588
    review_every: timedelta = Field(timedelta(days=7), gt=timedelta(0))  # 004:11588
    retro_within: timedelta = Field(timedelta(days=7), gt=timedelta(0))  # 004:11588


class RecordedReason(BaseModel):
    """A reason the account is at risk, and who or what recorded it."""

    reason: FlagReason
    note: str | None = None
    recorded_by: str
    recorded_at: datetime


class UsageReading(BaseModel):
    """Usage measured against the account's baseline."""

    usage: Decimal
    baseline: Decimal
    seasonal: bool
    measured_on: date
    recorded_at: datetime


class HealthReading(BaseModel):
    """The health score's category for one week (the week's Monday)."""

    week_of: date
    rating: HealthRating
    recorded_at: datetime


class RecordedSignal(BaseModel):
    signal: ChurnSignal
    reference: str | None = None
    renewal_ends_on: date | None = None
    recorded_at: datetime


class RecoveryCall(BaseModel):
    held_on: date
    notes: str | None = None
    recorded_by: str


class RecoveryPlan(BaseModel):
    """The churn scenario the plan addresses and the handbook's de-risking strategy for it."""

    scenario: ChurnScenario
    strategy: str
    actions: str
    recorded_by: str
    recorded_at: datetime


class StatusNote(BaseModel):
    note: str
    recorded_by: str
    recorded_at: datetime


class ChurnRiskData(BaseModel):
    account: lc.Account
    owner: Person
    previous_owners: list[str] = Field(default_factory=list)
    reasons: list[RecordedReason] = Field(default_factory=list)
    flagged_at: datetime | None = None
    usage_readings: list[UsageReading] = Field(default_factory=list)
    health_readings: list[HealthReading] = Field(default_factory=list)
    signals: list[RecordedSignal] = Field(default_factory=list)
    recovery_call: RecoveryCall | None = None
    recovery_plan: RecoveryPlan | None = None
    status_notes: list[StatusNote] = Field(default_factory=list)
    status_requested_at: datetime | None = None


# ``Ctx[XParams]`` for code that reads a trigger's params: its reads are type-checked.
Ctx = lc.Context[ChurnRiskData, ChurnRiskPolicy, lc.ParamsT]
Effect: TypeAlias = lc.EffectSpec[ChurnRiskData, ChurnRiskPolicy]


# ---- parameters -----------------------------------------------------------------------------


class AddReasonParams(lc.Params):
    flag_reason: FlagReason
    note: lc.Text | None = None


class UsageReadingParams(lc.Params):
    usage: Decimal = Field(ge=0, description="The usage measured (events, sessions...), in the baseline's unit.")
    baseline: Decimal = Field(gt=0, description="The account's usual usage in the same unit.")
    seasonal: bool = Field(False, description="The drop has a seasonal explanation: it flags nothing.")
    measured_on: date


class HealthReadingParams(lc.Params):
    week_of: date = Field(description="Any day of the week the score is for.")
    rating: HealthRating


class SignalParams(lc.Params):
    signal: ChurnSignal
    reference: Reference | None = Field(None, description="What the signal concerns: an invoice, a ticket...")
    renewal_ends_on: date | None = Field(None, description="Required for RENEWAL_NEGATIVE_ENGAGEMENT.")

    @model_validator(mode="after")
    def _renewal_date(self) -> SignalParams:
        if self.signal is ChurnSignal.RENEWAL_NEGATIVE_ENGAGEMENT and self.renewal_ends_on is None:
            raise ValueError("renewal_ends_on is required for a renewal with negative engagement")
        return self


# The params of the triggers that record a signal, and of those that may flag a reason.
SignalInputT = TypeVar("SignalInputT", bound=UsageReadingParams | HealthReadingParams | SignalParams)
FlaggingInput = AddReasonParams | UsageReadingParams | HealthReadingParams | SignalParams


class RecoveryCallParams(lc.Params):
    held_on: date
    notes: lc.Text | None = None


class RecoveryPlanParams(lc.Params):
    scenario: ChurnScenario
    actions: lc.Text = Field(description="What the owner will do, beyond the handbook's strategy.")


class StatusNoteParams(lc.Params):
    note: lc.Text


# ---- the signals, judged --------------------------------------------------------------------


def usage_dropped(reading: UsageReadingParams | UsageReading, policy: ChurnRiskPolicy) -> bool:
    """Down by the policy's share or more against the baseline, with no seasonal explanation (004:11495)."""
    return not reading.seasonal and reading.usage <= reading.baseline * (1 - policy.usage_drop)


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def with_health_reading(readings: list[HealthReading], reading: HealthReading) -> list[HealthReading]:
    """The readings with this week's replaced, in week order, the oldest dropped beyond ``MAX_READINGS``."""
    kept = [r for r in readings if r.week_of != reading.week_of]
    return sorted([*kept, reading], key=lambda r: r.week_of)[-MAX_READINGS:]


def poor_weeks(readings: list[HealthReading]) -> int:
    """How many consecutive weeks, up to the latest reading, the health was Poor (004:11503)."""
    run, expected = 0, None
    for reading in reversed(readings):
        if reading.rating is not HealthRating.POOR or (expected is not None and reading.week_of != expected):
            break
        run += 1
        expected = reading.week_of - timedelta(days=7)
    return run


def _health_reading(params: HealthReadingParams, now: datetime) -> HealthReading:
    return HealthReading(week_of=monday(params.week_of), rating=params.rating, recorded_at=now)


def _signal_reason(ctx: Ctx[FlaggingInput]) -> FlagReason | None:
    """The reason the request's signal flags, if it meets its criterion."""
    params = ctx.params
    if isinstance(params, AddReasonParams):
        return params.flag_reason
    if isinstance(params, UsageReadingParams):
        return FlagReason.USAGE_DROP if usage_dropped(params, ctx.policy) else None
    if isinstance(params, HealthReadingParams):
        readings = with_health_reading(ctx.data.health_readings, _health_reading(params, ctx.now))
        return FlagReason.POOR_HEALTH if poor_weeks(readings) >= ctx.policy.poor_health_weeks else None
    if isinstance(params, SignalParams):
        if params.signal is ChurnSignal.RENEWAL_NEGATIVE_ENGAGEMENT:
            ends = params.renewal_ends_on
            return FlagReason.RENEWAL_NEGATIVE_ENGAGEMENT if ends and _renewal_soon(ctx, ends) else None
        return SIGNAL_REASONS[params.signal]
    return None


def _renewal_soon(ctx: Ctx, ends_on: date) -> bool:
    return ends_on - ctx.now.date() < ctx.policy.renewal_window


def _recorded(ctx: Ctx) -> set[FlagReason]:
    return {r.reason for r in ctx.data.reasons}


def _adds_reason(ctx: Ctx[FlaggingInput]) -> bool:
    reason = _signal_reason(ctx)
    return reason is not None and reason not in _recorded(ctx)


# ---- guards and checks ----------------------------------------------------------------------


@lc.guard("new_reason", "The reason is not recorded yet.", on_input=True)
def new_reason(ctx: Ctx[AddReasonParams]) -> list[str]:
    reason = ctx.params.flag_reason
    if reason in _recorded(ctx):
        return [f"The account is already at risk for {reason.value}."]
    return []


def _validate_usage(ctx: Ctx[UsageReadingParams]) -> dict[str, str]:
    return lc.reported_moment_problems("measured_on", ctx.params.measured_on, now=ctx.now.date())


def _validate_health(ctx: Ctx[HealthReadingParams]) -> dict[str, str]:
    return lc.reported_moment_problems("week_of", ctx.params.week_of, now=ctx.now.date())


def _validate_call(ctx: Ctx[RecoveryCallParams]) -> dict[str, str]:
    flagged_on = ctx.data.flagged_at.date() if ctx.data.flagged_at else None
    return lc.reported_moment_problems(
        "held_on",
        ctx.params.held_on,
        now=ctx.now.date(),
        since=flagged_on,
        since_what=f"the account was flagged ({flagged_on})",
    )


# ---- data changes ---------------------------------------------------------------------------


def _add_reason(ctx: Ctx[FlaggingInput]) -> None:
    reason = _signal_reason(ctx)
    if reason is None or reason in _recorded(ctx):
        return
    ctx.data.reasons.append(lc.stamped(RecordedReason, ctx, reason=reason))
    if ctx.data.flagged_at is None:
        ctx.data.flagged_at = ctx.now


def _record_usage(ctx: Ctx[UsageReadingParams]) -> None:
    ctx.data.usage_readings = [*ctx.data.usage_readings, lc.stamped(UsageReading, ctx)][-MAX_READINGS:]
    _add_reason(ctx)


def _record_health(ctx: Ctx[HealthReadingParams]) -> None:
    ctx.data.health_readings = with_health_reading(ctx.data.health_readings, _health_reading(ctx.params, ctx.now))
    _add_reason(ctx)


def _record_signal(ctx: Ctx[SignalParams]) -> None:
    ctx.data.signals = [*ctx.data.signals, lc.stamped(RecordedSignal, ctx)][-MAX_READINGS:]
    _add_reason(ctx)


def _record_call(ctx: Ctx[RecoveryCallParams]) -> None:
    ctx.data.recovery_call = lc.stamped(RecoveryCall, ctx)


def _record_plan(ctx: Ctx[RecoveryPlanParams]) -> None:
    ctx.data.recovery_plan = lc.stamped(RecoveryPlan, ctx, strategy=DE_RISKING[ctx.params.scenario])


def _record_status_note(ctx: Ctx[StatusNoteParams]) -> None:
    ctx.data.status_notes.append(lc.stamped(StatusNote, ctx))


def _request_status(ctx: Ctx) -> None:
    ctx.data.status_requested_at = ctx.now


# ---- the clock ------------------------------------------------------------------------------


def _recovery_call_due(ctx: Ctx) -> datetime:
    return (ctx.data.flagged_at or ctx.state_entered_at) + ctx.policy.recovery_call_within


def _next_review(ctx: Ctx) -> datetime:
    """A week after the plan, the last status note or the last request for one, whichever is latest."""
    moments = [ctx.state_entered_at]
    if ctx.data.status_notes:
        moments.append(ctx.data.status_notes[-1].recorded_at)
    if ctx.data.status_requested_at is not None:
        moments.append(ctx.data.status_requested_at)
    return max(moments) + ctx.policy.review_every


# ---- effects --------------------------------------------------------------------------------


def _reasons_text(data: ChurnRiskData) -> str:
    return ", ".join(lc.in_words(r.reason) for r in data.reasons) or "no reason yet"


def message_values(ctx: Ctx) -> dict[str, object]:
    """Every value a churn-risk message may name (``messages.py``)."""
    data, policy = ctx.data, ctx.policy
    plan = data.recovery_plan
    call_due = _recovery_call_due(ctx)
    retro_due = ctx.now + policy.retro_within
    return {
        "account": data.account.name,
        "owner": data.owner,
        "reasons": _reasons_text(data),
        "flagged_on": lc.day(data.flagged_at or ctx.now),
        "recovery_call_due": call_due.isoformat(timespec="minutes"),
        "recovery_call_within": f"within {lc.duration(policy.recovery_call_within)}",
        "recovery_call_window": lc.duration(policy.recovery_call_within),
        "review_every": lc.duration(policy.review_every),
        "scenario": lc.in_words(plan.scenario) if plan else "none yet",
        "strategy": plan.strategy if plan else "no strategy chosen",
        "retro_due": lc.day(retro_due),
        "retro_within": lc.within(ctx.now, retro_due),
    }


remind = lc.Reminders(message_values)


def _flag_renewals(name: str, description: str, *, at_risk: bool, reason: str) -> Effect:
    """Set or clear, on the account's open renewals, the churn-risk flag that names this churn risk."""
    return lc.fire_on_account(
        name,
        description,
        account_id=lambda ctx: ctx.data.account.id,
        kinds=(RENEWAL_KIND,),
        trigger="churn_risk",
        params=lambda ctx: {"churn_risk_id": ctx.entity_id, "at_risk": at_risk},
        reason=lambda ctx: reason,
    )


RENEWALS_AT_RISK = _flag_renewals(
    "renewals_at_risk",
    "The account's open renewals are at risk while it is (domain README §7).",
    at_risk=True,
    reason="churn risk",
)
RENEWALS_RISK_CLEARED = _flag_renewals(
    "renewals_risk_cleared",
    "Recovered: the flag this churn risk set on the account's renewals is cleared, and only it.",
    at_risk=False,
    reason="churn risk recovered",
)

FLAGGED_EFFECTS: tuple[Effect, ...] = (
    remind.send(
        "recovery_call_due",
        "Tell the owner at once: a recovery call is due within the policy's window (004:11588).",
        messages.FLAGGED_OWNER,
        to=lc.owner,
    ),
    remind.send(
        "flag_posted",
        "Post the flag to #customer-churn (004:11588).",
        messages.FLAGGED_CHANNEL,
        to=lc.channel(CHURN_CHANNEL),
    ),
    RENEWALS_AT_RISK,
)


REASON_ADDED = remind.send(
    "reason_added", "Tell the owner the account is at risk for one more reason.", messages.REASON_ADDED, to=lc.owner
)


# ---- timers ---------------------------------------------------------------------------------

TIMERS: tuple[lc.TimerSpec[ChurnRiskData, ChurnRiskPolicy], ...] = (
    lc.TimerSpec(
        "recovery_call_escalation",
        (C.FLAGGED,),
        _recovery_call_due,
        "No recovery call within the policy's window of flagging: tell the team lead",
        effects=(
            remind.send(
                "recovery_call_overdue",
                "No recovery call within the policy's window of flagging: tell the team lead (004:11588).",
                messages.RECOVERY_CALL_OVERDUE,
                to=lc.role("team_lead"),
            ),
        ),
        source_ref="004:11588",
    ),
    lc.TimerSpec(
        "weekly_review",
        (C.IN_RECOVERY,),
        _next_review,
        "The weekly at-risk review: ask the owner for a status note",
        trigger="request_status",
        source_ref="004:11588",
    ),
)


# ---- transitions ----------------------------------------------------------------------------


def _signal_transitions(
    trigger: str,
    params: type[SignalInputT],
    description: str,
    apply: Callable[[Ctx[SignalInputT]], None],
    validate: Callable[[Ctx[SignalInputT]], Mapping[str, str]] | None,
    source_ref: str,
) -> tuple[lc.TransitionSpec[ChurnRiskData, ChurnRiskPolicy, SignalInputT], ...]:
    """A signal flags a watched account when it meets its criterion, and is recorded in any case."""
    return (
        lc.TransitionSpec(
            trigger,
            (C.WATCHING,),
            C.FLAGGED,
            f"{description}: it meets its criterion, the account is flagged.",
            params=params,
            validate=validate,
            when=_adds_reason,
            apply=apply,
            source_ref=source_ref,
        ),
        lc.TransitionSpec(
            trigger,
            AT_RISK_STATES,
            None,
            f"{description}: it meets a criterion not recorded yet, the reason is added.",
            params=params,
            validate=validate,
            when=_adds_reason,
            apply=apply,
            effects=(REASON_ADDED,),
            in_diagram=False,
            source_ref=source_ref,
        ),
        lc.TransitionSpec(
            trigger,
            OPEN_STATES,
            None,
            f"{description}: recorded.",
            params=params,
            validate=validate,
            when=lambda ctx: not _adds_reason(ctx),
            apply=apply,
            in_diagram=False,
            source_ref=source_ref,
        ),
    )


TRANSITIONS: tuple[lc.TransitionSpec[ChurnRiskData, ChurnRiskPolicy], ...] = (
    lc.TransitionSpec(
        "add_reason",
        (C.WATCHING,),
        C.FLAGGED,
        "Flag the account at risk for one of the handbook's reasons.",
        params=AddReasonParams,
        guards=(new_reason,),
        apply=_add_reason,
        source_ref="004:11485-11505, 004:12700",
    ),
    lc.TransitionSpec(
        "add_reason",
        AT_RISK_STATES,
        None,
        "Flagged again: the reason is added to the open churn risk.",
        params=AddReasonParams,
        guards=(new_reason,),
        apply=_add_reason,
        effects=(REASON_ADDED,),
        in_diagram=False,
        source_ref="domain README §7",
    ),
    *_signal_transitions(
        "record_usage",
        UsageReadingParams,
        "A usage reading against the account's baseline",
        _record_usage,
        _validate_usage,
        "004:11495",
    ),
    *_signal_transitions(
        "record_health", HealthReadingParams, "A weekly health score", _record_health, _validate_health, "004:11503"
    ),
    *_signal_transitions(
        "record_signal", SignalParams, "A recorded churn signal", _record_signal, None, "004:11499-11505"
    ),
    lc.TransitionSpec(
        "record_recovery_call",
        (C.FLAGGED,),
        C.RECOVERY_CALL_HELD,
        "The recovery call with the account was held.",
        params=RecoveryCallParams,
        validate=_validate_call,
        apply=_record_call,
        source_ref="004:11588",
    ),
    lc.TransitionSpec(
        "record_recovery_plan",
        (C.RECOVERY_CALL_HELD,),
        C.IN_RECOVERY,
        "The recovery plan: the churn scenario and the handbook's de-risking strategy for it.",
        params=RecoveryPlanParams,
        apply=_record_plan,
        source_ref="004:11468-11482",
    ),
    lc.TransitionSpec(
        "record_status_note",
        (C.IN_RECOVERY,),
        None,
        "A status note for the weekly at-risk review.",
        params=StatusNoteParams,
        apply=_record_status_note,
        in_diagram=False,
        source_ref="004:11588",
    ),
    lc.TransitionSpec(
        "request_status",
        (C.IN_RECOVERY,),
        None,
        "The weekly at-risk review is due: ask the owner for a status note.",
        role=lc.Role.SYSTEM,
        apply=_request_status,
        effects=(
            remind.send(
                "status_note_requested",
                "Ask the owner for a status note for the weekly at-risk review (004:11588).",
                messages.STATUS_NOTE_REQUESTED,
                to=lc.owner,
            ),
        ),
        in_diagram=False,
        source_ref="004:11588",
    ),
    lc.TransitionSpec(
        "mark_recovered",
        (C.IN_RECOVERY,),
        C.RECOVERED,
        "The account is out of danger; say why.",
        guards=(lc.reason_required("Say why the account is no longer at risk."),),
        effects=(RENEWALS_RISK_CLEARED,),
        source_ref="domain README §7",
    ),
    lc.TransitionSpec(
        "record_churn",
        AT_RISK_STATES,
        C.CHURNED,
        "The account churned (its subscription was cancelled); say what happened.",
        guards=(lc.reason_required("Say what happened."),),
        effects=(
            remind.send(
                "churn_retro_due",
                "Post the churn to #customer-churn: the retro is due within the policy's span (004:11588).",
                messages.CHURNED,
                to=lambda ctx: [*lc.owner(ctx), f"channel:{CHURN_CHANNEL}"],
            ),
        ),
        source_ref="004:11588",
    ),
    lc.change_owner(OPEN_STATES),
)


STATES = (
    lc.StateSpec(C.WATCHING, "Signals recorded; none meets a churn-risk criterion yet."),
    lc.StateSpec(
        C.FLAGGED,
        "At risk: a recovery call is due within the policy's window (004:11490-11505, 004:11588).",
        on_enter=FLAGGED_EFFECTS,
    ),
    lc.StateSpec(C.RECOVERY_CALL_HELD, "The recovery call was held; a recovery plan comes next."),
    lc.StateSpec(C.IN_RECOVERY, "The recovery plan runs; reviewed at the weekly at-risk review (004:11588)."),
    lc.StateSpec(C.RECOVERED, "No longer at risk: the renewals' churn-risk flag is cleared.", terminal=True),
    lc.StateSpec(
        C.CHURNED, "The account churned; the retro is due within the policy's span (004:11588).", terminal=True
    ),
)


# ---- how it is exposed ------------------------------------------------------------------------

Instance = lc.Projected[ChurnRiskData, ChurnRiskPolicy]


def recovery_call_due_at(instance: Instance) -> datetime | None:
    """When the recovery call is due, while flagged (004:11588)."""
    flagged = instance.data.flagged_at
    if instance.state != C.FLAGGED or flagged is None:
        return None
    return flagged + instance.policy.recovery_call_within


def flag_reasons(data: ChurnRiskData) -> list[FlagReason]:
    """The reasons the account is at risk, in the order they were recorded."""
    return [r.reason for r in data.reasons]


def consecutive_poor_weeks(data: ChurnRiskData) -> int:
    """Consecutive weeks, up to the latest health reading, with a Poor health score."""
    return poor_weeks(data.health_readings)


EXPOSURE = lc.Exposure[ChurnRiskData, ChurnRiskPolicy](
    description="An account at risk of churning, from the flag to its recovery or its churn (004:11485-11588).",
    states=ChurnRiskState,
    columns=(
        lc.account_id_column(),
        lc.Column(
            "flagged_at",
            type=datetime,
            nullable=True,
            match=lc.Match.RANGE,
            filter_names=("flaggedAfter", "flaggedBefore"),
            orderable=True,
        ),
        lc.overdue_column(
            "recovery_call_due_at",
            recovery_call_due_at,
            "recoveryCallOverdue",
            "True: flagged and the recovery call is past due; false: all others.",
        ),
        lc.Column("opened_at", type=datetime, value=lambda p: p.opened_at, orderable=True),
    ),
    default_order="OPENED_AT_DESC",
    # One open churn risk per account: flags and signals are fired by account, opening the
    # account's next churn risk when none is open (a second flag adds its reason).
    opening=None,
    billing_events={
        # "CHURNED (subscription cancelled, or the owner records it)" (domain README §7).
        "customer.subscription.deleted": lc.BillingTrigger(
            trigger="record_churn", reason="Subscription cancelled in billing"
        ),
    },
    per_account=lc.PerAccount(
        mutations={
            "add_reason": lc.Mutation(
                "flagChurnRisk",
                input="FlagChurnRiskInput",
                description="Flag an account at risk for one of the handbook's reasons: opens its churn risk, or adds "
                "the reason to the open one (004:11485-11505).",
            ),
            "record_usage": lc.Mutation(
                "recordUsageReading",
                input="UsageReadingInput",
                description="Record the account's usage against its baseline; a drop by the policy's share or more, "
                "not seasonal, flags it (004:11495).",
            ),
            "record_health": lc.Mutation(
                "recordHealthReading",
                input="HealthReadingInput",
                description="Record the account's weekly health score; Poor for the policy's run of consecutive weeks "
                "flags it (004:11503).",
            ),
            "record_signal": lc.Mutation(
                "recordChurnSignal",
                input="ChurnSignalInput",
                description="Record a churn signal: a late payment suspended with no reply, a full data export "
                "requested, or negative engagement with a renewal near (004:11499-11505).",
            ),
        },
        events={"usage.reading": "record_usage", "health.reading": "record_health"},
    ),
    mutations={
        "add_reason": None,
        "record_usage": None,
        "record_health": None,
        "record_signal": None,
        "record_recovery_call": lc.Mutation("recordChurnRecoveryCall", input="ChurnRecoveryCallInput"),
        "record_recovery_plan": lc.Mutation("recordChurnRecoveryPlan", input="ChurnRecoveryPlanInput"),
        "record_status_note": lc.Mutation("recordChurnStatusNote", input="ChurnStatusNoteInput"),
        "mark_recovered": lc.Mutation("markChurnRiskRecovered", input="ChurnRiskReasonInput"),
        "record_churn": lc.Mutation("recordChurn", input="ChurnRiskReasonInput"),
        "change_owner": None,
    },
    computed={"flag_reasons": flag_reasons, "consecutive_poor_weeks": consecutive_poor_weeks},
    computed_from_instance={"recovery_call_due_at": recovery_call_due_at},
    type_names={
        RecordedReason: "ChurnRiskReason",
        UsageReading: "UsageReading",
        HealthReading: "HealthReading",
        RecordedSignal: "ChurnSignalRecord",
        RecoveryCall: "RecoveryCall",
        RecoveryPlan: "RecoveryPlan",
        StatusNote: "ChurnStatusNote",
    },
)


CHURN_RISK = lc.LifecycleSpec(
    KIND,
    "Churn risk",
    "An account at risk of churning: flagged by an operator or by the signals it judges, a prompt "
    "recovery call, a recovery plan reviewed every week, then recovered or churned.",
    STATES,
    TRANSITIONS,
    TIMERS,
    ChurnRiskData,
    ChurnRiskPolicy,
    initial_state=lambda data: C.WATCHING,
    summary_of=lambda data: f"{data.account.name}: {_reasons_text(data)}",
    exposure=EXPOSURE,
)


ChurnRiskWorkflow = lc.lifecycle_workflow(CHURN_RISK)
