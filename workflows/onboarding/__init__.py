"""Onboarding: a newly won customer taken from a signed contract to onboarded, then handed on.

Rules from the handbook (``shared/seeds/004_59a801b964a2a19e.txt``, cited as
``004:<line>``), as decided in ``shared/domain/README.md`` section 6 and
``shared/domain/reference-accounts.md`` sections 3 and 5(c):

- opened by the Closed Won of a new-business opportunity (``workflows/opportunity.py``)
  or by an operator, on one of three tracks: sales-led (the TAE), CS-led (a platform
  package or above, 004:6068) and the onboarding specialists' (004:12750);
- the onboarding plan is due within the first week (004:9700): the owner is reminded
  before it is due, the team lead told after;
- check-ins follow a cadence by ARR (004:9707-9709); each recorded check-in re-arms the
  next; a missed one (cadence plus grace) nudges the owner, a second moves to STALLED and
  tells the team lead (004:12700, 004:12753); re-engaging returns to IN_PROGRESS;
- ONBOARDED needs the minimum skills (004:9715-9728), every paid product onboarded
  (004:2425-2496) and the implementation health check (004:11588), each with evidence;
- at 3 months after the initial credit purchase (12 when the TAE retains a pre-purchased
  account) onboarding is over (004:2406, 004:9732): a TAE's account is handed to a TAM
  or CSM, the team suggested from the products onboarded;
- the specialists' north star: 90% logo retention through the first three months
  (004:12750), recorded per onboarding;
- a churn from any open state ends it; the churn retro is due within a week (004:11588).

Ids are ``<account id>/<n>``, made by the service (``Exposure.account_numbered``).
"""

from __future__ import annotations

import enum
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, TypeAlias

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from workflows.engine import vocabulary as lc
from workflows.handover import KIND as HANDOVER_KIND
from workflows.handover import PRIMARY_PRODUCTS, OwnerRole, PaidProduct, product_onboarded_problems
from workflows.onboarding import messages

KIND = "onboarding"


class OnboardingState(enum.StrEnum):
    """Where an onboarding stands (004:9692-9734, reference-accounts.md §5(c))."""

    PLAN_PENDING = "PLAN_PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    STALLED = "STALLED"
    ONBOARDED = "ONBOARDED"
    COMPLETED = "COMPLETED"
    CHURNED = "CHURNED"


class OnboardingTrack(enum.StrEnum):
    """Who onboards the customer: the TAE after a sales-led deal, Customer Success for a platform
    package or above (004:6068), or the onboarding specialists below the sales threshold (004:12750)."""

    SALES_LED = "SALES_LED"
    CS_LED = "CS_LED"
    SPECIALIST = "SPECIALIST"


class OnboardingSkill(enum.StrEnum):
    """What every customer should know how to do (004:9715-9728)."""

    ACTIONS = "ACTIONS"
    COHORTS = "COHORTS"
    DATA_TAXONOMY = "DATA_TAXONOMY"
    NOTEBOOKS = "NOTEBOOKS"
    ACTIVITY_LOG = "ACTIVITY_LOG"
    INTERNAL_AND_TEST_USER_FILTERING = "INTERNAL_AND_TEST_USER_FILTERING"


class ChurnSource(enum.StrEnum):
    """Who reported the churn: an operator, or the billing system's cancelled subscription."""

    OPERATOR = "OPERATOR"
    BILLING = "BILLING"


S = OnboardingState
BEFORE_ONBOARDED = (S.PLAN_PENDING, S.IN_PROGRESS, S.STALLED)
OPEN_STATES = (*BEFORE_ONBOARDED, S.ONBOARDED)

Person = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Evidence = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2000),
    Field(description="What shows it: a link, a note of the session, the customer's own words."),
]


class Evidenced(BaseModel):
    """A checklist item recorded with its evidence."""

    evidence: str
    recorded_by: str
    recorded_at: datetime


class SkillRecord(Evidenced):
    skill: OnboardingSkill


class ProductRecord(Evidenced):
    product: PaidProduct


class CheckIn(BaseModel):
    """A check-in call held with the customer (004:9705-9709)."""

    held_at: datetime
    note: str
    recorded_by: str


class Churn(BaseModel):
    source: ChurnSource
    reason: str
    recorded_by: str
    churned_at: datetime


