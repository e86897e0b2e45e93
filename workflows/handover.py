"""Handover: moving an account from its owner to another, with the owner change cascading.

Rules from the handbook (``shared/seeds/004_59a801b964a2a19e.txt``, cited as
``004:<line>``), as decided in ``shared/domain/README.md`` section 5 and
``shared/domain/reference-accounts.md`` sections 2 and 5(b):

- a handover is requested for a valid reason; no response, a champion who left, low
  activity or poor health, a personality clash and a difficult customer are not
  reasons to hand an account off (004:2321-2336, 004:8186);
- the allocator sets the team (TAM or CSM) and the region (US or EU) (004:2342-2355);
  the service suggests the team from the primary products the account is onboarded
  to: 1-2 -> TAM, 3 -> CSM (004:2283-2285, 004:2406), and a different choice needs a
  reason (team capacity, 004:2289);
- a team lead assigns the incoming person (004:2355, 004:2372);
- READY needs the readiness checklist: a current account plan note, onboarding
  complete for every paid product (the account's onboarding lifecycle says so where it
  has one, ``workflows/onboarding``), no open late payment on the account, and the
  account healthy (004:2411-2425, 004:2378);
- the incoming owner may push back with the flags they see (004:2711, 004:2421); the
  outgoing owner remedies them, or a team lead overrules the push-back (004:8290);
- the 15-30 minute handover call (004:2504), then within a week the incoming owner
  updates the account plan, introduces themselves and picks up open items
  (004:2622-2631): a reminder when the week is up, the team lead after that;
- COMPLETED when the outgoing owner unassigns themselves (004:2650): the incoming
  person becomes the account's owner and every open lifecycle of the account follows.

The handover's own ``owner`` is the outgoing owner: the person accountable for the
account, and for getting it ready, until the handover completes.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Annotated, TypeAlias

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from workflows.engine import vocabulary as lc

KIND = "handover"
# The lifecycle whose open instances mean an unpaid invoice (built alongside this one).
LATE_PAYMENT_KIND = "late-payment"
# Facts the service reads from the read model for ``mark_ready`` (services/handover.py).
OPEN_LATE_PAYMENTS = "open_late_payments"
# The account's latest onboarding lifecycle, None when it has none: where one exists, its state
# says whether onboarding is complete (``workflows/onboarding``), not the recorded products.
ACCOUNT_ONBOARDING = "account_onboarding"
ONBOARDING_KIND = "onboarding"
# The onboarding states that mean onboarded (ONBOARDED, and COMPLETED after it).
ONBOARDED_STATES = ("ONBOARDED", "COMPLETED")


class HandoverState(enum.StrEnum):
    """Where a handover stands (004:2236-2729, reference-accounts.md §5(b))."""

    REQUESTED = "REQUESTED"
    ALLOCATED = "ALLOCATED"
    ASSIGNED = "ASSIGNED"
    PUSHED_BACK = "PUSHED_BACK"
    READY = "READY"
    CALL_HELD = "CALL_HELD"
    COMPLETED = "COMPLETED"
    REJECTED = "REJECTED"


class HandoverReason(enum.StrEnum):
    """Why the owner hands the account off. NO_RESPONSE, CHAMPION_LEFT, LOW_ACTIVITY_OR_POOR_HEALTH,
    PERSONALITY_CLASH and DIFFICULT_CUSTOMER are not valid reasons (004:2321-2336, 004:8186)."""

    ONBOARDED = "ONBOARDED"
    EXPANSION_COMPLETE = "EXPANSION_COMPLETE"
    EXPANSION_OPPORTUNITY = "EXPANSION_OPPORTUNITY"
    BOOK_OVER_CAPACITY = "BOOK_OVER_CAPACITY"
    NO_RESPONSE = "NO_RESPONSE"
    CHAMPION_LEFT = "CHAMPION_LEFT"
    LOW_ACTIVITY_OR_POOR_HEALTH = "LOW_ACTIVITY_OR_POOR_HEALTH"
    PERSONALITY_CLASH = "PERSONALITY_CLASH"
    DIFFICULT_CUSTOMER = "DIFFICULT_CUSTOMER"


R = HandoverReason
VALID_REASONS = {
    R.ONBOARDED: "A TAE's account is onboarded and moves to a TAM or CSM (004:2406, 004:2416).",
    R.EXPANSION_COMPLETE: "Fully expanded and committed: a TAM's account moves to a CSM (004:2315, 004:2406).",
    R.EXPANSION_OPPORTUNITY: "Clear growth potential: a CSM's account moves to a TAM (004:2368, 004:2406).",
    R.BOOK_OVER_CAPACITY: "The owner's book is over its maximum (004:2304, 004:2366).",
}
INVALID_REASONS = {
    R.NO_RESPONSE: "the account not responding to outreach is not a reason to hand it off (004:2326)",
    R.CHAMPION_LEFT: "a champion who left, with relationships not re-established, is not a reason to hand it off "
    "(004:2328)",
    R.LOW_ACTIVITY_OR_POOR_HEALTH: "low user activity or a poor health score is not a reason to hand it off (004:2330)",
    R.PERSONALITY_CLASH: "not liking working with them, or them not liking you, is not a reason to hand it off "
    "(004:2332)",
    R.DIFFICULT_CUSTOMER: "a customer being negative or difficult to work with is not a reason to hand it off "
    "(004:8186)",
}


class OwnerRole(enum.StrEnum):
    """Who owns an account before the handover (reference-accounts.md §0)."""

    TAE = "TAE"
    TAM = "TAM"
    CSM = "CSM"
    ONBOARDING = "ONBOARDING"


class OwnerTeam(enum.StrEnum):
    """The teams an allocator hands accounts to (004:2345-2351)."""

    TAM = "TAM"
    CSM = "CSM"


class AccountRegion(enum.StrEnum):
    """Where the incoming owner is based (004:2342-2351)."""

    US = "US"
    EU = "EU"


class PaidProduct(enum.StrEnum):
    """Products with an onboarding checklist (004:2425-2496)."""

    PRODUCT_ANALYTICS = "PRODUCT_ANALYTICS"
    SESSION_REPLAY = "SESSION_REPLAY"
    FEATURE_FLAGS = "FEATURE_FLAGS"
    DATA_WAREHOUSE = "DATA_WAREHOUSE"
    ERROR_TRACKING = "ERROR_TRACKING"


# The primary products allocation counts (004:2269-2276).
PRIMARY_PRODUCTS = frozenset({PaidProduct.SESSION_REPLAY, PaidProduct.FEATURE_FLAGS, PaidProduct.ERROR_TRACKING})


def product_onboarded_problems(
    product: PaidProduct, paid: list[PaidProduct], onboarded: list[PaidProduct]
) -> dict[str, str]:
    """A product recorded as onboarded is one the account pays for, recorded once (here and in onboarding)."""
    if product not in paid:
        return {"product": f"is not paid for; the account pays for {', '.join(paid) or 'nothing yet'}"}
    if product in onboarded:
        return {"product": "is already recorded as onboarded"}
    return {}


class PushBackFlag(enum.StrEnum):
    """What the incoming owner finds wrong with the account (004:2654-2711, 004:2378)."""

    DECLINING_USAGE = "DECLINING_USAGE"
    NO_ENGAGEMENT = "NO_ENGAGEMENT"
    CONCENTRATED_USERS = "CONCENTRATED_USERS"
    MISSING_ACCOUNT_PLAN = "MISSING_ACCOUNT_PLAN"
    OPEN_INVOICES = "OPEN_INVOICES"
    POOR_DEPLOYMENT_HEALTH = "POOR_DEPLOYMENT_HEALTH"
    UNDOCUMENTED_DISCOUNTS = "UNDOCUMENTED_DISCOUNTS"


class PushBackResolution(enum.StrEnum):
    """How a push-back ended: the outgoing owner remedied it, or a team lead overruled it."""

    REMEDIED = "REMEDIED"
    OVERRULED = "OVERRULED"


class FollowUpItem(enum.StrEnum):
    """The incoming owner's actions in the follow-up period after the call (004:2622-2631)."""

    ACCOUNT_PLAN_UPDATED = "ACCOUNT_PLAN_UPDATED"
    INTRODUCED = "INTRODUCED"
    OPEN_ITEMS_PICKED_UP = "OPEN_ITEMS_PICKED_UP"


