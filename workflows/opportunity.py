"""Opportunity: a sales deal moving through its pipeline to Closed Won or Closed Lost.

Rules from the handbook (``shared/seeds/004_59a801b964a2a19e.txt``, cited as
``004:<line>``), as decided in ``shared/domain/README.md`` section 1:

- two pipelines, chosen by record type: new business (004:5461-5545) and renewal
  (004:5576-5589);
- each open new-business stage has exit criteria (004:5468-5538), recorded with
  evidence; advancing past a stage, or skipping it, needs its criteria met or waived
  by an admin;
- Closed Won needs the contract signed by everyone (004:5538, 004:9694), except a
  month-to-month deal under $20k a year, which closes won as a "Monthly Contract"
  from any open stage (004:9696);
- Closed Lost needs a loss reason from the handbook's list (004:5545, 004:9741-9755);
  a competitor loss schedules a check-in after 9 months, "stuck with current setup"
  one every 6 months (004:9761-9770);
- the silence ladder: 14 days without a customer reply, nudge the owner ("Still
  interested?"); 7 more, "Did I lose you?"; 3 more, Closed Lost, reason disappeared
  (004:7312-7342); a recorded reply resets it;
- an ANNUAL deal closed won opens its RENEWAL opportunity: same account and owner,
  amount and "ARR up for renewal" copied, close date 4 weeks out (004:5565-5572), and
  the renewal lifecycle of the contract it signed (``workflows/renewal.py``), whose id is
  the deal's; the renewal opportunity then drives that contract: evaluation or
  commercial review means negotiating, Closed Won renews it, Closed Lost ends it;
- a new customer's deal closed won (annual or monthly) opens its onboarding
  (``workflows/onboarding``, 004:9692-9700).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, TypeAlias

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from workflows.engine import vocabulary as lc

KIND = "opportunity"


class OpportunityStage(enum.StrEnum):
    """Both pipelines' stages (004:5461, 004:5576)."""

    PROBLEM_AGREEMENT = "PROBLEM_AGREEMENT"
    SOLUTION_AGREEMENT = "SOLUTION_AGREEMENT"
    PRIORITY_AGREEMENT = "PRIORITY_AGREEMENT"
    COMMERCIAL_AGREEMENT = "COMMERCIAL_AGREEMENT"
    VENDOR_APPROVAL = "VENDOR_APPROVAL"
    QUALIFICATION = "QUALIFICATION"
    MEETING_BOOKED = "MEETING_BOOKED"
    PRODUCT_EVALUATION = "PRODUCT_EVALUATION"
    COMMERCIAL_LEGAL_REVIEW = "COMMERCIAL_LEGAL_REVIEW"
    CLOSED_WON = "CLOSED_WON"
    CLOSED_LOST = "CLOSED_LOST"


class RecordType(enum.StrEnum):
    """What kind of deal it is; a renewal runs the renewal pipeline (004:5395-5403)."""

    NEW_REVENUE = "NEW_REVENUE"
    NEW_REVENUE_EXISTING_CUSTOMER = "NEW_REVENUE_EXISTING_CUSTOMER"
    EXISTING_CONVERT_TO_ANNUAL = "EXISTING_CONVERT_TO_ANNUAL"
    RENEWAL = "RENEWAL"


class PlanType(enum.StrEnum):
    """How the customer pays (004:5407-5409); blank means monthly (004:5448)."""

    ANNUAL = "ANNUAL"
    MONTHLY = "MONTHLY"


class ForecastCategory(enum.StrEnum):
    """Where the deal stands in the forecast (004:5551-5559)."""

    PIPELINE = "PIPELINE"
    BEST_CASE = "BEST_CASE"
    COMMIT = "COMMIT"
    OMITTED = "OMITTED"


class LossReason(enum.StrEnum):
    """Why a deal was lost: the handbook's list (004:9741-9755), plus the competitor reason the
    follow-up rules name (004:9764)."""

    PRODUCT_FEATURE_GAP = "PRODUCT_FEATURE_GAP"
    PERFORMANCE_CONCERNS = "PERFORMANCE_CONCERNS"
    SECURITY_PRIVACY_CONCERNS = "SECURITY_PRIVACY_CONCERNS"
    PRICING = "PRICING"
    STUCK_WITH_CURRENT_SETUP = "STUCK_WITH_CURRENT_SETUP"
    CHAMPION_LEFT = "CHAMPION_LEFT"
    BUSINESS_RESTRUCTURED = "BUSINESS_RESTRUCTURED"
    DISAPPEARED = "DISAPPEARED"
    COMPETITOR = "COMPETITOR"


class Pipeline(enum.StrEnum):
    """The stages a deal moves through, chosen by its record type (004:5461, 004:5576)."""

    NEW_BUSINESS = "NEW_BUSINESS"
    RENEWAL = "RENEWAL"


S = OpportunityStage
NEW_BUSINESS_STAGES = (
    S.PROBLEM_AGREEMENT,
    S.SOLUTION_AGREEMENT,
    S.PRIORITY_AGREEMENT,
    S.COMMERCIAL_AGREEMENT,
    S.VENDOR_APPROVAL,
)
RENEWAL_STAGES = (S.QUALIFICATION, S.MEETING_BOOKED, S.PRODUCT_EVALUATION, S.COMMERCIAL_LEGAL_REVIEW)
OPEN_STAGES = NEW_BUSINESS_STAGES + RENEWAL_STAGES
PIPELINE_STAGES = {Pipeline.NEW_BUSINESS: NEW_BUSINESS_STAGES, Pipeline.RENEWAL: RENEWAL_STAGES}


def pipeline_of(record_type: RecordType) -> Pipeline:
    return Pipeline.RENEWAL if record_type is RecordType.RENEWAL else Pipeline.NEW_BUSINESS