class OnboardingData(BaseModel):
    account: lc.Account
    owner: Person = Field(description="The TAE, CSM or onboarding specialist onboarding the customer.")
    previous_owners: list[str] = Field(default_factory=list)
    owner_role: OwnerRole = Field(OwnerRole.TAE, description="Whose book the account is in (TAE, CSM, ONBOARDING).")
    track: OnboardingTrack
    arr: lc.Money = Field(description="The contract's annual recurring revenue: it sets the check-in cadence.")
    won_at: AwareDatetime | None = Field(None, description="When the deal was won (default: when opened).")
    credit_purchased_on: date | None = Field(
        None, description="The initial credit purchase (default: the day it was won); the handover is due from it."
    )
    retained_by_tae: bool = Field(
        False, description="A pre-purchased account the TAE keeps for a year before handing it over (004:2406)."
    )
    opportunity_id: str | None = Field(None, description="The won opportunity that opened it.")
    paid_products: Annotated[list[PaidProduct], Field(max_length=lc.MAX_LIST_ITEMS)] = Field(default_factory=list)
    plan_sent_at: datetime | None = None
    check_ins: list[CheckIn] = Field(default_factory=list)
    cadence_from: datetime | None = Field(
        None, description="The moment the next check-in is counted from: the plan, the last check-in, re-engagement."
    )
    missed_check_ins: int = Field(0, description="Check-ins missed in a row since the last one held.")
    skills: list[SkillRecord] = Field(default_factory=list)
    products_onboarded: list[ProductRecord] = Field(default_factory=list)
    health_check: Evidenced | None = Field(None, description="The implementation health check (004:11588).")
    retained_three_months: bool | None = Field(
        None, description="Specialist track: whether the account was still a customer three months in (004:12750)."
    )
    churn: Churn | None = None

    _distinct_products = field_validator("paid_products")(lc.distinct)


class OnboardingPolicy(BaseModel):
    """Every duration and threshold of the onboarding lifecycle, pinned per instance."""

    model_config = ConfigDict(extra="forbid")

    # "send them something in the first week" (004:9700).
    plan_within: timedelta = Field(timedelta(days=7), gt=timedelta(0))
    # Owner reminded at day 5, team lead told at day 8 (domain README §6).
    plan_reminder_after: timedelta = Field(timedelta(days=5), gt=timedelta(0))
    plan_escalation_after: timedelta = Field(timedelta(days=8), gt=timedelta(0))
    # "$60k+ - every 1-2 weeks for the first 6 months, then every month" (004:9707).
    high_arr_from: lc.Money = Decimal(60000)
    high_arr_early_every: timedelta = Field(timedelta(days=14), gt=timedelta(0))
    high_arr_early_months: int = Field(6, ge=0)
    high_arr_then_every: timedelta = Field(timedelta(days=30), gt=timedelta(0))
    # "$20-60k - every month for the first 3 months, then quarterly" (004:9709).
    mid_arr_from: lc.Money = Decimal(20000)
    mid_arr_early_every: timedelta = Field(timedelta(days=30), gt=timedelta(0))
    mid_arr_early_months: int = Field(3, ge=0)
    mid_arr_then_every: timedelta = Field(timedelta(days=91), gt=timedelta(0))
    # Below $20k: the specialists' cadence; the handbook names none (domain README §6: monthly).
    specialist_every: timedelta = Field(timedelta(days=30), gt=timedelta(0))
    # A check-in is missed this long after it was due (domain README §6).
    check_in_grace: timedelta = Field(timedelta(days=3), ge=timedelta(0))
    # Missed check-ins in a row that stall the onboarding (004:12700, 004:12753).
    stall_after_missed: int = Field(2, ge=1)
    # "3 months after initial credit purchase OR 12 months ... if retained by the TAE" (004:2406).
    handover_after_months: int = Field(3, ge=1)
    handover_after_months_retained: int = Field(12, ge=1)
    # "90% logo retention through the first three months" (004:12750).
    retention_months: int = Field(3, ge=1)
    retention_target_percent: Decimal = Field(Decimal(90), ge=0, le=100)
    # "Churn retros ... within 1 week of churn" (004:11588).
    churn_retro_within: timedelta = Field(timedelta(days=7), gt=timedelta(0))


# ``Ctx[XParams]`` for code that reads a trigger's params: its reads are type-checked.
Ctx: TypeAlias = lc.Context[OnboardingData, OnboardingPolicy, lc.ParamsT]
Effect: TypeAlias = lc.EffectSpec[OnboardingData, OnboardingPolicy]


# ---- pure derivations the API shows too ---------------------------------------------------


def _won_at(data: OnboardingData) -> datetime:
    assert data.won_at is not None, "prepare_open sets it when the onboarding opens"
    return data.won_at