FOLLOW_UPS: dict[FollowUpItem, lc.ChecklistItem] = {
    FollowUpItem.ACCOUNT_PLAN_UPDATED: lc.ChecklistItem(
        FollowUpItem.ACCOUNT_PLAN_UPDATED,
        "Vitally updated (New Owner set) and the account plan note updated with the handover context",
        "004:2625-2627",
    ),
    FollowUpItem.INTRODUCED: lc.ChecklistItem(
        FollowUpItem.INTRODUCED,
        "Introduced themselves to the customer: a warm intro, ideally via the TAE, or a cold one via Slack or email",
        "004:2629",
    ),
    FollowUpItem.OPEN_ITEMS_PICKED_UP: lc.ChecklistItem(
        FollowUpItem.OPEN_ITEMS_PICKED_UP,
        "Picked up the open items: in-flight proposals, unresolved tickets, pending conversations",
        "004:2631",
    ),
}


Person = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class AccountPlanNote(BaseModel):
    """The account plan note in Vitally, as recorded for the readiness checklist."""

    link: str
    updated_on: date = Field(description="When the note itself was last updated.")
    recorded_by: str
    recorded_at: datetime


class HealthCheck(BaseModel):
    """Whether the account is healthy, usage- and engagement-wise, as last checked."""

    healthy: bool
    note: str
    checked_by: str
    checked_at: datetime


class PushBack(BaseModel):
    """A push-back by the incoming owner and how it was resolved."""

    flags: list[PushBackFlag]
    note: str | None = None
    raised_by: str
    raised_at: datetime
    resolution: PushBackResolution | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    resolution_note: str | None = None


class HandoverCall(BaseModel):
    """The handover call between the outgoing and incoming owner (004:2504)."""

    held_at: datetime
    notes: str | None = None
    recorded_by: str


class FollowUpRecord(BaseModel):
    note: str
    recorded_by: str
    recorded_at: datetime


class HandoverData(BaseModel):
    account: lc.Account
    arr: lc.Money
    # The outgoing owner: accountable for the account until the handover completes.
    owner: Person
    previous_owners: list[str] = Field(default_factory=list, description="Outgoing owners this handover replaced.")
    outgoing_role: OwnerRole
    reason: HandoverReason
    reason_note: Annotated[str, Field(max_length=2000)] | None = None
    paid_products: Annotated[list[PaidProduct], Field(min_length=1)]
    onboarded_products: list[PaidProduct] = Field(default_factory=list, description="Among the paid products.")
    team: OwnerTeam | None = Field(None, description="The team the allocator chose.")
    region: AccountRegion | None = None
    incoming_owner: str | None = None
    account_plan: AccountPlanNote | None = None
    health_check: HealthCheck | None = None
    push_backs: list[PushBack] = Field(default_factory=list)
    call: HandoverCall | None = None
    follow_ups: dict[FollowUpItem, FollowUpRecord] = Field(default_factory=dict)

    _distinct_products = field_validator("paid_products", "onboarded_products")(lc.distinct)