EXIT_CRITERIA: dict[OpportunityStage, tuple[lc.ChecklistItem, ...]] = {
    S.PROBLEM_AGREEMENT: (
        lc.ChecklistItem(
            "quantified_pain",
            "Identified & implicated pain with specific, quantifiable metrics (time/money/risk)",
            "004:5468",
        ),
        lc.ChecklistItem(
            "cost_of_inaction",
            'Answer to "What happens if you do nothing?" documented with real consequence',
            "004:5470",
        ),
        lc.ChecklistItem(
            "problem_acknowledged", 'Buyer explicitly said "This is a problem we need to solve"', "004:5472"
        ),
    ),
    S.SOLUTION_AGREEMENT: (
        lc.ChecklistItem("active_usage_or_trial", "Active product usage OR completed POC/trial", "004:5484"),
        lc.ChecklistItem("documented_decision", "Clear, documentable decision made for us", "004:5486"),
        lc.ChecklistItem("economic_buyer", "Economic Buyer identified (name + title)", "004:5488"),
        lc.ChecklistItem("champion", "Champion identified (name)", "004:5490"),
    ),
    S.PRIORITY_AGREEMENT: (
        lc.ChecklistItem("budget_confirmed", 'Budget confirmed (amount range OR "yes, funded")', "004:5502"),
        lc.ChecklistItem(
            "decision_process", "Decision process mapped (who approves, what steps, timeline)", "004:5504"
        ),
        lc.ChecklistItem(
            "priority_quote", "Economic Buyer said this is a priority (exact quote documented)", "004:5506"
        ),
        lc.ChecklistItem("champion_tested", "Champion tested (evidence they're advocating internally)", "004:5508"),
        lc.ChecklistItem(
            "compelling_event", "Compelling event known (deadline: budget cycle, launch, renewal...)", "004:5510"
        ),
    ),
    S.COMMERCIAL_AGREEMENT: (
        lc.ChecklistItem("price_in_writing", "Price agreed in writing (email/quote with amount + terms)", "004:5522"),
        lc.ChecklistItem(
            "commercial_terms",
            "All commercial terms agreed (payment terms, contract length, prepaid amount)",
            "004:5524",
        ),
        lc.ChecklistItem(
            "paper_process", "Paper process mapped (legal, security, procurement steps + owners + timeline)", "004:5526"
        ),
    ),
    S.VENDOR_APPROVAL: (lc.ChecklistItem("contract_signed", "Contract signed by everyone", "004:5538, 004:9694"),),
    # The renewal pipeline lists no exit criteria; closing won still means signed (004:5587).
    S.COMMERCIAL_LEGAL_REVIEW: (lc.ChecklistItem("contract_signed", "Renewal contract signed", "004:5587"),),
}


Percent = Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2)]


class NextStep(BaseModel):
    """What happens next, who at the customer owns it, and by when (004:5597-5599)."""

    model_config = ConfigDict(extra="forbid")

    text: lc.ShortText
    customer_owner: Annotated[str, Field(max_length=200)] | None = None
    due_date: date | None = None


class CriterionRecord(BaseModel):
    evidence: str | None = None
    recorded_by: str
    recorded_at: datetime
    waived: bool = False
    waiver_reason: str | None = None