def check_in_every(data: OnboardingData, policy: OnboardingPolicy, at: datetime) -> timedelta:
    """The check-in interval by ARR at a moment of the onboarding (004:9707-9709)."""
    if data.arr >= policy.high_arr_from:
        early = at < lc.add_months_dt(_won_at(data), policy.high_arr_early_months)
        return policy.high_arr_early_every if early else policy.high_arr_then_every
    if data.arr >= policy.mid_arr_from:
        early = at < lc.add_months_dt(_won_at(data), policy.mid_arr_early_months)
        return policy.mid_arr_early_every if early else policy.mid_arr_then_every
    return policy.specialist_every


def cadence(data: OnboardingData, policy: OnboardingPolicy) -> str:
    """The check-in cadence in words, as the pinned policy sets it for this ARR."""
    if data.arr >= policy.high_arr_from:
        return (
            f"every {lc.duration(policy.high_arr_early_every)} "
            f"for the first {lc.months(policy.high_arr_early_months)}, "
            f"then every {lc.duration(policy.high_arr_then_every)}"
        )
    if data.arr >= policy.mid_arr_from:
        return (
            f"every {lc.duration(policy.mid_arr_early_every)} for the first {lc.months(policy.mid_arr_early_months)}, "
            f"then every {lc.duration(policy.mid_arr_then_every)}"
        )
    return f"every {lc.duration(policy.specialist_every)}"


def next_check_in_due(data: OnboardingData, policy: OnboardingPolicy) -> datetime | None:
    """When the next check-in is due, counting the ones missed since the last held."""
    if data.cadence_from is None:
        return None
    return data.cadence_from + check_in_every(data, policy, data.cadence_from) * (data.missed_check_ins + 1)


def handover_due_at(data: OnboardingData, policy: OnboardingPolicy) -> datetime:
    """3 months after the initial credit purchase, 12 when the TAE retains a pre-purchased account (004:2406)."""
    after = policy.handover_after_months_retained if data.retained_by_tae else policy.handover_after_months
    purchased = data.credit_purchased_on or _won_at(data).date()
    return lc.add_months_dt(lc.start_of_day(purchased), after)


def retention_due_at(data: OnboardingData, policy: OnboardingPolicy) -> datetime:
    return lc.add_months_dt(_won_at(data), policy.retention_months)


def missing_skills(data: OnboardingData) -> list[OnboardingSkill]:
    recorded = {r.skill for r in data.skills}
    return [s for s in OnboardingSkill if s not in recorded]


def products_not_onboarded(data: OnboardingData) -> list[PaidProduct]:
    onboarded = {r.product for r in data.products_onboarded}
    return [p for p in data.paid_products if p not in onboarded]


def onboarded_products(data: OnboardingData) -> list[PaidProduct]:
    """The paid products onboarded so far, in the order recorded."""
    return [r.product for r in data.products_onboarded]


SKILLS: dict[OnboardingSkill, lc.ChecklistItem] = {
    OnboardingSkill.ACTIONS: lc.ChecklistItem(OnboardingSkill.ACTIONS, "Actions", "004:9718"),
    OnboardingSkill.COHORTS: lc.ChecklistItem(OnboardingSkill.COHORTS, "Cohorts", "004:9720"),
    OnboardingSkill.DATA_TAXONOMY: lc.ChecklistItem(OnboardingSkill.DATA_TAXONOMY, "Data taxonomy", "004:9722"),
    OnboardingSkill.NOTEBOOKS: lc.ChecklistItem(OnboardingSkill.NOTEBOOKS, "Notebooks", "004:9724"),
    OnboardingSkill.ACTIVITY_LOG: lc.ChecklistItem(OnboardingSkill.ACTIVITY_LOG, "Activity log", "004:9726"),
    OnboardingSkill.INTERNAL_AND_TEST_USER_FILTERING: lc.ChecklistItem(
        OnboardingSkill.INTERNAL_AND_TEST_USER_FILTERING, "Internal and test user filtering", "004:9728"
    ),
}

# What ONBOARDED needs: the exit checklist of IN_PROGRESS.
ONBOARDED_CHECKLIST = (
    lc.ChecklistItem("minimum_skills", "The customer knows the minimum skills, each with evidence", "004:9715-9728"),
    lc.ChecklistItem("paid_products_onboarded", "Every paid product is onboarded, each with evidence", "004:2425-2496"),
    lc.ChecklistItem("health_check_done", "The implementation health check is done, with evidence", "004:11588"),
)


def _next_check_in_at(onboarding: lc.Projected[OnboardingData, OnboardingPolicy]) -> datetime | None:
    """When the next check-in is due while the onboarding is in progress."""
    if onboarding.state != S.IN_PROGRESS:
        return None
    return next_check_in_due(onboarding.data, onboarding.policy)