class HandoverPolicy(BaseModel):
    """Every duration and threshold of the handover lifecycle, pinned per instance."""

    model_config = ConfigDict(extra="forbid")

    # Primary products onboarded from which the CSM team is suggested, TAM below (004:2406).
    csm_from_primary_products: int = Field(3, ge=1)
    # The account plan note is reviewed quarterly (004:11588); older is not "current" (004:2421).
    account_plan_max_age: timedelta = Field(timedelta(days=90), gt=timedelta(0))
    # The incoming owner's follow-ups are due within a week of the call (004:2622).
    follow_up_within: timedelta = Field(timedelta(days=7), gt=timedelta(0))
    # The handbook names no delay before the team lead hears of missed follow-ups
    # (reference-accounts.md §5(b) post_call_actions, inferred): two days after the reminder.
    follow_up_escalate_after: timedelta = Field(timedelta(days=2), gt=timedelta(0))


# What the handover's guards, changes, timers and effects read: its data and pinned policy.
# ``Ctx[XParams]`` for code that reads a trigger's params: its reads are type-checked.
Ctx: TypeAlias = lc.Context[HandoverData, HandoverPolicy, lc.ParamsT]
Effect: TypeAlias = lc.EffectSpec[HandoverData, HandoverPolicy]


# ---- pure derivations the API shows too ---------------------------------------------------


def primary_products_onboarded(data: HandoverData) -> list[PaidProduct]:
    """Primary products (session replay, feature flags, error tracking) onboarded."""
    return [p for p in data.onboarded_products if p in PRIMARY_PRODUCTS]


def suggested_team(data: HandoverData, policy: HandoverPolicy) -> OwnerTeam:
    """The team the handbook's rule suggests: CSM from all primary products onboarded, else TAM."""
    # 004:2283-2285: expanded to the max goes to a CSM; otherwise room to grow, a TAM.
    if len(primary_products_onboarded(data)) >= policy.csm_from_primary_products:
        return OwnerTeam.CSM
    return OwnerTeam.TAM


def missing_follow_ups(data: HandoverData) -> list[FollowUpItem]:
    return [item for item in FollowUpItem if item not in data.follow_ups]


def follow_up_due(data: HandoverData, policy: HandoverPolicy) -> datetime | None:
    """When the incoming owner's follow-ups are due: the follow-up period after the call, while any is missing."""
    if data.call is None or not missing_follow_ups(data):
        return None
    return data.call.held_at + policy.follow_up_within


# ---- what the API shows beside the data --------------------------------------------------


class FollowUpStatus(BaseModel):
    """One of the incoming owner's actions in the follow-up period after the call (004:2622-2631)."""

    item: FollowUpItem
    label: str
    source: str
    done: bool
    note: str | None = None
    recorded_by: str | None = None
    recorded_at: datetime | None = None


def outgoing_owner(data: HandoverData) -> str:
    """The account's owner until the handover completes."""
    return data.owner


def reason_explained(data: HandoverData) -> str:
    """What the handbook says of a valid reason; empty for an invalid one."""
    return VALID_REASONS.get(data.reason, "")


def follow_up_statuses(data: HandoverData) -> list[FollowUpStatus]:
    """The incoming owner's follow-ups after the call, done or not."""
    out = []
    for item, checklist in FOLLOW_UPS.items():
        record = data.follow_ups.get(item)
        out.append(
            FollowUpStatus(
                item=item,
                label=checklist.label,
                source=checklist.source,
                done=record is not None,
                note=record.note if record else None,
                recorded_by=record.recorded_by if record else None,
                recorded_at=record.recorded_at if record else None,
            )
        )
    return out


def suggested_team_of(handover: lc.Projected[HandoverData, HandoverPolicy]) -> OwnerTeam:
    """The handbook's team for this account: CSM when onboarded to as many primary products as the
    policy's csm_from_primary_products, else TAM (004:2406)."""
    return suggested_team(handover.data, handover.policy)


def follow_up_due_at(handover: lc.Projected[HandoverData, HandoverPolicy]) -> datetime | None:
    """When the follow-ups are due (the policy's follow-up period after the call), while any is missing."""
    return follow_up_due(handover.data, handover.policy)


def _completed_at(handover: lc.Projected[HandoverData, HandoverPolicy]) -> datetime | None:
    return handover.closed_at if handover.state == HandoverState.COMPLETED else None


def _summary(data: HandoverData) -> str:
    to = data.incoming_owner or (f"{data.region} {data.team}" if data.team else "not yet allocated")
    return f"{data.account.name}: {data.owner} → {to}"


def _validate_open(data: HandoverData, policy: HandoverPolicy, now: datetime) -> dict[str, str]:
    problems = {}
    if data.reason in INVALID_REASONS:
        problems["reason"] = f"{INVALID_REASONS[data.reason]}; only hand off accounts in a good state (004:2336)"
    not_paid = [p for p in data.onboarded_products if p not in data.paid_products]
    if not_paid:
        problems["onboarded_products"] = f"{', '.join(not_paid)} must also be among the paid products"
    return problems


# ---- parameters of the triggers --------------------------------------------------------


class AllocateParams(lc.Params):
    team: OwnerTeam
    region: AccountRegion


class AssignParams(lc.Params):
    incoming_owner: Person


class AccountPlanParams(lc.Params):
    link: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
        Field(description="Where the account plan note is (Vitally)."),
    ]
    updated_on: date


class OnboardingParams(lc.Params):
    product: PaidProduct


