"""Trial: a time-boxed trial of a paid plan for an organization, extended, converted or expired.

Rules from the handbook (``shared/seeds/004_59a801b964a2a19e.txt``, cited as ``004:<line>``), as decided in
``shared/domain/README.md`` section 2: an organization's STANDARD trial of PAID, TEAMS or ENTERPRISE
(004:12845-12851), 14 days or 28 over $60,000 ARR, extensible; RevOps' billing steps first for an existing
payer; features granted, then reset unless the customer subscribed; reminders to the owner, the customer, the
team lead and RevOps. Each rule is stated, with its reference, where it is declared below; the reference page
``docs/lifecycles/trial.md`` is generated from those declarations.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from workflows.engine import vocabulary as lc
from workflows.trial import messages

KIND = "trial"


class TrialState(enum.StrEnum):
    """Where a trial is (004:12819-12889)."""

    PROVISIONING = "PROVISIONING"
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    CONVERTED = "CONVERTED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"


class TrialTarget(enum.StrEnum):
    """The plan the trial gives a taste of (004:12849)."""

    PAID = "PAID"
    TEAMS = "TEAMS"
    ENTERPRISE = "ENTERPRISE"


class TrialType(enum.StrEnum):
    """004:12851."""

    # The long, non-converting kind of 004:3844 is not modelled.
    STANDARD = "STANDARD"


class ProvisioningStep(enum.StrEnum):
    """What RevOps does before an existing payer's trial starts (004:12875-12879)."""

    REMOVE_SUBSCRIPTION_ID = "REMOVE_SUBSCRIPTION_ID"
    SET_PRODUCTS_FREE = "SET_PRODUCTS_FREE"
    CANCEL_SUBSCRIPTION = "CANCEL_SUBSCRIPTION"


T = TrialState
OPEN_STATES = (T.PROVISIONING, T.ACTIVE, T.PAUSED)
# The trial's features are on: the customer is in the trial proper.
RUNNING_STATES = (T.ACTIVE, T.PAUSED)


class Organization(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(min_length=1, max_length=100)]
    name: Annotated[str, Field(min_length=1, max_length=200)]


class Extension(BaseModel):
    """Extra time given, with why and what the customer gives in return (004:11816-11829)."""

    days: int
    reason: str
    give_back: str
    previous_expires_at: datetime
    expires_at: datetime
    granted_by: str
    granted_at: datetime


class Pause(BaseModel):
    paused_by: str
    paused_at: datetime
    reason: str
    resumed_by: str | None = None
    resumed_at: datetime | None = None


class SubscriptionConfirmation(BaseModel):
    """RevOps' confirmation that an existing payer's new subscription exists (004:12881)."""

    confirmed_by: str
    confirmed_at: datetime
    subscription_id: str | None = None


class TrialData(BaseModel):
    organization: Organization
    owner: Annotated[str, Field(min_length=1, max_length=200)]
    previous_owners: list[str] = Field(default_factory=list)
    target: TrialTarget
    trial_type: TrialType = TrialType.STANDARD
    expected_arr: lc.Money = Field(
        description="The deal's expected ARR; over the policy's long_length_above_arr, the trial runs its "
        "long_length (004:11625-11636)."
    )
    # Both are set when the trial opens: the start is that moment, the expiry follows
    # from the policy unless given (see ``_fill_in_dates``).
    starts_at: AwareDatetime | None = None
    expires_at: AwareDatetime | None = Field(
        None, description="When the features reset to the free plan, extensions included."
    )
    silence_notifications: bool = Field(False, description="The customer gets no trial notices (004:12855).")
    existing_paid_subscription: bool = Field(
        False, description="The customer paid a subscription before the trial (004:12868): RevOps prepares billing."
    )
    contact_emails: Annotated[list[lc.Email], Field(max_length=20)] = Field(
        default_factory=list, description="Who at the customer gets the trial notices; the owner when empty."
    )
    provisioning: dict[ProvisioningStep, lc.Recorded] = Field(default_factory=dict)
    extensions: list[Extension] = Field(default_factory=list)
    pauses: list[Pause] = Field(default_factory=list)
    last_customer_activity_at: AwareDatetime | None = Field(
        None, description="The latest recorded customer activity; the inactivity nudges count from it."
    )
    new_subscription: SubscriptionConfirmation | None = None
    subscription_missing_at_expiry: bool = Field(
        False, description="Flag: an existing payer's trial expired before its new subscription was confirmed."
    )
    subscription_id: str | None = Field(None, description="The subscription a converted trial became.")
    cancellation_reason: str | None = None