def _cadence_of(onboarding: lc.Projected[OnboardingData, OnboardingPolicy]) -> str:
    """The check-in cadence for this ARR, in the pinned policy's terms (004:9707-9709)."""
    return cadence(onboarding.data, onboarding.policy)


def _churned_at(onboarding: lc.Projected[OnboardingData, OnboardingPolicy]) -> datetime | None:
    churn = onboarding.data.churn
    return churn.churned_at if churn else None


# ---- opening -------------------------------------------------------------------------------


def _prepare_open(data: OnboardingData, policy: OnboardingPolicy, now: datetime) -> None:
    if data.won_at is None:
        data.won_at = now


def _validate_open(data: OnboardingData, policy: OnboardingPolicy, now: datetime) -> dict[str, str]:
    problems = lc.reported_moment_problems("won_at", data.won_at, now=now)
    if data.retained_by_tae and data.owner_role is not OwnerRole.TAE:
        problems["retained_by_tae"] = f"only a TAE retains an account; the owner is a {data.owner_role}"
    return problems


# ---- parameters of the triggers ----------------------------------------------------------


class SendPlanParams(lc.Params):
    paid_products: Annotated[list[PaidProduct], Field(max_length=lc.MAX_LIST_ITEMS)] | None = Field(
        None, description="The products the customer pays for, when not known yet."
    )

    _distinct_products = field_validator("paid_products")(lambda v: lc.distinct(v) if v is not None else v)


class CheckInParams(lc.Params):
    held_at: AwareDatetime | None = Field(None, description="When the check-in was held (default: now).")
    note: Evidence


class PaidProductsParams(lc.Params):
    paid_products: Annotated[list[PaidProduct], Field(min_length=1, max_length=lc.MAX_LIST_ITEMS)]

    _distinct_products = field_validator("paid_products")(lc.distinct)


class SkillParams(lc.Params):
    skill: OnboardingSkill
    evidence: Evidence


class ProductParams(lc.Params):
    product: PaidProduct
    evidence: Evidence


class HealthCheckParams(lc.Params):
    evidence: Evidence


class ChurnParams(lc.Params):
    source: ChurnSource = ChurnSource.OPERATOR


def _validate_check_in(ctx: Ctx[CheckInParams]) -> dict[str, str]:
    held_at = ctx.params.held_at
    if held_at is None:
        return {}
    if held_at > ctx.now:
        return {"held_at": "must not be in the future"}
    last = ctx.data.check_ins[-1].held_at if ctx.data.check_ins else ctx.data.plan_sent_at
    if last is not None and held_at < last:
        return {"held_at": f"must not be before the last check-in or the plan ({last.isoformat()})"}
    return {}


def _validate_paid_products(ctx: Ctx[PaidProductsParams]) -> dict[str, str]:
    dropped = [p for p in onboarded_products(ctx.data) if p not in ctx.params.paid_products]
    if dropped:
        return {"paid_products": f"must keep {', '.join(dropped)}: already onboarded"}
    return {}


def _validate_skill(ctx: Ctx[SkillParams]) -> dict[str, str]:
    if ctx.params.skill not in missing_skills(ctx.data):
        return {"skill": "is already recorded"}
    return {}


def _validate_product(ctx: Ctx[ProductParams]) -> dict[str, str]:
    return product_onboarded_problems(ctx.params.product, ctx.data.paid_products, onboarded_products(ctx.data))


def _validate_health_check(ctx: Ctx) -> dict[str, str]:
    if ctx.data.health_check is not None:
        return {"evidence": "the health check is already recorded"}
    return {}


# ---- guards ------------------------------------------------------------------------------


@lc.guard("minimum_skills", f"{ONBOARDED_CHECKLIST[0].label} ({ONBOARDED_CHECKLIST[0].source}).")
def minimum_skills(ctx: Ctx) -> list[str]:
    return [f"Not recorded yet: the skill {SKILLS[s].label} ({SKILLS[s].source})." for s in missing_skills(ctx.data)]


@lc.guard("paid_products_onboarded", f"{ONBOARDED_CHECKLIST[1].label} ({ONBOARDED_CHECKLIST[1].source}).")
def paid_products_onboarded(ctx: Ctx) -> list[str]:
    if not ctx.data.paid_products:
        return ["No paid products are recorded; record what the customer pays for."]
    return [
        f"Not recorded yet: {lc.in_words(p)} onboarded, with evidence (004:2425-2496)."
        for p in products_not_onboarded(ctx.data)
    ]