class HealthCheckParams(lc.Params):
    healthy: bool
    note: Note


class PushBackParams(lc.Params):
    flags: Annotated[list[PushBackFlag], Field(min_length=1)]
    note: Annotated[str, Field(max_length=2000)] | None = None

    _distinct_flags = field_validator("flags")(lc.distinct)


class CallParams(lc.Params):
    held_at: AwareDatetime | None = Field(None, description="When the call was held (default: now).")
    notes: Annotated[str, Field(max_length=4000)] | None = None


class FollowUpParams(lc.Params):
    item: FollowUpItem
    note: Note


def _validate_assign(ctx: Ctx[AssignParams]) -> dict[str, str]:
    if ctx.params.incoming_owner == ctx.data.owner:
        return {"incoming_owner": "is the outgoing owner; a handover moves the account to someone else"}
    return {}


def _validate_account_plan(ctx: Ctx[AccountPlanParams]) -> dict[str, str]:
    return lc.reported_moment_problems("updated_on", ctx.params.updated_on, now=ctx.now.date())


def _validate_onboarding(ctx: Ctx[OnboardingParams]) -> dict[str, str]:
    return product_onboarded_problems(ctx.params.product, ctx.data.paid_products, ctx.data.onboarded_products)


def _validate_call(ctx: Ctx[CallParams]) -> dict[str, str]:
    ready = ctx.state_entered_at
    return lc.reported_moment_problems(
        "held_at",
        ctx.params.held_at,
        now=ctx.now,
        since=ready,
        since_what=f"the handover was ready ({ready.isoformat()})",
    )


def _validate_follow_up(ctx: Ctx[FollowUpParams]) -> dict[str, str]:
    if ctx.params.item in ctx.data.follow_ups:
        return {"item": "is already recorded"}
    return {}


def _validate_outgoing_owner(ctx: Ctx[lc.ChangeOwnerParams]) -> dict[str, str]:
    problems = dict(_CHANGE_OWNER.validate(ctx)) if _CHANGE_OWNER.validate else {}
    if ctx.params.new_owner == ctx.data.incoming_owner:
        problems["new_owner"] = "is the incoming owner; the outgoing and incoming owners must differ"
    return problems


# ---- guards ------------------------------------------------------------------------------

# What READY needs (004:2411-2425, 004:2378): the exit checklist of ASSIGNED.
READINESS = (
    lc.ChecklistItem("account_plan_current", "A current account plan note is saved in Vitally", "004:2411, 004:2421"),
    lc.ChecklistItem(
        "onboarding_complete",
        "The customer is onboarded to every product they pay for: the account's onboarding lifecycle is ONBOARDED "
        "where it has one, else every paid product is recorded here",
        "004:2411, 004:2425-2496",
    ),
    lc.ChecklistItem(
        "invoices_paid", "All open invoices are paid: no open late payment on the account", "004:2413, 004:2661"
    ),
    lc.ChecklistItem("account_healthy", "The account is healthy, usage- and engagement-wise", "004:2378"),
)
_ITEM = {item.key: item for item in READINESS}


def _readiness_guard(key: str) -> Callable[[Callable[[Ctx], Sequence[str]]], lc.Guard[HandoverData, HandoverPolicy]]:
    item = _ITEM[key]
    return lc.guard(key, f"{item.label} ({item.source}).")


@_readiness_guard("account_plan_current")
def account_plan_current(ctx: Ctx) -> list[str]:
    plan = ctx.data.account_plan
    if plan is None:
        return ["No account plan note is recorded; save one in Vitally and record it (004:2411)."]
    age, max_age = ctx.now.date() - plan.updated_on, ctx.policy.account_plan_max_age
    if age > max_age:
        return [
            f"The account plan note was last updated on {plan.updated_on.isoformat()}, {age.days} days ago, more "
            f"than {lc.duration(max_age)}; bring it up to date (reviewed quarterly, 004:2421, 004:11588)."
        ]
    return []


@_readiness_guard("onboarding_complete")
def onboarding_complete(ctx: Ctx) -> list[str]:
    # Decisions recorded before the fact existed carry no such key: they keep the checklist rule.
    onboarding = ctx.facts.get(ACCOUNT_ONBOARDING)
    if onboarding is not None:
        if onboarding["state"] in ONBOARDED_STATES:
            return []
        return [
            f"The account's onboarding {onboarding['workflow_id']} is {onboarding['state']}, not yet onboarded "
            "(004:2425-2496)."
        ]
    missing = [p for p in ctx.data.paid_products if p not in ctx.data.onboarded_products]
    if not missing:
        return []
    return [f"Onboarding is not complete for {', '.join(lc.in_words(p) for p in missing)} (004:2425-2496)."]


@_readiness_guard("invoices_paid")
def invoices_paid(ctx: Ctx) -> list[str]:
    if OPEN_LATE_PAYMENTS not in ctx.facts:
        return ["The account's open invoices could not be checked (the read model did not answer); try again."]
    return [
        f"{late['summary'] or late['workflow_id']} is unpaid ({late['state']}, {late['workflow_id']}): all open "
        "invoices must be paid before handing over (004:2413)."
        for late in ctx.facts[OPEN_LATE_PAYMENTS]
    ]


@_readiness_guard("account_healthy")
def account_healthy(ctx: Ctx) -> list[str]:
    check = ctx.data.health_check
    if check is None:
        return ["No health check is recorded; check usage and engagement and record it (004:2378)."]
    if not check.healthy:
        return [
            f"The last health check found the account unhealthy ({check.note}); get it to a good state first "
            "(004:2378)."
        ]
    return []