class TrialPolicy(BaseModel):
    """Every duration and threshold of the trial lifecycle, pinned per instance."""

    model_config = ConfigDict(extra="forbid")

    default_length: timedelta = Field(timedelta(days=14), gt=timedelta(0))  # 004:11625, 004:9649
    long_length: timedelta = Field(timedelta(days=28), gt=timedelta(0))  # 004:11630, 004:9651
    # 004:11630 (">$60K ARR"); the billing page's "$100k+" at 004:12853 is the older rule.
    long_length_above_arr: Decimal = Field(Decimal(60000), ge=0)
    # An extension adds 7 to 30 days, with a reason and a give-back (004:11816-11829).
    extension_min_days: int = Field(7, ge=1)
    extension_max_days: int = Field(30, ge=1)
    feedback_session_at_fraction: float = Field(0.5, gt=0, lt=1)  # 004:11833 ("halfway through")
    wrap_up_call_before_expiry: timedelta = Field(timedelta(days=7), gt=timedelta(0))  # 004:9637
    # 004:12855 names the notices, not when they go: the domain README fixes 7 days and 1 day.
    first_customer_notice_before_expiry: timedelta = Field(timedelta(days=7), gt=timedelta(0))
    last_customer_notice_before_expiry: timedelta = Field(timedelta(days=1), gt=timedelta(0))
    owner_nudge_after_inactivity: timedelta = Field(timedelta(days=3), gt=timedelta(0))  # 004:11795
    team_lead_nudge_after_inactivity: timedelta = Field(timedelta(days=5), gt=timedelta(0))  # 004:11795
    # 004:12881 says "before trial ends"; the domain README fixes 3 days.
    new_subscription_before_expiry: timedelta = Field(timedelta(days=3), gt=timedelta(0))

    @model_validator(mode="after")
    def _extension_bounds(self) -> TrialPolicy:
        if self.extension_min_days > self.extension_max_days:
            raise ValueError("extension_min_days must not exceed extension_max_days")
        return self


PROVISIONING = lc.Checklist[ProvisioningStep, TrialData, TrialPolicy](
    {
        ProvisioningStep.REMOVE_SUBSCRIPTION_ID: (
            "Remove the billing subscription id in the billing admin, keeping the customer id",
            "004:12875",
        ),
        ProvisioningStep.SET_PRODUCTS_FREE: ("Set all products in the product map to a free status", "004:12877"),
        ProvisioningStep.CANCEL_SUBSCRIPTION: (
            "Cancel the billing subscription so they are not billed during the trial",
            "004:12879",
        ),
    },
    records=lambda data: data.provisioning,
    key="step",
    status_doc="One of RevOps' billing steps before an existing payer's trial starts.",
)


# ``Ctx[XParams]`` for code that reads a trigger's params: its reads are type-checked.
Ctx = lc.Context[TrialData, TrialPolicy, lc.ParamsT]


def _fill_in_dates(data: TrialData, policy: TrialPolicy, now: datetime) -> None:
    data.starts_at = data.starts_at or now
    if data.expires_at is None:
        # 14 days, or 28 for a deal over $60K ARR (004:11625-11636, 004:9649-9651).
        large = data.expected_arr > policy.long_length_above_arr
        data.expires_at = data.starts_at + (policy.long_length if large else policy.default_length)