@lc.guard("health_check_done", f"{ONBOARDED_CHECKLIST[2].label} ({ONBOARDED_CHECKLIST[2].source}).")
def health_check_done(ctx: Ctx) -> list[str]:
    if ctx.data.health_check is None:
        return ["Not recorded yet: the implementation health check (004:11588)."]
    return []


# ---- data changes ------------------------------------------------------------------------


def _send_plan(ctx: Ctx[SendPlanParams]) -> None:
    ctx.data.plan_sent_at = ctx.now
    ctx.data.cadence_from = ctx.now
    if ctx.params.paid_products is not None:
        ctx.data.paid_products = ctx.params.paid_products


def _record_check_in(ctx: Ctx[CheckInParams]) -> None:
    held_at = ctx.params.held_at or ctx.now
    ctx.data.check_ins = [*ctx.data.check_ins, lc.stamped(CheckIn, ctx, held_at=held_at)]
    ctx.data.cadence_from = held_at
    ctx.data.missed_check_ins = 0


def _miss_check_in(ctx: Ctx) -> None:
    ctx.data.missed_check_ins += 1


def _reengage(ctx: Ctx) -> None:
    ctx.data.cadence_from = ctx.now
    ctx.data.missed_check_ins = 0


def _record_skill(ctx: Ctx[SkillParams]) -> None:
    ctx.data.skills = [*ctx.data.skills, lc.stamped(SkillRecord, ctx)]


def _record_product(ctx: Ctx[ProductParams]) -> None:
    ctx.data.products_onboarded = [*ctx.data.products_onboarded, lc.stamped(ProductRecord, ctx)]


def _record_health_check(ctx: Ctx[HealthCheckParams]) -> None:
    ctx.data.health_check = lc.stamped(Evidenced, ctx)


def _record_retention(ctx: Ctx) -> None:
    ctx.data.retained_three_months = True


def _complete(ctx: Ctx) -> None:
    # A specialist account completing past its retention moment was retained, whichever of
    # the two timers due at that moment fired first.
    if _tracks_retention(ctx) and ctx.now >= retention_due_at(ctx.data, ctx.policy):
        ctx.data.retained_three_months = True


def _churn(ctx: Ctx[ChurnParams]) -> None:
    ctx.data.churn = lc.stamped(Churn, ctx)
    if _tracks_retention(ctx):
        ctx.data.retained_three_months = False


def _tracks_retention(ctx: Ctx) -> bool:
    """The specialists' track, with its three-month retention not yet decided."""
    return ctx.data.track is OnboardingTrack.SPECIALIST and ctx.data.retained_three_months is None


# ---- effects -----------------------------------------------------------------------------


def message_values(ctx: Ctx) -> dict[str, object]:
    """Every value an onboarding message may name (``messages.py``)."""
    data, policy = ctx.data, ctx.policy
    last = data.cadence_from or _won_at(data)
    return {
        "account": data.account.name,
        "owner": data.owner,
        "track": lc.in_words(data.track),
        "arr": f"${data.arr:,.2f}",
        "plan_within": lc.duration(policy.plan_within),
        "plan_due_on": f"{_won_at(data) + policy.plan_within:%Y-%m-%d}",
        "cadence": cadence(data, policy),
        "last_check_in_on": f"{last:%Y-%m-%d}",
        "missed": data.missed_check_ins,
        "churn_reason": data.churn.reason if data.churn else "",
        "retro_within": lc.duration(policy.churn_retro_within),
        "retro_due_on": f"{ctx.now + policy.churn_retro_within:%Y-%m-%d}",
        "onboarded": ", ".join(lc.in_words(p) for p in onboarded_products(data)) or "no paid product",
    }


def _owes_handover(ctx: Ctx) -> bool:
    return ctx.data.owner_role is OwnerRole.TAE and bool(ctx.data.paid_products)


def _handover_request(ctx: Ctx) -> dict[str, object]:
    data = ctx.data
    return {
        "account": data.account.model_dump(mode="json"),
        "arr": str(data.arr),
        "owner": data.owner,
        "outgoing_role": OwnerRole.TAE.value,
        "reason": "ONBOARDED",
        "paid_products": [p.value for p in data.paid_products],
        "onboarded_products": [p.value for p in onboarded_products(data)],
    }


# The service numbers it among the account's handovers (``Exposure.account_numbered``).
OPEN_HANDOVER: Effect = lc.start_lifecycle(
    "open_handover",
    "A TAE's onboarded account is due for handover: a handover request opens, its team suggested "
    "from the primary products onboarded (TAM for 1-2, CSM for 3, 004:2406).",
    kind=HANDOVER_KIND,
    account_id=lambda ctx: ctx.data.account.id,
    data=_handover_request,
    reason=lambda ctx: f"Onboarding {ctx.entity_id} completed: the TAE's account is due for handover (004:2406)",
    when=_owes_handover,
)