READINESS_GUARDS: tuple[lc.Guard[HandoverData, HandoverPolicy], ...] = (
    account_plan_current,
    onboarding_complete,
    invoices_paid,
    account_healthy,
)


@lc.guard(
    "team_as_suggested_or_explained",
    "The team is the one the primary products suggest (004:2406), or a reason says why not, e.g. team "
    "capacity (004:2289).",
    on_input=True,
)
def team_as_suggested_or_explained(ctx: Ctx[AllocateParams]) -> list[str]:
    suggested = suggested_team(ctx.data, ctx.policy)
    if ctx.params.team == suggested or (ctx.reason or "").strip():
        return []
    count = len(primary_products_onboarded(ctx.data))
    return [
        f"The handbook suggests {suggested} for an account onboarded to {count} primary product"
        f"{'' if count == 1 else 's'} (004:2406); say why {ctx.params.team} instead (e.g. team capacity, 004:2289)."
    ]


@lc.guard(
    "raised_by_incoming_owner",
    "The incoming owner pushes back (004:2378, 004:2711); an admin may record it for them.",
    on_input=True,
)
def raised_by_incoming_owner(ctx: Ctx) -> list[str]:
    if ctx.actor == ctx.data.incoming_owner or ctx.role >= lc.Role.ADMIN:
        return []
    return [f"Only the incoming owner ({ctx.data.incoming_owner}) pushes back on a handover."]


@lc.guard("call_held", "The 15-30 minute handover call between the outgoing and incoming owner was held (004:2504).")
def call_held(ctx: Ctx) -> list[str]:
    if ctx.data.call is None:
        return ["The handover call between the outgoing and incoming owner has not been held yet (004:2504)."]
    return []


@lc.guard("follow_ups_done", "The incoming owner's actions after the call are recorded (004:2622-2631).")
def follow_ups_done(ctx: Ctx) -> list[str]:
    return [
        f"Not recorded yet: {FOLLOW_UPS[item].label} ({FOLLOW_UPS[item].source})."
        for item in missing_follow_ups(ctx.data)
    ]


# ---- data changes ------------------------------------------------------------------------


def _record_account_plan(ctx: Ctx[AccountPlanParams]) -> None:
    ctx.data.account_plan = lc.stamped(AccountPlanNote, ctx)


def _record_onboarding(ctx: Ctx[OnboardingParams]) -> None:
    ctx.data.onboarded_products = [*ctx.data.onboarded_products, ctx.params.product]


def _record_health_check(ctx: Ctx[HealthCheckParams]) -> None:
    ctx.data.health_check = lc.stamped(HealthCheck, ctx)


def _push_back(ctx: Ctx[PushBackParams]) -> None:
    ctx.data.push_backs = [*ctx.data.push_backs, lc.stamped(PushBack, ctx)]


def _record_call(ctx: Ctx[CallParams]) -> None:
    ctx.data.call = lc.stamped(HandoverCall, ctx, held_at=ctx.params.held_at or ctx.now)


def _record_follow_up(ctx: Ctx[FollowUpParams]) -> None:
    ctx.data.follow_ups = {**ctx.data.follow_ups, ctx.params.item: lc.stamped(FollowUpRecord, ctx)}


# ---- effects -----------------------------------------------------------------------------


def _account(ctx: Ctx) -> str:
    return ctx.data.account.name


def _incoming_owner(ctx: Ctx) -> str:
    incoming = ctx.data.incoming_owner
    assert incoming is not None, "the incoming owner is named when the handover is assigned, before they are told"
    return incoming


def _incoming(ctx: Ctx) -> list[str]:
    return [_incoming_owner(ctx)]


def _both_owners(ctx: Ctx) -> list[str]:
    return [ctx.data.owner, _incoming_owner(ctx)]


def _ending_push_back(
    trigger: str,
    resolution: PushBackResolution,
    role: lc.Role,
    told: Callable[[Ctx], list[str]],
    source_ref: str,
    description: str,
    why: str,
    told_what: str,
) -> lc.TransitionSpec[HandoverData, HandoverPolicy]:
    """Back to ASSIGNED, the push-back ended as ``resolution``, with ``why`` asked and ``told`` told."""

    def resolve(ctx: Ctx) -> None:
        ctx.data.push_backs[-1] = ctx.data.push_backs[-1].model_copy(
            update={
                "resolution": resolution,
                "resolved_by": ctx.actor,
                "resolved_at": ctx.now,
                "resolution_note": ctx.reason,
            }
        )

    ended = resolution.lower()
    notice = lc.notify(
        f"push_back_{ended}",
        told_what,
        to=told,
        subject=lambda ctx: f"Handover of {_account(ctx)}: push-back {ended}",
        body=lc.actor_and_reason,
    )
    return lc.TransitionSpec(
        trigger,
        (S.PUSHED_BACK,),
        S.ASSIGNED,
        description,
        role=role,
        guards=(lc.reason_required(why),),
        apply=resolve,
        effects=(notice,),
        source_ref=source_ref,
    )


def _follow_up_list(ctx: Ctx) -> str:
    return "; ".join(FOLLOW_UPS[item].label for item in missing_follow_ups(ctx.data))


def _follow_ups_due_on(ctx: Ctx) -> str:
    due = follow_up_due(ctx.data, ctx.policy)
    assert due is not None, "the follow-ups are announced, reminded and escalated only while some are missing"
    return f"{due:%Y-%m-%d}"


def _cascade_reason(ctx: Ctx) -> str:
    return f"Handover {ctx.entity_id} of {ctx.data.account.name} completed: {ctx.data.owner} → {_incoming_owner(ctx)}"