def _validate_new_trial(data: TrialData, policy: TrialPolicy, now: datetime) -> dict[str, str]:
    starts_at, expires_at = _dates(data)
    # The start is not checked against ``now``: it is filled in with that same moment.
    if expires_at <= now:
        return {"expires_at": "must be in the future"}
    if expires_at <= starts_at:
        return {"expires_at": "must be after the trial starts"}
    return {}


class ExtendParams(lc.Params):
    days: int = Field(description="Days added, within the policy's extension bounds (004:11816).")
    give_back: lc.Text = Field(
        description="What the customer gives in return: an introduction to key stakeholders, procurement "
        "started in parallel, weekly check-ins... (004:11816-11825)."
    )


class ActivityParams(lc.Params):
    at: AwareDatetime | None = Field(None, description="When they were active (default: now).")
    note: Annotated[str, Field(max_length=2000)] | None = None


class SubscriptionParams(lc.Params):
    subscription_id: Annotated[str, Field(min_length=1, max_length=200)] | None = None


def _dates(data: TrialData) -> tuple[datetime, datetime]:
    assert data.starts_at is not None and data.expires_at is not None, "a trial's dates are set when it opens"
    return data.starts_at, data.expires_at


def _provisioned(ctx: Ctx) -> bool:
    """The trial's features were granted: a new customer at once, an existing payer after RevOps."""
    return not ctx.data.existing_paid_subscription or PROVISIONING.complete(ctx.data)


def _owes_new_subscription(ctx: Ctx) -> bool:
    return bool(ctx.data.existing_paid_subscription and ctx.data.new_subscription is None)


@lc.guard("existing_payer", "The customer had a paid subscription before the trial (004:12868).")
def existing_payer(ctx: Ctx) -> list[str]:
    if ctx.data.existing_paid_subscription:
        return []
    return ["This customer had no paid subscription before the trial: there is none to re-create."]


@lc.guard("subscription_not_yet_confirmed", "The new subscription is confirmed once (004:12881).")
def subscription_not_yet_confirmed(ctx: Ctx) -> list[str]:
    done = ctx.data.new_subscription
    if done is None:
        return []
    return [f"The new subscription was already confirmed by {done.confirmed_by} on {lc.day(done.confirmed_at)}."]


def _validate_extension(ctx: Ctx[ExtendParams]) -> dict[str, str]:
    low, high = ctx.policy.extension_min_days, ctx.policy.extension_max_days
    if not low <= ctx.params.days <= high:
        return {"days": f"must be between {low} and {high} days (004:11816)"}
    return {}


def _validate_activity(ctx: Ctx[ActivityParams]) -> dict[str, str]:
    return lc.reported_moment_problems(
        "at", ctx.params.at, now=ctx.now, since=_dates(ctx.data)[0], since_what="the trial started"
    )


def _extend(ctx: Ctx[ExtendParams]) -> None:
    previous = _dates(ctx.data)[1]
    ctx.data.expires_at = previous + timedelta(days=ctx.params.days)
    ctx.data.extensions.append(lc.stamped(Extension, ctx, previous_expires_at=previous, expires_at=ctx.data.expires_at))


def _resume(ctx: Ctx) -> None:
    ctx.data.pauses[-1].resumed_by = ctx.actor
    ctx.data.pauses[-1].resumed_at = ctx.now


def _record_activity(ctx: Ctx[ActivityParams]) -> None:
    ctx.data.last_customer_activity_at = lc.latest(ctx.params.at or ctx.now, ctx.data.last_customer_activity_at)


def _confirm_subscription(ctx: Ctx[SubscriptionParams]) -> None:
    ctx.data.new_subscription = lc.stamped(SubscriptionConfirmation, ctx)


def _cancel(ctx: Ctx) -> None:
    ctx.data.cancellation_reason = ctx.reason


def _expire(ctx: Ctx) -> None:
    ctx.data.subscription_missing_at_expiry = _owes_new_subscription(ctx)