def primary_products_onboarded_of(data: OnboardingData) -> list[PaidProduct]:
    """The primary products onboarded (session replay, feature flags, error tracking): they suggest the team."""
    return [p for p in onboarded_products(data) if p in PRIMARY_PRODUCTS]


remind = lc.Reminders(message_values)

TIMERS: tuple[lc.TimerSpec[OnboardingData, OnboardingPolicy], ...] = (
    remind(
        "plan_reminder",
        "Before the first week is over, the plan not sent: remind the owner",
        messages.PLAN_REMINDER,
        states=(S.PLAN_PENDING,),
        # An onboarding opened for a deal won a while ago is not reminded of moments before it existed.
        due=lambda ctx: lc.owed(_won_at(ctx.data) + ctx.policy.plan_reminder_after, since=ctx.opened_at),
        to=lc.owner,
        source_ref="004:9700",
    ),
    remind(
        "plan_escalation",
        "The first week over, the plan not sent: tell the team lead",
        messages.PLAN_OVERDUE,
        states=(S.PLAN_PENDING,),
        due=lambda ctx: lc.owed(_won_at(ctx.data) + ctx.policy.plan_escalation_after, since=ctx.opened_at),
        to=lambda ctx: ["role:team_lead", ctx.data.owner],
        source_ref="004:9700, 004:12753",
    ),
    lc.TimerSpec(
        "check_in_missed",
        (S.IN_PROGRESS,),
        lambda ctx: (due + ctx.policy.check_in_grace) if (due := next_check_in_due(ctx.data, ctx.policy)) else None,
        "A check-in due by the cadence, plus the grace, not recorded: nudge the owner, or stall",
        trigger="miss_check_in",
        source_ref="004:9707-9709, 004:12700",
    ),
    lc.TimerSpec(
        "retention_recorded",
        OPEN_STATES,
        lambda ctx: retention_due_at(ctx.data, ctx.policy) if _tracks_retention(ctx) else None,
        "Specialist track, three months in and still a customer: record the account as retained",
        trigger="record_retention",
        source_ref="004:12750",
    ),
    lc.TimerSpec(
        "handover_window",
        (S.ONBOARDED,),
        lambda ctx: handover_due_at(ctx.data, ctx.policy),
        "3 months after the initial credit purchase (12 when the TAE retains a pre-purchased account): "
        "onboarding is over",
        trigger="complete",
        source_ref="004:2406, 004:9732",
    ),
)


# ---- transitions -------------------------------------------------------------------------

_nudge = remind.send(
    "check_in_missed",
    "The owner is nudged to hold the missed check-in (004:9707-9709).",
    messages.CHECK_IN_MISSED,
    to=lc.owner,
)
_stalled = remind.send(
    "onboarding_stalled",
    "The team lead hears of the stalled onboarding (004:12700, 004:12753).",
    messages.ONBOARDING_STALLED,
    to=lambda ctx: ["role:team_lead", ctx.data.owner],
)


def _stalls(ctx: Ctx) -> bool:
    return ctx.data.missed_check_ins + 1 >= ctx.policy.stall_after_missed