OWNERS_FOLLOW: Effect = lc.fire_on_account(
    "owners_follow",
    "Every open lifecycle of the account (opportunities, trials, late payments, renewals...) gets the incoming "
    "owner through its own change_owner; this handover, the account's only open one, is excluded.",
    account_id=lambda ctx: ctx.data.account.id,
    trigger=lc.CHANGE_OWNER,
    params=lambda ctx: {"new_owner": _incoming_owner(ctx)},
    reason=_cascade_reason,
)

REQUESTED_EFFECTS: tuple[Effect, ...] = (
    lc.notify(
        "allocation_requested",
        "The allocator reviews the plan and the account's state, then sets team and region (004:2342, 004:2416).",
        to=lc.role("allocator"),
        subject=lambda ctx: f"Handover requested: {_account(ctx)}",
        body=lambda ctx: (
            f"{ctx.data.owner} ({ctx.data.outgoing_role}) hands off {_account(ctx)} (ARR ${ctx.data.arr:,.2f}): "
            f"{VALID_REASONS.get(ctx.data.reason, ctx.data.reason)} Suggested team: "
            f"{suggested_team(ctx.data, ctx.policy)}."
        ),
    ),
)


# ---- timers ------------------------------------------------------------------------------


def _reminder_due(ctx: Ctx) -> datetime | None:
    return follow_up_due(ctx.data, ctx.policy)


def _escalation_due(ctx: Ctx) -> datetime | None:
    due = follow_up_due(ctx.data, ctx.policy)
    return due + ctx.policy.follow_up_escalate_after if due is not None else None


S = HandoverState
BEFORE_READY = (S.REQUESTED, S.ALLOCATED, S.ASSIGNED, S.PUSHED_BACK)
BEFORE_CALL = (*BEFORE_READY, S.READY)
OPEN_STATES = (*BEFORE_CALL, S.CALL_HELD)

TIMERS: tuple[lc.TimerSpec[HandoverData, HandoverPolicy], ...] = (
    lc.TimerSpec(
        "follow_up_reminder",
        (S.CALL_HELD,),
        _reminder_due,
        "The follow-up period after the call is over, with follow-ups missing: remind the incoming owner",
        effects=(
            lc.notify(
                "follow_up_reminder",
                "Remind the incoming owner of the follow-ups still missing (004:2622).",
                to=_incoming,
                subject=lambda ctx: f"Handover follow-ups due: {_account(ctx)}",
                body=lambda ctx: (
                    f"{lc.duration(ctx.policy.follow_up_within)} since the handover call, still to do: "
                    f"{_follow_up_list(ctx)}."
                ),
            ),
        ),
        source_ref="004:2622",
    ),
    lc.TimerSpec(
        "follow_up_escalation",
        (S.CALL_HELD,),
        _escalation_due,
        "Follow-ups still missing some time after the reminder: tell the team lead",
        effects=(
            lc.notify(
                "follow_up_escalated",
                "The team lead hears of the incoming owner's overdue follow-ups.",
                to=lambda ctx: ["role:team_lead", _incoming_owner(ctx)],
                subject=lambda ctx: f"Handover follow-ups overdue: {_account(ctx)}",
                body=lambda ctx: (
                    f"{_incoming_owner(ctx)} has not recorded: {_follow_up_list(ctx)} (due {_follow_ups_due_on(ctx)}, "
                    f"reminded {lc.duration(ctx.policy.follow_up_escalate_after)} ago)."
                ),
            ),
        ),
        source_ref="004:2622; escalation inferred (reference-accounts.md §5(b))",
    ),
)


# ---- transitions -------------------------------------------------------------------------

_CHANGE_OWNER = lc.change_owner(OPEN_STATES)

COMPLETE_DESCRIPTION = (
    "The outgoing owner unassigns themselves: the incoming person becomes the account's owner and every open "
    "lifecycle of the account follows."
)