def _entitlements(ctx: Ctx, **extra: object) -> dict[str, object]:
    return {
        "organization_id": ctx.data.organization.id,
        "organization_name": ctx.data.organization.name,
        "target": str(ctx.data.target),
        "trial_type": str(ctx.data.trial_type),
        "trial_id": ctx.entity_id,
        **extra,
    }


GRANT_FEATURES = lc.EffectSpec[TrialData, TrialPolicy](
    type="entitlements.grant",
    name="grant_trial_features",
    description="The organization gets the target plan's features (004:12862).",
    build=_entitlements,
    # Only a running trial can be paused, so a trial with pauses behind it is resuming
    # and kept its features all along.
    when=lambda ctx: not ctx.data.pauses,
)

RESET_FEATURES = lc.EffectSpec[TrialData, TrialPolicy](
    "entitlements.reset",
    "reset_to_free_plan",
    "The organization's features go back to the free plan (004:12864).",
    build=lambda ctx: _entitlements(ctx, plan="FREE"),
    when=_provisioned,
)

# The engagement timers are the owner's work with the customer: the halfway feedback
# session, the wrap-up call and the inactivity nudges. They run only while ACTIVE, so
# PAUSED stops them (004:11810). The expiry, the customer's notices and RevOps' new
# subscription are about the trial's dates and billing, which a pause does not move:
# they run in PAUSED too. Every one follows the expiry an extension moves.


def _dates_set_at(data: TrialData) -> datetime:
    """When the trial's dates were last set: its start, or its latest extension."""
    return data.extensions[-1].granted_at if data.extensions else _dates(data)[0]


def _owed(ctx: Ctx, moment: datetime, *, engagement: bool = False) -> datetime | None:
    # A reminder whose moment came before it could be known (a 5-day trial's 7-day
    # notice, a wrap-up an extension moved behind us, a halfway point passed while
    # paused) is not owed: skip it instead of sending it late.
    known_since = _dates_set_at(ctx.data)
    return lc.owed(moment, since=max(known_since, ctx.state_entered_at) if engagement else known_since)


def _halfway(ctx: Ctx) -> datetime | None:
    starts_at, expires_at = _dates(ctx.data)
    return _owed(ctx, starts_at + (expires_at - starts_at) * ctx.policy.feedback_session_at_fraction, engagement=True)


def _customer(ctx: Ctx) -> list[str]:
    """Who at the customer gets the trial notices: the contacts, or the owner to pass them on."""
    return list(ctx.data.contact_emails) or [ctx.data.owner]


def _last_engaged(ctx: Ctx) -> datetime:
    """The last customer activity, or when the trial last started running if later."""
    last = ctx.data.last_customer_activity_at
    return max(last, ctx.state_entered_at) if last else ctx.state_entered_at


def _new_subscription_due(ctx: Ctx) -> datetime | None:
    if not _owes_new_subscription(ctx):
        return None
    # Unlike a reminder, the request is never skipped: a trial too short for the lead
    # time asks RevOps as soon as its dates are set.
    return max(_dates(ctx.data)[1] - ctx.policy.new_subscription_before_expiry, _dates_set_at(ctx.data))


def message_values(ctx: Ctx) -> dict[str, object]:
    """Every value a trial message may name (``messages.py``)."""
    return {
        "organization": ctx.data.organization.name,
        "owner": ctx.data.owner,
        "target": ctx.data.target.lower(),
        "expires_on": lc.day(_dates(ctx.data)[1]),
        "last_engaged_on": lc.day(_last_engaged(ctx)),
        "organization_id": ctx.data.organization.id,
        "plan": str(ctx.data.target),
        "state": ctx.state,
        "subscription_id": ctx.data.subscription_id or "not given",
        "provisioning_steps": PROVISIONING.labels,
    }


# Unless they say otherwise, reminders are the engagement's: the owner's, while ACTIVE.
remind = lc.Reminders(message_values, states=(T.ACTIVE,), to=lc.owner)