TRANSITIONS: tuple[lc.TransitionSpec[OnboardingData, OnboardingPolicy], ...] = (
    lc.TransitionSpec(
        "send_plan",
        (S.PLAN_PENDING,),
        S.IN_PROGRESS,
        "The onboarding plan was sent: billing and credits, the check-in cadence, training. The cadence starts.",
        params=SendPlanParams,
        apply=_send_plan,
        source_ref="004:9700-9711",
    ),
    lc.TransitionSpec(
        "record_check_in",
        (S.IN_PROGRESS,),
        None,
        "A check-in was held: the next one is due by the cadence from it.",
        params=CheckInParams,
        validate=_validate_check_in,
        apply=_record_check_in,
        in_diagram=False,
        source_ref="004:9705-9709",
    ),
    lc.TransitionSpec(
        "record_check_in",
        (S.STALLED,),
        S.IN_PROGRESS,
        "A check-in held with a stalled customer re-engages them.",
        params=CheckInParams,
        validate=_validate_check_in,
        apply=_record_check_in,
        source_ref="004:9705-9709",
    ),
    lc.TransitionSpec(
        "miss_check_in",
        (S.IN_PROGRESS,),
        None,
        "A check-in was missed: the owner is nudged.",
        role=lc.Role.SYSTEM,
        when=lambda ctx: not _stalls(ctx),
        apply=_miss_check_in,
        effects=(_nudge,),
        in_diagram=False,
        source_ref="004:9707-9709",
    ),
    lc.TransitionSpec(
        "miss_check_in",
        (S.IN_PROGRESS,),
        S.STALLED,
        "Another check-in missed: the onboarding stalls and the team lead is told.",
        role=lc.Role.SYSTEM,
        when=_stalls,
        apply=_miss_check_in,
        effects=(_stalled,),
        source_ref="004:12700, 004:12753",
    ),
    lc.TransitionSpec(
        "reengage",
        (S.STALLED,),
        S.IN_PROGRESS,
        "The customer is engaged again, say how: the cadence restarts now.",
        guards=(lc.reason_required("Say how the customer re-engaged."),),
        apply=_reengage,
        source_ref="004:12700",
    ),
    lc.TransitionSpec(
        "record_paid_products",
        BEFORE_ONBOARDED,
        None,
        "Record the products the customer pays for (only what they need, 004:2425).",
        params=PaidProductsParams,
        validate=_validate_paid_products,
        apply=lc.take_params,
        in_diagram=False,
        source_ref="004:2425",
    ),
    lc.TransitionSpec(
        "record_skill",
        BEFORE_ONBOARDED,
        None,
        "Record, with evidence, that the customer knows one of the minimum skills.",
        params=SkillParams,
        validate=_validate_skill,
        apply=_record_skill,
        in_diagram=False,
        source_ref="004:9715-9728",
    ),
    lc.TransitionSpec(
        "record_product_onboarded",
        BEFORE_ONBOARDED,
        None,
        "Record, with evidence, that the customer is onboarded to a product they pay for.",
        params=ProductParams,
        validate=_validate_product,
        apply=_record_product,
        in_diagram=False,
        source_ref="004:2425-2496",
    ),
    lc.TransitionSpec(
        "record_health_check",
        BEFORE_ONBOARDED,
        None,
        "Record, with evidence, the implementation health check.",
        params=HealthCheckParams,
        validate=_validate_health_check,
        apply=_record_health_check,
        in_diagram=False,
        source_ref="004:11588",
    ),
    lc.TransitionSpec(
        "mark_onboarded",
        (S.IN_PROGRESS,),
        S.ONBOARDED,
        "The customer is onboarded; refused, naming what is missing, until the checklist is met.",
        guards=(minimum_skills, paid_products_onboarded, health_check_done),
        source_ref="004:2425-2496, 004:9715-9728, 004:11588",
    ),
    lc.TransitionSpec(
        "record_retention",
        OPEN_STATES,
        None,
        "Three months in, still a customer: the specialists' account counts as retained.",
        role=lc.Role.SYSTEM,
        apply=_record_retention,
        in_diagram=False,
        source_ref="004:12750",
    ),
    lc.TransitionSpec(
        "complete",
        (S.ONBOARDED,),
        S.COMPLETED,
        "Onboarding is over: retention, expansion, cross-sell; a TAE's account is handed over.",
        role=lc.Role.SYSTEM,
        apply=_complete,
        effects=(
            remind.send(
                "onboarding_completed",
                "The owner changes gears to retention, expansion and cross-sell (004:9732).",
                messages.HANDOVER_DUE,
                to=lc.owner,
            ),
            OPEN_HANDOVER,
        ),
        source_ref="004:2406, 004:9732",
    ),
    lc.TransitionSpec(
        "churn",
        OPEN_STATES,
        S.CHURNED,
        "The customer churned (subscription cancelled): the churn retro is due within a week.",
        params=ChurnParams,
        guards=(lc.reason_required("Say why the customer churned."),),
        apply=_churn,
        effects=(
            remind.send(
                "churn_retro_due",
                "The owner and the team lead hold the churn retro within a week, posted to the churn channel "
                "(004:11588).",
                messages.CHURN_RETRO_DUE,
                to=lambda ctx: [ctx.data.owner, "role:team_lead", *lc.channel("churn")(ctx)],
            ),
        ),
        source_ref="004:11588",
    ),
    lc.change_owner(OPEN_STATES),
)

STATES = (
    lc.StateSpec(
        S.PLAN_PENDING,
        "Contract signed, billing set up; the onboarding plan is due within the first week (004:9698-9700).",
        on_enter=(
            remind.send(
                "onboarding_opened",
                "The owner sends the onboarding plan within the first week (004:9700-9711).",
                messages.ONBOARDING_OPENED,
                to=lc.owner,
            ),
        ),
    ),
    lc.StateSpec(
        S.IN_PROGRESS,
        "Check-ins follow the cadence by ARR; skills, products and the health check are recorded (004:9705-9728).",
        checklist=ONBOARDED_CHECKLIST,
    ),
    lc.StateSpec(S.STALLED, "Check-ins were missed; the team lead helps re-engage the customer (004:12700)."),
    lc.StateSpec(S.ONBOARDED, "Onboarded to every paid product; the handover window runs (004:2406)."),
    lc.StateSpec(
        S.COMPLETED,
        "Post-onboarding: retention, expansion, cross-sell; a TAE's account is handed over (004:9732).",
        terminal=True,
    ),
    lc.StateSpec(S.CHURNED, "The customer churned; the churn retro is due within a week (004:11588).", terminal=True),
)