TRANSITIONS: tuple[lc.TransitionSpec[HandoverData, HandoverPolicy], ...] = (
    lc.TransitionSpec(
        "allocate",
        (S.REQUESTED,),
        S.ALLOCATED,
        "The allocator sets the team and region; a team other than the suggested one needs a reason.",
        params=AllocateParams,
        guards=(team_as_suggested_or_explained,),
        apply=lc.take_params,
        effects=(
            lc.notify(
                "assignment_requested",
                "The team leads pick who takes the account (004:2355, 004:2372).",
                to=lc.role("team_lead"),
                subject=lambda ctx: f"Assign {_account(ctx)} to a {ctx.data.region} {ctx.data.team}",
                body=lambda ctx: (
                    f"{_account(ctx)} moves from {ctx.data.owner} to the {ctx.data.region} "
                    f"{ctx.data.team} team: pick the incoming owner."
                ),
            ),
        ),
        source_ref="004:2342-2355, 004:2406",
    ),
    lc.TransitionSpec(
        "assign",
        (S.ALLOCATED,),
        S.ASSIGNED,
        "A team lead names the incoming owner, who must not be the outgoing one.",
        params=AssignParams,
        validate=_validate_assign,
        apply=lc.take_params,
        effects=(
            lc.notify(
                "owners_introduced",
                "Both owners learn of the handover; the outgoing one readies the account and schedules the call "
                "(004:2411-2421).",
                to=_both_owners,
                subject=lambda ctx: f"Handover of {_account(ctx)}: {ctx.data.owner} → {ctx.data.incoming_owner}",
                body=lambda ctx: (
                    f"{ctx.data.owner}: get {_account(ctx)} ready (current account plan, onboarding, invoices, "
                    f"health) and schedule the 15-30 minute handover call. {ctx.data.incoming_owner}: research the "
                    "account before the call."
                ),
            ),
        ),
        source_ref="004:2355, 004:2372",
    ),
    lc.TransitionSpec(
        "record_account_plan",
        BEFORE_READY,
        None,
        "Record the account plan note in Vitally and when it was last updated.",
        params=AccountPlanParams,
        validate=_validate_account_plan,
        apply=_record_account_plan,
        in_diagram=False,
        source_ref="004:2411, 004:2421",
    ),
    lc.TransitionSpec(
        "record_onboarding",
        BEFORE_READY,
        None,
        "Record that the customer is onboarded to one of the products they pay for.",
        params=OnboardingParams,
        validate=_validate_onboarding,
        apply=_record_onboarding,
        in_diagram=False,
        source_ref="004:2425-2496",
    ),
    lc.TransitionSpec(
        "record_health_check",
        BEFORE_READY,
        None,
        "Record whether the account is healthy, usage- and engagement-wise.",
        params=HealthCheckParams,
        apply=_record_health_check,
        in_diagram=False,
        source_ref="004:2378",
    ),
    lc.TransitionSpec(
        "mark_ready",
        (S.ASSIGNED,),
        S.READY,
        "The readiness checklist is met: the account may be handed over.",
        guards=READINESS_GUARDS,
        effects=(
            lc.notify(
                "handover_ready",
                "The incoming owner prepares for the call the outgoing owner schedules (004:2421, 004:2519-2548).",
                to=_incoming,
                subject=lambda ctx: f"{_account(ctx)} is ready to hand over",
                body=lambda ctx: f"{ctx.data.owner} schedules the handover call; prepare your questions.",
            ),
        ),
        source_ref="004:2411-2425",
    ),
    lc.TransitionSpec(
        "push_back",
        (S.ASSIGNED, S.READY),
        S.PUSHED_BACK,
        "The incoming owner pushes back, with the flags they see.",
        params=PushBackParams,
        guards=(raised_by_incoming_owner,),
        apply=_push_back,
        effects=(
            lc.notify(
                "pushed_back",
                "The outgoing owner gets the account to a good state first; the team lead settles disputes "
                "(004:2378, 004:8290).",
                to=lambda ctx: [ctx.data.owner, "role:team_lead"],
                subject=lambda ctx: f"Handover of {_account(ctx)} pushed back",
                body=lambda ctx: (
                    f"{ctx.data.incoming_owner} pushed back: "
                    f"{', '.join(lc.in_words(f) for f in ctx.data.push_backs[-1].flags)}. "
                    f"{ctx.data.push_backs[-1].note or ''}"
                ).strip(),
            ),
        ),
        source_ref="004:2378, 004:2711",
    ),
    _ending_push_back(
        "remedy",
        PushBackResolution.REMEDIED,
        lc.Role.OPERATOR,
        _incoming,
        "004:2378",
        "The outgoing owner remedied what the push-back raised, and says how.",
        "Say what was done about the flags raised.",
        "The incoming owner hears what was done.",
    ),
    _ending_push_back(
        "overrule",
        PushBackResolution.OVERRULED,
        lc.Role.ADMIN,
        _both_owners,
        "004:8290",
        "A team lead (Simon as tie-breaker) overrules the push-back: the incoming owner takes the "
        "account regardless, as a lead.",
        "Say why the push-back is overruled.",
        "The incoming owner works on the account regardless, treated as a lead (004:8290).",
    ),
    lc.TransitionSpec(
        "record_call",
        (S.READY,),
        S.CALL_HELD,
        "The handover call was held; the incoming owner's follow-up period starts.",
        params=CallParams,
        validate=_validate_call,
        apply=_record_call,
        effects=(
            lc.notify(
                "follow_ups_started",
                "The incoming owner's actions in the follow-up period after the call (004:2622-2631).",
                to=_incoming,
                subject=lambda ctx: f"{_account(ctx)}: your follow-ups after the handover call",
                body=lambda ctx: (
                    f"Within {lc.duration(ctx.policy.follow_up_within)} of the call, by {_follow_ups_due_on(ctx)}: "
                    f"{_follow_up_list(ctx)}."
                ),
            ),
        ),
        source_ref="004:2504",
    ),
    lc.TransitionSpec(
        "record_follow_up",
        (S.CALL_HELD,),
        None,
        "Record one of the incoming owner's follow-ups after the call.",
        params=FollowUpParams,
        validate=_validate_follow_up,
        apply=_record_follow_up,
        in_diagram=False,
        source_ref="004:2622-2631",
    ),
    lc.TransitionSpec(
        "complete",
        (S.CALL_HELD,),
        S.COMPLETED,
        COMPLETE_DESCRIPTION,
        guards=(follow_ups_done,),
        effects=(
            OWNERS_FOLLOW,
            lc.notify(
                "handover_completed",
                "The new owner is the sole point of contact (004:2650).",
                to=_both_owners,
                subject=lambda ctx: f"Handover of {_account(ctx)} completed",
                body=lambda ctx: f"{ctx.data.incoming_owner} now owns {_account(ctx)}; {ctx.data.owner} is unassigned.",
            ),
        ),
        source_ref="004:2650",
    ),
    # Completing before the call is refused by a guard naming what is missing, rather
    # than as a move the machine does not know.
    lc.TransitionSpec(
        "complete",
        BEFORE_CALL,
        S.COMPLETED,
        COMPLETE_DESCRIPTION,
        guards=(call_held,),
        in_diagram=False,
        source_ref="004:2650",
    ),
    lc.TransitionSpec(
        "reject",
        BEFORE_CALL,
        S.REJECTED,
        "The allocator or a team lead turns the handover down, saying why (e.g. not fully expanded).",
        guards=(lc.reason_required("Say why the handover is rejected."),),
        effects=(
            lc.notify(
                "handover_rejected",
                "The outgoing owner keeps the account, with the feedback (004:2336, 004:8184).",
                to=lc.owner,
                subject=lambda ctx: f"Handover of {_account(ctx)} rejected",
                body=lc.actor_and_reason,
            ),
        ),
        source_ref="004:2315, 004:8184",
    ),
    # Replacing the outgoing owner (who leaves, say); it must stay someone other than the incoming one.
    replace(_CHANGE_OWNER, description="Replace the outgoing owner.", validate=_validate_outgoing_owner),
)