class OpportunityData(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    account: lc.Account
    owner: Annotated[str, Field(min_length=1, max_length=200)]
    previous_owners: list[str] = Field(default_factory=list)
    record_type: RecordType = RecordType.NEW_REVENUE
    plan_type: PlanType = PlanType.MONTHLY
    close_date: date
    term_months: Annotated[int, Field(ge=1, le=120)] = 12
    amount: lc.Money = Field(description="Total credit amount before discounts.")
    discount_percent: Percent = Decimal(0)
    contract_start_date: date | None = None
    forecast_category: ForecastCategory = ForecastCategory.PIPELINE
    next_step: NextStep | None = None
    lead_source: Annotated[str, Field(max_length=200)] | None = None
    silence_timers_enabled: bool = True
    last_customer_reply_at: datetime | None = None
    criteria: dict[OpportunityStage, dict[str, CriterionRecord]] = Field(default_factory=dict)
    loss_reason: LossReason | None = None
    loss_note: str | None = None
    closed_as_monthly_contract: bool = Field(
        False, description="Closed won as a month-to-month deal under the monthly limit (004:9696)."
    )
    follow_ups_sent: int = 0
    follow_ups_stopped: bool = Field(False, description="The follow-up reminders of this lost deal were stopped.")
    arr_up_for_renewal: lc.Money | None = None
    renewal_of: str | None = Field(None, description="The opportunity whose Closed Won opened this renewal.")
    renewal_generation: int = 0
    contract_id: str | None = Field(
        None, description="For a renewal opportunity: the contract (renewal lifecycle) it renews."
    )

    @lc.computed_property
    def pipeline(self) -> Pipeline:
        """The pipeline its record type chooses."""
        return pipeline_of(self.record_type)

    @lc.computed_property
    def arr_discounted(self) -> lc.Money:
        """Amount x (1 - discount) x 12 / term (004:5436)."""
        arr = self.amount * (1 - self.discount_percent / 100) * 12 / self.term_months
        return arr.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    @lc.computed_property
    def contract_end_date(self) -> date | None:
        """Start date + term (004:5440)."""
        return lc.add_months(self.contract_start_date, self.term_months) if self.contract_start_date else None


class ExitCriterion(BaseModel):
    """A stage's exit criterion and whether it is met."""

    stage: OpportunityStage
    key: str
    label: str
    source: str
    met: bool
    waived: bool
    evidence: str | None
    waiver_reason: str | None
    recorded_by: str | None
    recorded_at: datetime | None


def exit_criteria(data: OpportunityData) -> list[ExitCriterion]:
    """Every exit criterion of this deal's pipeline, met or not."""
    out = []
    for stage in PIPELINE_STAGES[data.pipeline]:
        for item in EXIT_CRITERIA.get(stage, ()):
            record = data.criteria.get(stage, {}).get(item.key)
            out.append(
                ExitCriterion(
                    stage=stage,
                    key=item.key,
                    label=item.label,
                    source=item.source,
                    met=record is not None,
                    waived=bool(record and record.waived),
                    evidence=record.evidence if record else None,
                    waiver_reason=record.waiver_reason if record else None,
                    recorded_by=record.recorded_by if record else None,
                    recorded_at=record.recorded_at if record else None,
                )
            )
    return out


class OpportunityPolicy(BaseModel):
    """Every duration and threshold of the opportunity lifecycle, pinned per instance."""

    model_config = ConfigDict(extra="forbid")

    silence_first_nudge_after: timedelta = Field(timedelta(days=14), gt=timedelta(0))  # 004:7312
    silence_second_nudge_after: timedelta = Field(timedelta(days=7), gt=timedelta(0))  # 004:7338
    silence_close_after: timedelta = Field(timedelta(days=3), gt=timedelta(0))  # 004:7342
    monthly_close_won_arr_limit: Decimal = Field(Decimal(20000), ge=0)  # 004:9696
    competitor_follow_up_months: int = Field(9, ge=1)  # 004:9764
    stuck_follow_up_every_months: int = Field(6, ge=1)  # 004:9769
    renewal_close_date_after: timedelta = Field(timedelta(days=28), ge=timedelta(0))  # 004:5572


# What the opportunity's guards, changes, timers and effects read: its data and pinned policy.
# ``Ctx[XParams]`` for code that reads a trigger's params: its reads are type-checked.
Ctx: TypeAlias = lc.Context[OpportunityData, OpportunityPolicy, lc.ParamsT]
Effect: TypeAlias = lc.EffectSpec[OpportunityData, OpportunityPolicy]
Transition: TypeAlias = lc.TransitionSpec[OpportunityData, OpportunityPolicy]
Timer: TypeAlias = lc.TimerSpec[OpportunityData, OpportunityPolicy]


# ---- parameters of the triggers --------------------------------------------------------


class CriterionParams(lc.Params):
    stage: OpportunityStage
    criterion: Annotated[str, Field(min_length=1, max_length=100)]

    @model_validator(mode="after")
    def _known_criterion(self) -> CriterionParams:
        keys = [c.key for c in EXIT_CRITERIA.get(self.stage, ())]
        if self.criterion not in keys:
            raise ValueError(
                f"{self.stage} has no exit criterion {self.criterion!r}; it has: {', '.join(keys) or 'none'}"
            )
        return self


class RecordCriterionParams(CriterionParams):
    evidence: lc.ShortText


class MoveParams(lc.Params):
    to: OpportunityStage | None = Field(
        None,
        description="Default: the next stage. A later stage skips ahead; every skipped stage's criteria must be met.",
    )


class MoveBackParams(lc.Params):
    to: OpportunityStage = Field(description="The earlier stage of its pipeline to move back to.")


class CloseLostParams(lc.Params):
    loss_reason: LossReason | None = Field(None, description="Required: why the deal was lost.")
    loss_note: Annotated[str, Field(max_length=2000)] | None = None


class UpdateFieldsParams(lc.Params):
    """The fields to change; those left out stay as they are."""

    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    account_name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    plan_type: PlanType | None = None
    close_date: date | None = None
    term_months: Annotated[int, Field(ge=1, le=120)] | None = None
    amount: lc.Money | None = None
    discount_percent: Percent | None = None
    contract_start_date: date | None = None
    forecast_category: ForecastCategory | None = None
    next_step: NextStep | None = None
    lead_source: Annotated[str, Field(max_length=200)] | None = None
    silence_timers_enabled: bool | None = None

    @model_validator(mode="after")
    def _something(self) -> UpdateFieldsParams:
        if not self.model_fields_set:
            raise ValueError("name at least one field to change")
        return self


class CustomerReplyParams(lc.Params):
    at: AwareDatetime | None = Field(None, description="When they replied (default: now).")
    note: Annotated[str, Field(max_length=2000)] | None = None


# ---- guards ------------------------------------------------------------------------------


def _stage_span(ctx: Ctx, to: OpportunityStage | None) -> tuple[OpportunityStage, ...]:
    """The stages whose exit criteria must be met to go from the current stage to ``to``."""
    stages = PIPELINE_STAGES[ctx.data.pipeline]
    here = stages.index(OpportunityStage(ctx.state))
    end = stages.index(to) if to in stages else len(stages)
    return stages[here:end]


def _unmet_criteria(ctx: Ctx, stages: tuple[OpportunityStage, ...]) -> list[str]:
    met = ctx.data.criteria
    return [
        f"{stage}: {item.label} ({item.key})"
        for stage in stages
        for item in EXIT_CRITERIA.get(stage, ())
        if item.key not in met.get(stage, {})
    ]


@lc.guard(
    "exit_criteria_met",
    "The exit criteria of the current stage, and of any skipped stage, are met or waived (004:5461-5549).",
)
def exit_criteria_met(ctx: Ctx[MoveParams]) -> list[str]:
    stages = PIPELINE_STAGES[ctx.data.pipeline]
    target = (ctx.params.to if ctx.params else None) or stages[stages.index(OpportunityStage(ctx.state)) + 1]
    return _unmet_criteria(ctx, _stage_span(ctx, target))


def _small_monthly(ctx: Ctx) -> bool:
    data = ctx.data
    return data.plan_type is PlanType.MONTHLY and data.arr_discounted < ctx.policy.monthly_close_won_arr_limit


@lc.guard(
    "contract_signed",
    "The contract is signed by everyone (004:5538, 004:9694), or the deal is month-to-month "
    "under the monthly limit (004:9696).",
)
def contract_signed(ctx: Ctx) -> list[str]:
    if _small_monthly(ctx):
        return []
    unmet = _unmet_criteria(ctx, _stage_span(ctx, None))
    if not unmet:
        return []
    limit = ctx.policy.monthly_close_won_arr_limit
    return [
        *unmet,
        f"or the deal is MONTHLY with ARR under ${limit:,.0f} (it is {ctx.data.plan_type} with "
        f"ARR ${ctx.data.arr_discounted:,.2f})",
    ]


@lc.guard("loss_reason_given", "A loss reason from the handbook's list is given (004:5545).", on_input=True)
def loss_reason_given(ctx: Ctx[CloseLostParams]) -> list[str]:
    return [] if ctx.params.loss_reason else ["A loss reason is required to close an opportunity as lost."]


def _validate_criterion(ctx: Ctx[CriterionParams]) -> dict[str, str]:
    if ctx.params.stage not in PIPELINE_STAGES[ctx.data.pipeline]:
        return {"stage": f"{ctx.params.stage} is not a stage of the {ctx.data.pipeline} pipeline"}
    return {}


def _validate_waiver(ctx: Ctx[CriterionParams]) -> dict[str, str]:
    problems = _validate_criterion(ctx)
    record = ctx.data.criteria.get(ctx.params.stage, {}).get(ctx.params.criterion)
    if not problems and record is not None:
        problems["criterion"] = "is already met" + (" (waived)" if record.waived else "")
    return problems


def _validate_reply(ctx: Ctx[CustomerReplyParams]) -> dict[str, str]:
    return lc.reported_moment_problems(
        "at", ctx.params.at, now=ctx.now, since=ctx.opened_at, since_what="the opportunity was opened"
    )


# ---- data changes ------------------------------------------------------------------------


def _record_criterion(ctx: Ctx[RecordCriterionParams]) -> None:
    ctx.data.criteria.setdefault(ctx.params.stage, {})[ctx.params.criterion] = lc.stamped(CriterionRecord, ctx)


def _waive_criterion(ctx: Ctx[CriterionParams]) -> None:
    ctx.data.criteria.setdefault(ctx.params.stage, {})[ctx.params.criterion] = lc.stamped(
        CriterionRecord, ctx, waived=True, waiver_reason=ctx.reason
    )


def _close_won(ctx: Ctx) -> None:
    # 004:9696: a small month-to-month deal closes won as a "Monthly Contract".
    ctx.data.closed_as_monthly_contract = _small_monthly(ctx) and bool(_unmet_criteria(ctx, _stage_span(ctx, None)))


def _close_lost(ctx: Ctx[CloseLostParams]) -> None:
    lc.take_params(ctx)
    # 004:5559: marking it Closed Lost omits it from the forecast.
    ctx.data.forecast_category = ForecastCategory.OMITTED


def _update_fields(ctx: Ctx[UpdateFieldsParams]) -> None:
    for field, value in ctx.params:
        if field not in ctx.params.model_fields_set:
            continue
        if field == "account_name":
            ctx.data.account = lc.Account(id=ctx.data.account.id, name=ctx.params.account_name)
        else:
            setattr(ctx.data, field, value)


def _record_reply(ctx: Ctx[CustomerReplyParams]) -> None:
    ctx.data.last_customer_reply_at = lc.latest(ctx.params.at or ctx.now, ctx.data.last_customer_reply_at)


def _count_follow_up(ctx: Ctx) -> None:
    ctx.data.follow_ups_sent += 1


def _stop_follow_ups(ctx: Ctx) -> None:
    ctx.data.follow_ups_stopped = True


# ---- effects -----------------------------------------------------------------------------

# Deals recorded before the contract renewal lifecycle existed keep their old effects
# (tests/histories/opportunity-pipeline-*); runs started since open and drive it.
CONTRACT_RENEWAL_PATCH = "open-contract-renewal"
# workflows/renewal.py imports this module, so its kind and triggers are named here.
CONTRACT_KIND = "renewal"
# Deals won before the onboarding lifecycle existed open none (tests/histories/opportunity-*).
ONBOARDING_PATCH = "open-onboarding"
# workflows/onboarding imports the handover, which knows nothing of deals; named here as the renewal is.
ONBOARDING_KIND = "onboarding"
# The renewal stages where the contract is being negotiated (004:5583-5585).
NEGOTIATION_STAGES = (S.PRODUCT_EVALUATION, S.COMMERCIAL_LEGAL_REVIEW)


def _renewal_opportunity_id(ctx: Ctx) -> str:
    data = ctx.data
    root = data.renewal_of.rsplit("-renewal-", 1)[0] if data.renewal_of else ctx.entity_id
    return f"{root}-renewal-{data.renewal_generation + 1}"


def _renewal_opportunity(ctx: Ctx) -> dict[str, object]:
    data = ctx.data
    # The contract this deal signed has this deal's id; its customer has just signed,
    # so the ghosting sequence for silent prospects (004:7309-7342) does not apply.
    contract = {"contract_id": ctx.entity_id, "silence_timers_enabled": False}
    return {
        "name": f"{data.name} (renewal)",
        "account": data.account.model_dump(mode="json"),
        "owner": data.owner,
        "record_type": RecordType.RENEWAL,
        "plan_type": PlanType.ANNUAL,
        "close_date": (ctx.now + ctx.policy.renewal_close_date_after).date().isoformat(),
        "term_months": data.term_months,
        "amount": str(data.amount),
        "discount_percent": str(data.discount_percent),
        "arr_up_for_renewal": str(data.amount),
        "renewal_of": ctx.entity_id,
        "renewal_generation": data.renewal_generation + 1,
        **(contract if ctx.patched(CONTRACT_RENEWAL_PATCH) else {}),
    }


def _contract_renewal(ctx: Ctx) -> dict[str, object]:
    data = ctx.data
    return {
        "account": data.account.model_dump(mode="json"),
        "owner": data.owner,
        "start_date": (data.contract_start_date or data.close_date).isoformat(),
        "term_months": data.term_months,
        "credit_amount": str(data.amount),
        "annual_spend": str(data.arr_discounted),
        "renewal_opportunity_id": _renewal_opportunity_id(ctx),
    }


def _opened_by_annual_win(ctx: Ctx) -> str:
    return f"Opened by the Closed Won of annual opportunity {ctx.entity_id}"


def _drives_contract(ctx: Ctx) -> bool:
    return ctx.data.contract_id is not None and ctx.patched(CONTRACT_RENEWAL_PATCH)


def _contract(ctx: Ctx) -> tuple[str, str] | None:
    return (CONTRACT_KIND, ctx.data.contract_id) if ctx.data.contract_id else None


def _is_annual(ctx: Ctx) -> bool:
    return ctx.data.plan_type is PlanType.ANNUAL


def _deal(ctx: Ctx) -> str:
    return f"{ctx.data.name} ({ctx.data.account.name})"


OPEN_RENEWAL_OPPORTUNITY: Effect = lc.start_lifecycle(
    "open_renewal_opportunity",
    "An annual deal closed won opens its renewal opportunity (004:5565-5572).",
    kind=KIND,
    entity_id=_renewal_opportunity_id,
    data=_renewal_opportunity,
    reason=_opened_by_annual_win,
    when=_is_annual,
)

OPEN_CONTRACT_RENEWAL: Effect = lc.start_lifecycle(
    "open_contract_renewal",
    "An annual deal closed won opens the renewal lifecycle of the contract it signed (domain README §4); "
    "a renewal opportunity's own win renews its contract instead.",
    kind=CONTRACT_KIND,
    entity_id=lambda ctx: ctx.entity_id,
    data=_contract_renewal,
    reason=_opened_by_annual_win,
    when=lambda ctx: _is_annual(ctx) and ctx.data.contract_id is None and ctx.patched(CONTRACT_RENEWAL_PATCH),
)

RENEW_CONTRACT: Effect = lc.fire_on(
    "contract_renewed",
    "The renewal opportunity's Closed Won renews its contract (004:5587).",
    target=_contract,
    trigger="renew",
    params=lambda ctx: {
        "opportunity_id": ctx.entity_id,
        "credit_amount": str(ctx.data.amount),
        "annual_spend": str(ctx.data.arr_discounted),
        "term_months": ctx.data.term_months,
        "next_renewal_opportunity_id": _renewal_opportunity_id(ctx),
    },
    reason=lambda ctx: f"Renewal opportunity {ctx.entity_id} closed won",
    when=lambda ctx: _is_annual(ctx) and _drives_contract(ctx),
)

CONTRACT_NEGOTIATING: Effect = lc.fire_on(
    "contract_negotiating",
    "The renewal opportunity in evaluation or commercial review: its contract is negotiating (004:5583-5585).",
    target=_contract,
    trigger="start_negotiation",
    params=lambda ctx: {"opportunity_id": ctx.entity_id},
    reason=lambda ctx: f"Renewal opportunity {ctx.entity_id} moved to {ctx.state}",
    when=_drives_contract,
)

CONTRACT_NOT_RENEWING: Effect = lc.fire_on(
    "contract_not_renewing",
    "The renewal opportunity's Closed Lost: its contract is not renewing (004:5589).",
    target=_contract,
    trigger="renewal_lost",
    params=lambda ctx: {
        "opportunity_id": ctx.entity_id,
        "loss_reason": str(ctx.data.loss_reason),
        **({"loss_note": ctx.data.loss_note} if ctx.data.loss_note else {}),
    },
    reason=lambda ctx: f"Renewal opportunity {ctx.entity_id} closed lost",
    when=_drives_contract,
)


def _onboarding(ctx: Ctx) -> dict[str, object]:
    data = ctx.data
    return {
        "account": data.account.model_dump(mode="json"),
        "owner": data.owner,
        "owner_role": "TAE",
        "track": "SALES_LED",
        "arr": str(data.arr_discounted),
        "won_at": ctx.now.isoformat(),
        "credit_purchased_on": (data.contract_start_date or data.close_date).isoformat(),
        "opportunity_id": ctx.entity_id,
    }


# The service numbers it among the account's onboardings (``Exposure.account_numbered``).
OPEN_ONBOARDING: Effect = lc.start_lifecycle(
    "open_onboarding",
    "A new customer's deal closed won (annual or monthly) opens its onboarding (004:9692-9700).",
    kind=ONBOARDING_KIND,
    account_id=lambda ctx: ctx.data.account.id,
    data=_onboarding,
    reason=lambda ctx: f"Opened by the Closed Won of new-business opportunity {ctx.entity_id}",
    when=lambda ctx: ctx.data.record_type is RecordType.NEW_REVENUE and ctx.patched(ONBOARDING_PATCH),
)

# What a won annual deal starts: its renewal opportunity and its contract's renewal
# lifecycle, or, for a renewal opportunity, the renewal of its contract.
ON_ANNUAL_CLOSED_WON: tuple[Effect, ...] = (OPEN_RENEWAL_OPPORTUNITY, OPEN_CONTRACT_RENEWAL, RENEW_CONTRACT)

CLOSED_WON_EFFECTS: tuple[Effect, ...] = (
    lc.notify(
        "revops_set_up_billing",
        "RevOps sets up the subscription and invoicing (004:5000).",
        to=lc.role("revops"),
        subject=lambda ctx: f"Closed Won: {_deal(ctx)}",
        body=lambda ctx: (
            f"Set up the subscription and invoicing: {ctx.data.plan_type} plan, "
            f"ARR ${ctx.data.arr_discounted:,.2f}, term {ctx.data.term_months} months."
        ),
    ),
    lc.notify(
        "closed_won_announced",
        "Shared in #closed-won (004:11959).",
        to=lc.channel("closed-won"),
        subject=lambda ctx: f"Closed Won: {_deal(ctx)}",
        body=lambda ctx: f"{ctx.data.owner} closed {_deal(ctx)} at ARR ${ctx.data.arr_discounted:,.2f}.",
    ),
    *ON_ANNUAL_CLOSED_WON,
    OPEN_ONBOARDING,
)


def _follow_up_plan(ctx: Ctx) -> str:
    """What follows the loss, in the pinned policy's terms (004:9761-9770)."""
    match ctx.data.loss_reason:
        case LossReason.COMPETITOR:
            return f"check in after {lc.months(ctx.policy.competitor_follow_up_months)} (004:9764)"
        case LossReason.STUCK_WITH_CURRENT_SETUP:
            return f"check in every {lc.months(ctx.policy.stuck_follow_up_every_months)} (004:9769)"
        case LossReason.PRODUCT_FEATURE_GAP:
            return "contact them when the missing feature ships (004:9765)"
        case LossReason.SECURITY_PRIVACY_CONCERNS:
            return "contact them when we get the certification (004:9767)"
    return "none"


CLOSED_LOST_EFFECTS: tuple[Effect, ...] = (
    lc.notify(
        "closed_lost_shared",
        "Shared internally to learn from it (004:9774, 004:11961).",
        to=lc.channel("closed-lost"),
        subject=lambda ctx: f"Closed Lost: {_deal(ctx)}",
        body=lambda ctx: " ".join(
            filter(
                None, [f"Reason: {ctx.data.loss_reason}.", ctx.data.loss_note, f"Follow-up: {_follow_up_plan(ctx)}."]
            )
        ),
    ),
)


# ---- timers ------------------------------------------------------------------------------


def _silence_anchor(ctx: Ctx) -> datetime:
    return ctx.data.last_customer_reply_at or ctx.opened_at


def _silent_for(ctx: Ctx, step: int) -> timedelta:
    """How long the customer has been silent when the ladder's ``step`` comes: 1 and 2 nudge, 3 closes."""
    policy = ctx.policy
    ladder = (policy.silence_first_nudge_after, policy.silence_second_nudge_after, policy.silence_close_after)
    return sum(ladder[:step], timedelta(0))


def _silence_due(step: int) -> Callable[[Ctx], datetime | None]:
    def due(ctx: Ctx) -> datetime | None:
        if not ctx.data.silence_timers_enabled:
            return None
        return _silence_anchor(ctx) + _silent_for(ctx, step)

    return due


def _silence_nudge(step: int, name: str, silence: str, subject: str, source_ref: str) -> Timer:
    """The ladder's ``step``, 1 or 2: after ``silence``, the owner is nudged to send ``subject``."""
    nudge = lc.notify(
        "silence_nudge",
        "Nudge the owner to follow up with the silent customer (004:7312-7342).",
        to=lc.owner,
        subject=lambda ctx: f"{subject} ({_deal(ctx)})",
        body=lambda ctx: (
            f"No reply from {ctx.data.account.name} for {lc.duration(_silent_for(ctx, step))}, since "
            f'{lc.day(_silence_anchor(ctx))}. Reply-all with the subject "{subject}".'
        ),
    )
    description = f'{silence}: nudge "{subject}"'
    return lc.TimerSpec(name, OPEN_STAGES, _silence_due(step), description, effects=(nudge,), source_ref=source_ref)


def _next_step_due(ctx: Ctx) -> datetime | None:
    step = ctx.data.next_step
    # The due date is a whole day: it has passed once the next day begins.
    return lc.start_of_day(step.due_date) + timedelta(days=1) if step and step.due_date else None


def _next_step_overdue_body(ctx: Ctx) -> str:
    step = ctx.data.next_step
    assert step is not None, "the next-step timer is armed only while there is a next step"
    return f'"{step.text}" was due {step.due_date}.'


def _follow_up_due(ctx: Ctx) -> datetime | None:
    data = ctx.data
    if data.follow_ups_stopped:
        return None
    if data.loss_reason is LossReason.COMPETITOR and data.follow_ups_sent == 0:
        return lc.add_months_dt(ctx.state_entered_at, ctx.policy.competitor_follow_up_months)
    if data.loss_reason is LossReason.STUCK_WITH_CURRENT_SETUP:
        return lc.add_months_dt(
            ctx.state_entered_at, ctx.policy.stuck_follow_up_every_months * (data.follow_ups_sent + 1)
        )
    return None


TIMERS: tuple[Timer, ...] = (
    # The nudges' subjects are the handbook's (004:7318, 004:7338).
    _silence_nudge(
        1, "silence_first_nudge", "No customer reply for the first silence period", "Still interested?", "004:7312"
    ),
    _silence_nudge(
        2, "silence_second_nudge", "Still no reply after the second silence period", "Did I lose you?", "004:7338"
    ),
    lc.TimerSpec(
        "silence_close",
        OPEN_STAGES,
        _silence_due(3),
        "Still no reply after the last silence period: Closed Lost (disappeared)",
        trigger="close_lost",
        params=lambda ctx: {
            "loss_reason": LossReason.DISAPPEARED,
            "loss_note": "No customer reply through the silence ladder.",
        },
        source_ref="004:7342",
    ),
    lc.TimerSpec(
        "next_step_overdue",
        OPEN_STAGES,
        _next_step_due,
        "The next step's due date has passed: tell the owner",
        effects=(
            lc.notify(
                "next_step_overdue",
                "Tell the owner the next step is overdue (004:5599).",
                to=lc.owner,
                subject=lambda ctx: f"Next step overdue: {_deal(ctx)}",
                body=_next_step_overdue_body,
            ),
        ),
        source_ref="004:5599",
    ),
    lc.TimerSpec(
        "loss_follow_up",
        (S.CLOSED_LOST,),
        _follow_up_due,
        "Check in with a lost customer: once after a loss to a competitor, periodically while they "
        "are stuck with their current setup",
        trigger="follow_up_due",
        source_ref="004:9761-9770",
    ),
)


# ---- transitions -------------------------------------------------------------------------


# Skips the diagram draws beside the main path: a renewal's product evaluation is optional (004:5583).
OPTIONAL_SKIPS = {(S.MEETING_BOOKED, S.COMMERCIAL_LEGAL_REVIEW)}


def _moves() -> list[Transition]:
    """``advance`` and ``move_back``: one transition per stage they lead to, from any stage of
    its pipeline before it (skipping ahead) or after it; the request's ``to`` selects it."""

    def targets(
        dest: OpportunityStage, stages: tuple[OpportunityStage, ...], forward: bool
    ) -> Callable[[Ctx[MoveParams | MoveBackParams]], bool]:
        def chosen(ctx: Ctx[MoveParams | MoveBackParams]) -> bool:
            if ctx.params.to is not None:
                return ctx.params.to == dest
            # ``to`` left out means the next stage when advancing; moving back must name it.
            here = stages.index(OpportunityStage(ctx.state))
            return forward and here + 1 < len(stages) and stages[here + 1] == dest

        return chosen

    out: list[Transition] = []
    for stages in PIPELINE_STAGES.values():
        for j, dest in enumerate(stages):
            if j > 0:
                out.append(
                    lc.TransitionSpec(
                        "advance",
                        stages[:j],
                        dest,
                        f"Advance to {dest}; the exit criteria of every stage left behind must be met.",
                        params=MoveParams,
                        when=targets(dest, stages, forward=True),
                        guards=(exit_criteria_met,),
                        effects=(CONTRACT_NEGOTIATING,) if dest in NEGOTIATION_STAGES else (),
                        probe_params={"to": dest},
                        diagram_sources=tuple(
                            s
                            for s in stages[:j]
                            if s == stages[j - 1] or (s, dest) == (S.MEETING_BOOKED, S.COMMERCIAL_LEGAL_REVIEW)
                        ),
                        source_ref="004:5461-5549",
                    )
                )
            if j + 1 < len(stages):
                out.append(
                    lc.TransitionSpec(
                        "move_back",
                        stages[j + 1 :],
                        dest,
                        f"Move back to {dest}, with a reason.",
                        params=MoveBackParams,
                        when=targets(dest, stages, forward=False),
                        guards=(lc.reason_required("Say why the opportunity moves back."),),
                        probe_params={"to": dest},
                        diagram_sources=(stages[j + 1],),
                    )
                )
    return out


TRANSITIONS: tuple[Transition, ...] = (
    *_moves(),
    lc.TransitionSpec(
        "record_criterion",
        OPEN_STAGES,
        None,
        "Record an exit criterion as met, with its evidence.",
        params=RecordCriterionParams,
        validate=_validate_criterion,
        apply=_record_criterion,
        in_diagram=False,
        source_ref="004:5549",
    ),
    lc.TransitionSpec(
        "waive_criterion",
        OPEN_STAGES,
        None,
        "Waive an exit criterion (admin), with a reason.",
        role=lc.Role.ADMIN,
        params=CriterionParams,
        validate=_validate_waiver,
        apply=_waive_criterion,
        guards=(lc.reason_required("Say why the criterion is waived."),),
        in_diagram=False,
    ),
    lc.TransitionSpec(
        "close_won",
        OPEN_STAGES,
        S.CLOSED_WON,
        "Close won: the contract is signed by everyone, or a small month-to-month deal.",
        guards=(contract_signed,),
        apply=_close_won,
        effects=CLOSED_WON_EFFECTS,
        source_ref="004:5543, 004:9694-9696",
    ),
    lc.TransitionSpec(
        "close_lost",
        OPEN_STAGES,
        S.CLOSED_LOST,
        "Close lost, with a loss reason.",
        params=CloseLostParams,
        guards=(loss_reason_given,),
        apply=_close_lost,
        effects=(*CLOSED_LOST_EFFECTS, CONTRACT_NOT_RENEWING),
        source_ref="004:5545, 004:9741-9774",
    ),
    lc.TransitionSpec(
        "update_fields",
        OPEN_STAGES,
        None,
        "Change the deal's fields (amount, close date, forecast category, next step...).",
        params=UpdateFieldsParams,
        apply=_update_fields,
        in_diagram=False,
    ),
    lc.TransitionSpec(
        "record_customer_reply",
        OPEN_STAGES,
        None,
        "Record a reply from the customer; restarts the silence ladder.",
        params=CustomerReplyParams,
        validate=_validate_reply,
        apply=_record_reply,
        in_diagram=False,
        source_ref="004:7312",
    ),
    lc.TransitionSpec(
        "follow_up_due",
        (S.CLOSED_LOST,),
        None,
        "Time to check in with a lost customer.",
        role=lc.Role.SYSTEM,
        apply=_count_follow_up,
        in_diagram=False,
        effects=(
            lc.notify(
                "loss_follow_up",
                "Remind the owner to check in with the lost customer (004:9761-9770).",
                to=lc.owner,
                subject=lambda ctx: f"Check in with {ctx.data.account.name}",
                body=lambda ctx: f"{_deal(ctx)} was lost ({ctx.data.loss_reason}). Time to check in again.",
            ),
        ),
    ),
    lc.TransitionSpec(
        "stop_follow_ups",
        (S.CLOSED_LOST,),
        None,
        "Stop the follow-up reminders of a lost deal, with a reason.",
        guards=(lc.reason_required("Say why the follow-ups stop."),),
        apply=_stop_follow_ups,
        in_diagram=False,
    ),
    lc.change_owner((*OPEN_STAGES, S.CLOSED_LOST)),
)


def _initial_stage(data: OpportunityData) -> str:
    return PIPELINE_STAGES[data.pipeline][0]


STATES = (
    *(
        lc.StateSpec(
            stage, description, checklist=EXIT_CRITERIA.get(stage, ()), metadata={"pipeline": Pipeline.NEW_BUSINESS}
        )
        for stage, description in (
            (S.PROBLEM_AGREEMENT, "Buyer acknowledges a meaningful problem that can be qualified (004:5461)."),
            (S.SOLUTION_AGREEMENT, "Buyer confirms our solution is best suited to solve it (004:5477)."),
            (
                S.PRIORITY_AGREEMENT,
                "A senior decision-maker makes it a priority and validates the solution (004:5495).",
            ),
            (S.COMMERCIAL_AGREEMENT, "Price and all contractual terms agreed (004:5515)."),
            (S.VENDOR_APPROVAL, "Buyer's legal, security and procurement done; contract executed (004:5531)."),
        )
    ),
    *(
        lc.StateSpec(
            stage,
            description,
            probability=probability,
            checklist=EXIT_CRITERIA.get(stage, ()),
            metadata={"pipeline": Pipeline.RENEWAL},
        )
        for stage, probability, description in (
            (S.QUALIFICATION, 10, "Just became a customer; helping them get set up (004:5579)."),
            (S.MEETING_BOOKED, 20, "Steady state: self-sufficient with the product (004:5581)."),
            (S.PRODUCT_EVALUATION, 50, "Optional: decision makers changed or new teams evaluating (004:5583)."),
            (S.COMMERCIAL_LEGAL_REVIEW, 80, "Custom pricing, MSAs and other contractual items (004:5585)."),
        )
    ),
    lc.StateSpec(S.CLOSED_WON, "Signed by everyone: officially a customer (004:5543).", terminal=True, probability=100),
    lc.StateSpec(
        S.CLOSED_LOST,
        "They decided not to use us; the loss reason is recorded (004:5545).",
        terminal=True,
        probability=0,
    ),
)


EXPOSURE = lc.Exposure[OpportunityData, OpportunityPolicy](
    many="opportunities",
    description="A sales deal in its pipeline (004:5395-5621).",
    states=OpportunityStage,
    state_name="stage",
    table="opportunities",
    columns=(
        lc.Column("name", max_length=lc.NAME_MAX_LENGTH),
        lc.Column("pipeline", type=Pipeline, max_length=30),
        lc.Column("record_type", max_length=60, match=lc.Match.ANY_OF, indexed=True),
        lc.Column("plan_type", max_length=20),
        lc.Column("forecast_category", max_length=20, match=lc.Match.ANY_OF, indexed=True),
        lc.account_id_column(),
        lc.Column("amount", orderable=True),
        lc.Column("arr", type=lc.Money, value=lambda p: p.data.arr_discounted),
        lc.Column(
            "close_date",
            match=lc.Match.RANGE,
            filter_names=("closeDateFrom", "closeDateTo"),
            filter_description="Closing on or after the first day, and on or before the second.",
            bounds_included=(True, True),
            orderable=True,
        ),
    ),
    default_order="CLOSE_DATE_ASC",
    opening=lc.Opening(
        name="openOpportunity",
        fields=(
            "name",
            "account",
            "owner",
            "record_type",
            "plan_type",
            "close_date",
            "term_months",
            "amount",
            "discount_percent",
            "contract_start_date",
            "forecast_category",
            "next_step",
            "lead_source",
            "silence_timers_enabled",
        ),
        description="Open an opportunity in its pipeline.",
        input_description="A new opportunity.",
        id_prefix="opp",
        entry_state="Where it joins its pipeline (default: the first stage); product-led deals may join anywhere "
        "(004:10791).",
    ),
    mutations={
        "record_criterion": lc.Mutation("recordExitCriterion", input="ExitCriterionInput"),
        "waive_criterion": lc.Mutation("waiveExitCriterion"),
        "advance": lc.Mutation(
            "advanceOpportunity",
            input="AdvanceOpportunityInput",
            description="Advance to the next stage, or skip ahead to a later one.",
            field_names={"to": "toStage"},
        ),
        "move_back": lc.Mutation(
            "moveOpportunityBack",
            input="MoveOpportunityBackInput",
            description="Move back to an earlier stage, with a reason.",
            field_names={"to": "toStage"},
        ),
        "close_won": lc.Mutation("closeOpportunityWon"),
        "close_lost": lc.Mutation(
            "closeOpportunityLost",
            input="CloseOpportunityLostInput",
            description="Close lost, with a loss reason from the handbook's list.",
        ),
        "update_fields": lc.Mutation("updateOpportunity"),
        "record_customer_reply": lc.Mutation("recordCustomerReply", input="CustomerReplyInput"),
        "stop_follow_ups": lc.Mutation("stopOpportunityFollowUps", input="StopFollowUpsInput"),
        "change_owner": None,
    },
    shared_result="OpportunityResult",
    # The records behind ``exitCriteria``, and the count that names the next renewal.
    hidden=("criteria", "renewal_generation"),
    computed={"exit_criteria": exit_criteria},
    type_names={NextStep: "NextStep", ExitCriterion: "ExitCriterion"},
)


OPPORTUNITY = lc.LifecycleSpec(
    KIND,
    "Opportunity",
    "A sales deal moving through its pipeline stages to Closed Won or Closed Lost.",
    STATES,
    TRANSITIONS,
    TIMERS,
    OpportunityData,
    OpportunityPolicy,
    initial_state=_initial_stage,
    # Product-led deals may join the pipeline at any stage (004:10791).
    entry_states=lambda data: PIPELINE_STAGES[data.pipeline],
    start_states=(S.PROBLEM_AGREEMENT, S.QUALIFICATION),
    summary_of=lambda data: f"{data.name} · {data.account.name}",
    patches=(CONTRACT_RENEWAL_PATCH, ONBOARDING_PATCH),
    exposure=EXPOSURE,
)


OpportunityWorkflow = lc.lifecycle_workflow(OPPORTUNITY)