REVOPS_PROVISIONING = remind.send(
    "revops_prepare_billing",
    "RevOps updates billing so the existing payer is not billed during the trial (004:12870-12879).",
    messages.REVOPS_PREPARE_BILLING,
    to=lc.role("revops"),
)

SUBSCRIPTION_TO_RESTORE = remind.send(
    "revops_restore_subscription",
    "An existing payer's trial ended without a confirmed new subscription: RevOps restores billing (004:12881).",
    messages.REVOPS_RESTORE_SUBSCRIPTION,
    to=lc.role("revops"),
    when=_owes_new_subscription,
)


def _customer_notice(which: str, lead: Callable[[TrialPolicy], timedelta]) -> lc.TimerSpec[TrialData, TrialPolicy]:
    """The customer's ``which`` notice before expiry, ``lead(policy)`` ahead of it (004:12855)."""

    def due(ctx: Ctx) -> datetime | None:
        return None if ctx.data.silence_notifications else _owed(ctx, _dates(ctx.data)[1] - lead(ctx.policy))

    return remind(
        f"{which}_customer_notice",
        f"The {which} notice before expiry: tell the customer, unless notifications are silenced",
        messages.CUSTOMER_EXPIRY_NOTICE,
        states=RUNNING_STATES,
        due=due,
        to=_customer,
        source_ref="004:12855",
        effect="customer_expiry_notice",
    )


TIMERS: tuple[lc.TimerSpec[TrialData, TrialPolicy], ...] = (
    remind(
        "feedback_session",
        "Halfway through: the owner schedules a feedback session",
        messages.FEEDBACK_SESSION,
        due=_halfway,
        source_ref="004:11833",
    ),
    remind(
        "wrap_up_call",
        "Before expiry, by the policy's lead time: the owner holds the wrap-up call",
        messages.WRAP_UP_CALL,
        due=lambda ctx: _owed(ctx, _dates(ctx.data)[1] - ctx.policy.wrap_up_call_before_expiry, engagement=True),
        source_ref="004:9637",
    ),
    _customer_notice("first", lambda policy: policy.first_customer_notice_before_expiry),
    _customer_notice("last", lambda policy: policy.last_customer_notice_before_expiry),
    remind(
        "owner_inactivity_nudge",
        "No customer activity for the policy's first span: nudge the owner",
        messages.OWNER_INACTIVITY_NUDGE,
        due=lambda ctx: _last_engaged(ctx) + ctx.policy.owner_nudge_after_inactivity,
        source_ref="004:11795-11806",
    ),
    remind(
        "team_lead_inactivity_nudge",
        "No customer activity for the policy's second span: tell the team lead",
        messages.TEAM_LEAD_INACTIVITY_ALERT,
        due=lambda ctx: _last_engaged(ctx) + ctx.policy.team_lead_nudge_after_inactivity,
        to=lc.role("team_lead"),
        source_ref="004:11795",
        effect="team_lead_inactivity_alert",
    ),
    remind(
        "new_subscription_request",
        "Existing payer, before expiry by the policy's lead time: RevOps creates the new subscription",
        messages.REVOPS_CREATE_SUBSCRIPTION,
        states=OPEN_STATES,
        due=_new_subscription_due,
        to=lc.role("revops"),
        source_ref="004:12881",
        effect="revops_create_subscription",
    ),
    lc.TimerSpec(
        "expiry",
        OPEN_STATES,
        lambda ctx: ctx.data.expires_at,
        "The expiry: the trial ends and its features reset to the free plan",
        trigger="expire",
        source_ref="004:12864",
    ),
)