STATES = (
    lc.StateSpec(
        S.REQUESTED,
        "The owner flagged the account for handover, for a valid reason (004:2416, 004:2321-2336).",
        on_enter=REQUESTED_EFFECTS,
    ),
    lc.StateSpec(S.ALLOCATED, "Team (TAM or CSM) and region (US or EU) are set (004:2342-2351)."),
    lc.StateSpec(
        S.ASSIGNED,
        "A team lead named the incoming owner; the outgoing owner readies the account (004:2355, 004:2411-2425).",
        checklist=READINESS,
    ),
    lc.StateSpec(S.PUSHED_BACK, "The incoming owner pushed back with flags (004:2378, 004:2711)."),
    lc.StateSpec(S.READY, "Ready to hand over; the outgoing owner schedules the handover call (004:2421)."),
    lc.StateSpec(
        S.CALL_HELD,
        "The handover call was held; the incoming owner has the follow-up period to act (004:2504, 004:2622).",
        checklist=tuple(FOLLOW_UPS.values()),
    ),
    lc.StateSpec(
        S.COMPLETED,
        "The outgoing owner is unassigned; the incoming one owns the account and its open lifecycles (004:2650).",
        terminal=True,
    ),
    lc.StateSpec(S.REJECTED, "Turned down; the outgoing owner keeps the account (004:2336, 004:8184).", terminal=True),
)


EXPOSURE = lc.Exposure[HandoverData, HandoverPolicy](
    description="An account moving from its owner to another (004:2236-2729).",
    states=HandoverState,
    columns=(
        lc.account_id_column(),
        lc.Column("reason", max_length=60),
        lc.Column(
            "incoming_owner", max_length=lc.PERSON_MAX_LENGTH, nullable=True, match=lc.Match.EQUALS, indexed=True
        ),
        lc.Column("team", max_length=10, nullable=True),
        lc.Column("region", max_length=10, nullable=True, match=lc.Match.ANY_OF, indexed=True),
        lc.overdue_column(
            "follow_up_due_at",
            follow_up_due_at,
            "overdueFollowUp",
            "True: follow-ups past due and still missing; false: all others.",
            indexed=True,
        ),
        lc.Column("opened_at", type=datetime, value=lambda handover: handover.opened_at, orderable=True),
        lc.Column("completed_at", type=datetime, value=_completed_at, nullable=True),
    ),
    default_order="OPENED_AT_DESC",
    # Its id is made from the account's by the service; requestHandover is in schema/handover.py.
    opening=None,
    account_numbered=True,
    mutations={
        "allocate": lc.Mutation(),
        "assign": lc.Mutation(),
        "record_account_plan": lc.Mutation("recordHandoverAccountPlan", input="HandoverAccountPlanInput"),
        "record_onboarding": lc.Mutation("recordHandoverOnboarding", input="HandoverOnboardingInput"),
        "record_health_check": lc.Mutation("recordHandoverHealthCheck", input="HandoverHealthCheckInput"),
        "mark_ready": lc.Mutation(
            "markHandoverReady",
            input="HandoverStepInput",
            description="Declare the account ready; refused, naming what is missing, until it is.",
        ),
        "push_back": lc.Mutation(),
        "remedy": lc.Mutation("remedyHandoverPushBack", input="HandoverStepInput"),
        "overrule": lc.Mutation("overruleHandoverPushBack", input="HandoverStepInput"),
        "record_call": lc.Mutation("recordHandoverCall", input="HandoverCallInput"),
        "record_follow_up": lc.Mutation("recordHandoverFollowUp", input="HandoverFollowUpInput"),
        "complete": lc.Mutation(input="HandoverStepInput"),
        "reject": lc.Mutation(input="HandoverStepInput"),
        "change_owner": None,
    },
    shared_result="HandoverResult",
    hidden=("follow_ups",),
    computed={
        "outgoing_owner": outgoing_owner,
        "reason_explained": reason_explained,
        "primary_products_onboarded": primary_products_onboarded,
        "follow_ups": follow_up_statuses,
    },
    computed_from_instance={"suggested_team": suggested_team_of, "follow_up_due_at": follow_up_due_at},
    type_names={
        AccountPlanNote: "HandoverAccountPlan",
        HandoverCall: "HandoverCallRecord",
        FollowUpStatus: "HandoverFollowUp",
    },
    owner_column="outgoing_owner",
)


HANDOVER = lc.LifecycleSpec(
    KIND,
    "Handover",
    "An account moving from its owner to another, with the owner change cascading to every open "
    "lifecycle of the account. Ids are `<account id>/<n>`, n counting the account's handovers; one may be open at a "
    "time. The account's current owner is the incoming owner of its latest completed handover (the `account(id)` "
    "query).",
    STATES,
    TRANSITIONS,
    TIMERS,
    HandoverData,
    HandoverPolicy,
    summary_of=_summary,
    validate_open=_validate_open,
    exposure=EXPOSURE,
)


HandoverWorkflow = lc.lifecycle_workflow(HANDOVER)