EXPOSURE = lc.Exposure[OnboardingData, OnboardingPolicy](
    description="A newly won customer's onboarding (004:9692-9734).",
    states=OnboardingState,
    columns=(
        lc.account_id_column(),
        lc.Column("track", type=OnboardingTrack, max_length=20, match=lc.Match.ANY_OF, indexed=True),
        lc.Column("arr", type=lc.Money),
        lc.Column(
            "won_at", type=datetime, match=lc.Match.RANGE, filter_names=("wonAfter", "wonBefore"), orderable=True
        ),
        lc.overdue_column(
            "next_check_in_at",
            _next_check_in_at,
            "checkInOverdue",
            "True: in progress with a check-in past due; false: all others.",
        ),
        lc.Column("retained_three_months", type=bool, nullable=True),
        lc.Column("churned_at", type=datetime, value=_churned_at, nullable=True),
    ),
    default_order="WON_AT_DESC",
    opening=lc.Opening(
        name="openOnboarding",
        input="OpenOnboardingInput",
        fields=(
            "account",
            "owner",
            "owner_role",
            "track",
            "arr",
            "won_at",
            "credit_purchased_on",
            "retained_by_tae",
            "paid_products",
        ),
        description='Open an onboarding for a customer; its id is the next "<account id>/<n>". Refused while '
        "another onboarding of the account is open.",
    ),
    account_numbered=True,
    billing_events={
        # The billing provider cancelled the subscription: the customer churned (004:11588).
        "customer.subscription.deleted": lc.BillingTrigger(
            trigger="churn", params={"source": ChurnSource.BILLING}, reason="Subscription cancelled in billing"
        ),
    },
    mutations={
        "send_plan": lc.Mutation("sendOnboardingPlan", input="SendOnboardingPlanInput"),
        "record_check_in": lc.Mutation("recordOnboardingCheckIn", input="OnboardingCheckInInput"),
        "reengage": lc.Mutation("reengageOnboarding", input="OnboardingStepInput"),
        "record_paid_products": lc.Mutation("recordOnboardingPaidProducts", input="OnboardingPaidProductsInput"),
        "record_skill": lc.Mutation("recordOnboardingSkill", input="OnboardingSkillInput"),
        "record_product_onboarded": lc.Mutation("recordOnboardingProduct", input="OnboardingProductInput"),
        "record_health_check": lc.Mutation("recordOnboardingHealthCheck", input="OnboardingHealthCheckInput"),
        "mark_onboarded": lc.Mutation(
            "markOnboarded",
            input="OnboardingStepInput",
            description="Declare the customer onboarded; refused, naming what is missing, until the checklist is met.",
        ),
        "churn": lc.Mutation("churnOnboarding", input="ChurnOnboardingInput"),
        "change_owner": None,
    },
    always_set=("won_at",),
    computed={
        "missing_skills": missing_skills,
        "products_not_onboarded": products_not_onboarded,
        "primary_products_onboarded": primary_products_onboarded_of,
    },
    computed_from_instance={"next_check_in_at": _next_check_in_at, "cadence": _cadence_of},
    type_names={Evidenced: "OnboardingEvidence", CheckIn: "OnboardingCheckIn"},
)


ONBOARDING = lc.LifecycleSpec(
    KIND,
    "Onboarding",
    "A newly won customer onboarded: the plan in the first week, check-ins by ARR, the minimum skills, "
    "every paid product and the health check, then, three months after the credit purchase, onboarding is over and "
    "a TAE's account is handed over. Ids are `<account id>/<n>`; one may be open per account at a time.",
    STATES,
    TRANSITIONS,
    TIMERS,
    OnboardingData,
    OnboardingPolicy,
    initial_state=lambda data: S.PLAN_PENDING,
    summary_of=lambda data: f"{data.account.name}: {lc.in_words(data.track)} onboarding",
    prepare_open=_prepare_open,
    validate_open=_validate_open,
    exposure=EXPOSURE,
)


OnboardingWorkflow = lc.lifecycle_workflow(ONBOARDING)