TRANSITIONS: tuple[lc.TransitionSpec[TrialData, TrialPolicy], ...] = (
    *PROVISIONING.record(
        "record_provisioning_step",
        sources=(T.PROVISIONING,),
        description="Record one of RevOps' billing steps as done.",
        then=T.ACTIVE,
        last_description="Record the last of RevOps' billing steps: the trial starts.",
        source_ref="004:12875-12879",
    ),
    lc.TransitionSpec(
        "extend",
        RUNNING_STATES,
        None,
        "Give more days, within the policy's bounds, with a reason and what the customer gives back.",
        params=ExtendParams,
        validate=_validate_extension,
        guards=(lc.reason_required("Say why the customer needs more time and what must still happen (004:11829)."),),
        apply=_extend,
        source_ref="004:11816-11829",
    ),
    lc.TransitionSpec(
        "pause",
        (T.ACTIVE,),
        T.PAUSED,
        "Pause the engagement to reconnect later, with a reason; the expiry still runs.",
        guards=(lc.reason_required("Say why the trial pauses."),),
        apply=lambda ctx: ctx.data.pauses.append(lc.stamped(Pause, ctx)),
        source_ref="004:11810",
    ),
    lc.TransitionSpec(
        "resume",
        (T.PAUSED,),
        T.ACTIVE,
        "Resume a paused trial: the engagement timers run again.",
        apply=_resume,
        source_ref="004:11810",
    ),
    lc.TransitionSpec(
        "record_customer_activity",
        RUNNING_STATES,
        None,
        "Record that the customer used the product or engaged; restarts the inactivity nudges.",
        params=ActivityParams,
        validate=_validate_activity,
        apply=_record_activity,
        source_ref="004:11795",
    ),
    lc.TransitionSpec(
        "confirm_new_subscription",
        OPEN_STATES,
        None,
        "RevOps confirms the existing payer's new subscription is created (004:12881).",
        params=SubscriptionParams,
        guards=(existing_payer, subscription_not_yet_confirmed),
        apply=_confirm_subscription,
        source_ref="004:12881",
    ),
    lc.TransitionSpec(
        "convert",
        RUNNING_STATES,
        T.CONVERTED,
        "The customer subscribed within the trial: they keep the paid features.",
        params=SubscriptionParams,
        apply=lc.take_params,
        effects=(
            remind.send(
                "revops_trial_converted",
                "RevOps stops treating the account as a trial in revenue metrics (004:2165-2167).",
                messages.REVOPS_TRIAL_CONVERTED,
                to=lc.role("revops"),
            ),
        ),
        source_ref="004:12864",
    ),
    lc.TransitionSpec(
        "cancel",
        OPEN_STATES,
        T.CANCELLED,
        "Withdraw the trial, with a reason.",
        guards=(lc.reason_required("Say why the trial is cancelled."),),
        apply=_cancel,
        effects=(SUBSCRIPTION_TO_RESTORE,),
    ),
    lc.TransitionSpec(
        "expire",
        OPEN_STATES,
        T.EXPIRED,
        "The expiry passed without a subscription.",
        role=lc.Role.SYSTEM,
        apply=_expire,
        effects=(
            remind.send(
                "trial_expired",
                "Tell the owner the trial ended without a subscription.",
                messages.TRIAL_EXPIRED,
                to=lc.owner,
            ),
            SUBSCRIPTION_TO_RESTORE,
        ),
        source_ref="004:12864, 004:12881",
    ),
    lc.change_owner(OPEN_STATES),
)

STATES = (
    lc.StateSpec(
        T.PROVISIONING,
        "An existing payer's trial waits for RevOps' billing steps (004:12868-12879).",
        checklist=PROVISIONING.criteria,
        on_enter=(REVOPS_PROVISIONING,),
    ),
    lc.StateSpec(
        T.ACTIVE,
        "The organization has the target plan's features until the expiry (004:12862).",
        on_enter=(GRANT_FEATURES,),
    ),
    lc.StateSpec(T.PAUSED, "Engagement paused to reconnect later (004:11810); the expiry still runs."),
    lc.StateSpec(T.CONVERTED, "Subscribed within the trial: the paid features stay (004:12864).", terminal=True),
    lc.StateSpec(
        T.EXPIRED,
        "Ended without a subscription: the features are back on the free plan (004:12864).",
        terminal=True,
        on_enter=(RESET_FEATURES,),
    ),
    lc.StateSpec(
        T.CANCELLED,
        "Withdrawn, with a reason; any granted features are back on the free plan.",
        terminal=True,
        on_enter=(RESET_FEATURES,),
    ),
)

EXPOSURE = lc.Exposure[TrialData, TrialPolicy](
    description="A time-boxed trial of a paid plan for an organization (004:12819-12889).",
    states=TrialState,
    columns=(
        lc.account_id_column("organization_id", of=lambda data: data.organization),
        lc.Column("target", max_length=20, match=lc.Match.ANY_OF),
        lc.Column("existing_paid_subscription", match=lc.Match.EQUALS),
        lc.Column("subscription_missing_at_expiry", match=lc.Match.EQUALS),
        lc.Column("expected_arr"),
        lc.Column(
            "expires_at",
            match=lc.Match.RANGE,
            filter_names=("expiringAfter", "expiringBefore"),
            filter_description="Expiring at or after the first moment, before the second.",
            orderable=True,
        ),
    ),
    default_order="EXPIRES_AT_ASC",
    opening=lc.Opening(
        name="startTrial",
        fields=(
            "organization",
            "owner",
            "target",
            "trial_type",
            "expected_arr",
            "expires_at",
            "silence_notifications",
            "existing_paid_subscription",
            "contact_emails",
        ),
        description="Start a trial: active at once, or after RevOps' steps for an existing payer.",
        input_description="A new trial.",
        field_descriptions={"expires_at": "Default: the policy's trial length from now (longer for a large deal)."},
        id_prefix="trial",
    ),
    mutations={
        "record_provisioning_step": lc.Mutation(
            "recordTrialProvisioningStep",
            description="Record one of RevOps' billing steps as done; the last one starts the trial.",
        ),
        "extend": lc.Mutation(),
        "pause": lc.Mutation(input="TrialChangeInput"),
        "resume": lc.Mutation(input="TrialChangeInput"),
        "record_customer_activity": lc.Mutation("recordTrialCustomerActivity", input="TrialCustomerActivityInput"),
        "confirm_new_subscription": lc.Mutation("confirmTrialNewSubscription", input="TrialSubscriptionInput"),
        "convert": lc.Mutation(input="TrialSubscriptionInput"),
        "cancel": lc.Mutation(input="TrialChangeInput"),
        "change_owner": None,
    },
    shared_result="TrialResult",
    hidden=("provisioning",),
    always_set=("starts_at", "expires_at"),
    computed={
        "provisioning_steps": PROVISIONING.statuses(
            doc="RevOps' billing steps, for an existing payer; empty for a new customer.",
            shown=lambda data: data.existing_paid_subscription,
        )
    },
    type_names={SubscriptionConfirmation: "TrialNewSubscription", PROVISIONING.status: "TrialProvisioningStep"},
)

TRIAL = lc.LifecycleSpec(
    KIND,
    "Trial",
    "A time-boxed trial of a paid plan for an organization: extended, paused, converted or expired.",
    STATES,
    TRANSITIONS,
    TIMERS,
    TrialData,
    TrialPolicy,
    # 004:12868: only an existing payer needs RevOps before the trial can start.
    initial_state=lambda data: T.PROVISIONING if data.existing_paid_subscription else T.ACTIVE,
    start_states=(T.PROVISIONING, T.ACTIVE),
    account_of=lambda data: (data.organization.id, data.organization.name),
    summary_of=lambda data: f"{data.organization.name} · {data.target} trial until {lc.day(_dates(data)[1])}",
    prepare_open=_fill_in_dates,
    validate_open=_validate_new_trial,
    exposure=EXPOSURE,
)


TrialWorkflow = lc.lifecycle_workflow(TRIAL)
