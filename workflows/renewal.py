"""Renewal: one prepaid contract, from signature to its renewal or its expiry.

Rules from the handbook (``004:<line>``), as decided in ``shared/domain/README.md``
section 4 (reference-billing.md §2, §5b):

- a contract runs from its start date for its term (12 months by default); it ends
  on start + term (004:4906, 004:5444);
- 90 days before the end it is due for renewal: the owner is alerted, and an at-risk
  account goes to the churn-risk review (004:11505, 004:11517-11532);
- a renewal signed 60+ days before the end, while still on a prepaid plan, earns +5%;
  the window closes after that day and the owner is reminded a week before
  (004:4439-4444);
- the renewal opportunity drives the contract: product evaluation or commercial and
  legal review means negotiating (004:5583-5585), Closed Won renews it (004:5587) and
  starts the successor contract at the old end date, Closed Lost means not renewing
  (004:5589);
- at the end date without a renewal it expires: the remaining credits are removed and
  the account rolls onto the standard monthly plan; nothing renews by itself
  (004:4720);
- credits running out with under 2 months left are covered until the end date if a
  renewal of equal or higher amount was signed before they ran out (004:4701); with no
  renewal signed the account is on pay-as-you-go and loses the early-renewal discount
  (004:4444);
- at the end of a renewed term up to half the original credit rolls over, if the
  renewal's annual spend is at least the old one (004:4716);
- the renewal is at risk while an operator flags it, with a reason, or while one of
  the account's invoices is in a late-payment lifecycle at suspension or later
  (``late_payment_risk``, fired by that lifecycle; 004:11499), or while the account is
  in an open churn risk (``churn_risk``, fired by that lifecycle, which clears only its own).

Contract ids: a contract's id is the id of the opportunity whose Closed Won signed it.
A won annual deal ``X`` opens contract ``X`` and its renewal opportunity
``X-renewal-1``; when that opportunity closes won, the successor contract is
``X-renewal-1``, renewed by opportunity ``X-renewal-2``, and so on. A contract
registered directly (it predates the service) opens its renewal opportunity
``<contract>-renewal-1`` itself.

The discount rules and the renewal quote are in ``workflows/renewal_quote.py``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, TypeAlias

from pydantic import BaseModel, ConfigDict, Field

from workflows.engine import vocabulary as lc
from workflows.opportunity import KIND as OPPORTUNITY_KIND
from workflows.opportunity import LossReason, PlanType, RecordType
from workflows.renewal_quote import CENT, ContractTerms, DiscountRules, early_renewal, early_renewal_last_day, rollover

KIND = "renewal"


class RenewalState(enum.StrEnum):
    """A prepaid contract's way to its renewal or expiry (domain README §4)."""

    ACTIVE = "ACTIVE"
    RENEWAL_DUE = "RENEWAL_DUE"
    NEGOTIATING = "NEGOTIATING"
    RENEWED = "RENEWED"
    NOT_RENEWING = "NOT_RENEWING"
    EXPIRED = "EXPIRED"


R = RenewalState
# Still to be decided: renewed or not.
UNDECIDED = (R.ACTIVE, R.RENEWAL_DUE, R.NEGOTIATING)
# Running towards an expiry at the end date.
EXPIRING = (*UNDECIDED, R.NOT_RENEWING)

Ident = Annotated[str, Field(min_length=1, max_length=200)]
Note = Annotated[str, Field(max_length=2000)]
Term = Annotated[int, Field(ge=1, le=120)]


class AtRiskFlag(BaseModel):
    """An operator's at-risk flag."""

    reason: str
    flagged_by: str
    flagged_at: datetime


class CreditsExhausted(BaseModel):
    """When the credits ran out, and whether usage is covered until the end date."""

    exhausted_on: date
    recorded_by: str
    usage_covered_until: date | None = Field(
        None, description="Set when a renewal signed in time covers usage (004:4701); otherwise pay-as-you-go."
    )


class SignedRenewal(BaseModel):
    """The renewal signed through the renewal opportunity's Closed Won."""

    opportunity_id: str = Field(description="The won renewal opportunity, whose id is also the successor contract's.")
    signed_on: date
    credit_amount: lc.Money
    annual_spend: lc.Money
    term_months: int
    next_renewal_opportunity_id: str | None = Field(None, description="The successor contract's renewal opportunity.")
    early_renewal_discount: bool = Field(
        description="Signed early enough before the end, on a prepaid plan, to earn the early-renewal discount "
        "(004:4442)."
    )
    rollover_allowance: lc.Money = Field(description="Unused credit that may roll over (004:4716).")

    @lc.computed_property
    def successor_contract_id(self) -> str:
        """The successor contract; it starts at the end date."""
        return self.opportunity_id


class NotRenewing(BaseModel):
    """Why the contract is not renewing."""

    loss_reason: LossReason
    note: str | None = None
    decided_by: str
    decided_on: date


class RenewalData(BaseModel):
    account: lc.Account
    owner: Ident
    previous_owners: list[str] = Field(default_factory=list)
    start_date: date
    term_months: Term = Field(12, description="The contract's length in months; 12 unless given.")
    stated_end_date: date | None = Field(
        None, description="The end date written on the contract, when given: it must be the start date plus the term."
    )
    credit_amount: lc.Money = Field(description="Credit purchased, before discount.")
    annual_spend: lc.Money = Field(description="What the customer pays per year.")
    on_prepaid_plan: bool = Field(
        True, description="False once credits ran out onto pay-as-you-go or the contract expired."
    )
    # Set when the renewal opportunity is not ``<contract>-renewal-1`` (``renewal_opportunity_of``).
    renewal_opportunity_id: Ident | None = None
    renewal_of: str | None = Field(None, description="The contract this one renews.")
    at_risk_flag: AtRiskFlag | None = None
    at_risk_invoices: list[str] = Field(
        default_factory=list, description="Invoices of the account in a late payment at suspension or later."
    )
    at_risk_churn_risks: list[str] = Field(
        default_factory=list, description="The account's open churn risks, which put this renewal at risk."
    )
    churn_review_requested_at: datetime | None = None
    credits_exhausted: CreditsExhausted | None = None
    renewal: SignedRenewal | None = None
    not_renewing: NotRenewing | None = None

    @lc.computed_property
    def end_date(self) -> date:
        """Start date + term (004:5444)."""
        return lc.add_months(self.start_date, self.term_months)

    @lc.computed_property
    def at_risk(self) -> bool:
        """Flagged by an operator, an invoice at suspension or later, or an open churn risk."""
        return self.at_risk_flag is not None or bool(self.at_risk_invoices) or bool(self.at_risk_churn_risks)

    def terms(self) -> ContractTerms:
        return ContractTerms(
            end_date=self.end_date,
            on_prepaid_plan=self.on_prepaid_plan,
            credit_amount=self.credit_amount,
            annual_spend=self.annual_spend,
        )


class RenewalPolicy(BaseModel):
    """Every duration and threshold of the renewal lifecycle, pinned per contract."""

    model_config = ConfigDict(extra="forbid")

    renewal_due_before_end: timedelta = Field(timedelta(days=90), gt=timedelta(0))  # 004:11505
    # The handbook asks only that the owner is reminded before it closes (domain README §4).
    early_renewal_reminder_before: timedelta = Field(timedelta(days=7), gt=timedelta(0))
    usage_cover_months_before_end: int = Field(2, ge=0)  # 004:4701
    discounts: DiscountRules = Field(default_factory=DiscountRules)


# What the renewal's guards, changes, timers and effects read: its data and pinned policy.
# ``Ctx[XParams]`` for code that reads a trigger's params: its reads are type-checked.
Ctx: TypeAlias = lc.Context[RenewalData, RenewalPolicy, lc.ParamsT]
Effect: TypeAlias = lc.EffectSpec[RenewalData, RenewalPolicy]


def renewal_opportunity_of(contract_id: str, data: RenewalData) -> str:
    """The contract's renewal opportunity; a contract registered directly opened ``<id>-renewal-1``."""
    return data.renewal_opportunity_id or f"{contract_id}-renewal-1"


# ---- the contract's moments ---------------------------------------------------------------


def contract_ends_at(data: RenewalData) -> datetime:
    return lc.start_of_day(data.end_date)


def renewal_due_at(data: RenewalData, policy: RenewalPolicy) -> datetime:
    return contract_ends_at(data) - policy.renewal_due_before_end


def early_window_closes_at(data: RenewalData, policy: RenewalPolicy) -> datetime:
    # The last day still counts: the window closes when it is over.
    return lc.start_of_day(early_renewal_last_day(data.end_date, policy.discounts)) + timedelta(days=1)


def early_renewal_reminder_at(data: RenewalData, policy: RenewalPolicy) -> datetime:
    return (
        lc.start_of_day(early_renewal_last_day(data.end_date, policy.discounts)) - policy.early_renewal_reminder_before
    )


def early_window_open(state: str, data: RenewalData, policy: RenewalPolicy, today: date) -> bool:
    """Whether a renewal signed today would still earn the early-renewal discount."""
    return (
        state in UNDECIDED and data.on_prepaid_plan and today <= early_renewal_last_day(data.end_date, policy.discounts)
    )


@dataclass(frozen=True)
class Milestone:
    key: str
    label: str
    day: date
    at: datetime
    source: str


def milestones(data: RenewalData, policy: RenewalPolicy) -> list[Milestone]:
    """The contract's dated milestones: T-90, the early-renewal reminder and T-60, the end."""
    last_day = early_renewal_last_day(data.end_date, policy.discounts)
    due, reminder = renewal_due_at(data, policy), early_renewal_reminder_at(data, policy)
    return [
        Milestone(
            "renewal_due", "Due for renewal: owner alerted, churn-risk review if at risk", due.date(), due, "004:11505"
        ),
        Milestone(
            "early_renewal_reminder",
            "Owner reminded that the early-renewal window is closing",
            reminder.date(),
            reminder,
            "domain README §4",
        ),
        Milestone(
            "early_renewal_window_closes",
            f"Last day to sign for the +{policy.discounts.early_renewal_bonus}% early-renewal discount",
            last_day,
            early_window_closes_at(data, policy),
            "004:4442",
        ),
        Milestone(
            "end",
            "Contract ends: the successor starts, or credits are removed and the account goes monthly",
            data.end_date,
            contract_ends_at(data),
            "004:4720",
        ),
    ]


def usage_coverage(data: RenewalData, exhausted_on: date, policy: RenewalPolicy) -> tuple[bool, str]:
    """Whether usage after the credits ran out is covered until the end date (004:4701), and why."""
    renewal = data.renewal
    if renewal is None:
        return False, (
            "No renewal was signed before the credits ran out: usage is billed pay-as-you-go and the early-renewal "
            "discount is lost (004:4444)."
        )
    months = policy.usage_cover_months_before_end
    window_opens = lc.add_months(data.end_date, -months)
    unmet = []
    if exhausted_on <= window_opens:
        unmet.append(f"they ran out on {exhausted_on}, with {months} months or more left (after {window_opens})")
    if renewal.signed_on > exhausted_on:
        unmet.append(f"the renewal was signed on {renewal.signed_on}, after they ran out")
    if renewal.credit_amount < data.credit_amount:
        unmet.append(f"the renewal's ${renewal.credit_amount:,.2f} is less than the current ${data.credit_amount:,.2f}")
    if unmet:
        return False, f"Usage is billed pay-as-you-go until {data.end_date}: {'; '.join(unmet)} (004:4701)."
    return True, (
        f"Usage is covered free until {data.end_date}: a renewal of ${renewal.credit_amount:,.2f} was signed on "
        f"{renewal.signed_on}, before the credits ran out with under {months} months left (004:4701)."
    )


def _implied_discount(data: RenewalData) -> Decimal:
    """The discount that turns the credit amount into the annual spend (004:5436)."""
    if not data.credit_amount:
        return Decimal(0)
    discount = (1 - data.annual_spend * data.term_months / (12 * data.credit_amount)) * 100
    return min(Decimal(100), max(Decimal(0), discount)).quantize(CENT, ROUND_HALF_UP)


# ---- parameters of the triggers ----------------------------------------------------------------


class OpportunityLink(lc.Params):
    opportunity_id: Ident


class RenewParams(OpportunityLink):
    credit_amount: lc.Money
    annual_spend: lc.Money
    term_months: Term
    next_renewal_opportunity_id: Ident | None = None


class RenewalLostParams(OpportunityLink):
    loss_reason: LossReason
    loss_note: Note | None = None


class DeclineParams(lc.Params):
    loss_reason: LossReason
    loss_note: Note | None = None


class CreditsExhaustedParams(lc.Params):
    exhausted_on: date | None = Field(None, description="When they ran out; default today.")


class LatePaymentRiskParams(lc.Params):
    invoice_id: Ident
    at_risk: bool


class ChurnRiskParams(lc.Params):
    churn_risk_id: Ident
    at_risk: bool


# ---- guards and input checks ---------------------------------------------------------------------


@lc.guard("credits_not_yet_exhausted", "Credits run out once per contract.")
def credits_not_yet_exhausted(ctx: Ctx) -> list[str]:
    done = ctx.data.credits_exhausted
    return (
        [f"The credits were already recorded as run out on {done.exhausted_on} by {done.recorded_by}."] if done else []
    )


@lc.guard("flagged_at_risk", "An operator flagged the renewal at risk.")
def flagged_at_risk(ctx: Ctx) -> list[str]:
    if ctx.data.at_risk_flag is not None:
        return []
    return ["No operator flagged this renewal at risk; late payments clear themselves when the invoice is settled."]


@lc.guard("changes_invoice_risk", "The invoice's risk changes.", on_input=True)
def changes_invoice_risk(ctx: Ctx[LatePaymentRiskParams]) -> list[str]:
    invoice, listed = ctx.params.invoice_id, ctx.params.invoice_id in ctx.data.at_risk_invoices
    if ctx.params.at_risk and listed:
        return [f"Invoice {invoice} already puts this renewal at risk."]
    if not ctx.params.at_risk and not listed:
        return [f"Invoice {invoice} does not put this renewal at risk."]
    return []


@lc.guard("changes_churn_risk", "The churn risk's flag changes.", on_input=True)
def changes_churn_risk(ctx: Ctx[ChurnRiskParams]) -> list[str]:
    churn_risk, listed = ctx.params.churn_risk_id, ctx.params.churn_risk_id in ctx.data.at_risk_churn_risks
    if ctx.params.at_risk and listed:
        return [f"Churn risk {churn_risk} already puts this renewal at risk."]
    if not ctx.params.at_risk and not listed:
        return [f"Churn risk {churn_risk} does not put this renewal at risk."]
    return []


def _exhausted_on(ctx: Ctx[CreditsExhaustedParams]) -> date:
    return ctx.params.exhausted_on or ctx.now.date()


def _validate_exhausted(ctx: Ctx[CreditsExhaustedParams]) -> dict[str, str]:
    on, data = _exhausted_on(ctx), ctx.data
    problems = lc.reported_moment_problems(
        "exhausted_on",
        on,
        now=ctx.now.date(),
        since=data.start_date,
        since_what=f"the contract started ({data.start_date})",
    )
    if problems:
        return problems
    if on >= data.end_date:
        return {"exhausted_on": f"must be before the contract ended ({data.end_date})"}
    return {}


def _validate_contract(data: RenewalData, policy: RenewalPolicy, now: datetime) -> dict[str, str]:
    stated = data.stated_end_date
    if stated is not None and stated <= data.start_date:
        return {"stated_end_date": "must be after the start date"}
    if stated is not None and stated != data.end_date:
        return {"stated_end_date": f"must be the start date plus the term: {data.end_date}"}
    if contract_ends_at(data) <= now:
        return {"end_date": f"the contract ended on {data.end_date}; only running contracts have a renewal lifecycle"}
    return {}


# ---- data changes --------------------------------------------------------------------------------


def _up_for_renewal(ctx: Ctx) -> bool:
    """Undecided, within the renewal notice period before the end (004:11505)."""
    return ctx.state in UNDECIDED and ctx.now >= renewal_due_at(ctx.data, ctx.policy)


def _follow_risk(ctx: Ctx) -> None:
    # One review per stretch at risk: it is requested when the contract is at risk and up
    # for renewal, and forgotten once the risk clears.
    data = ctx.data
    if not data.at_risk:
        data.churn_review_requested_at = None
    elif data.churn_review_requested_at is None and _up_for_renewal(ctx):
        data.churn_review_requested_at = ctx.now


def _flag_at_risk(ctx: Ctx) -> None:
    ctx.data.at_risk_flag = lc.stamped(AtRiskFlag, ctx, reason=(ctx.reason or "").strip())
    _follow_risk(ctx)


def _clear_flag(ctx: Ctx) -> None:
    ctx.data.at_risk_flag = None
    _follow_risk(ctx)


def _with_or_without(ids: list[str], member: str, *, included: bool) -> list[str]:
    """The ids, sorted, with ``member`` added when ``included`` and removed when not."""
    return sorted({*ids, member} if included else set(ids) - {member})


def _late_payment_risk(ctx: Ctx[LatePaymentRiskParams]) -> None:
    ctx.data.at_risk_invoices = _with_or_without(
        ctx.data.at_risk_invoices, ctx.params.invoice_id, included=ctx.params.at_risk
    )
    _follow_risk(ctx)


def _churn_risk(ctx: Ctx[ChurnRiskParams]) -> None:
    ctx.data.at_risk_churn_risks = _with_or_without(
        ctx.data.at_risk_churn_risks, ctx.params.churn_risk_id, included=ctx.params.at_risk
    )
    _follow_risk(ctx)


def _link_opportunity(ctx: Ctx[OpportunityLink]) -> None:
    ctx.data.renewal_opportunity_id = ctx.params.opportunity_id


def _renew(ctx: Ctx[RenewParams]) -> None:
    data, params = ctx.data, ctx.params
    signed_on = ctx.now.date()
    allowance, _ = rollover(params.annual_spend, data.terms(), ctx.policy.discounts)
    data.renewal = lc.stamped(
        SignedRenewal,
        ctx,
        signed_on=signed_on,
        early_renewal_discount=early_renewal(signed_on, data.terms(), ctx.policy.discounts).applied,
        rollover_allowance=allowance,
    )
    data.renewal_opportunity_id = params.opportunity_id


def _decline(ctx: Ctx[DeclineParams | RenewalLostParams]) -> None:
    ctx.data.not_renewing = lc.stamped(NotRenewing, ctx, note=ctx.params.loss_note, decided_on=ctx.now.date())


def _opportunity_lost(ctx: Ctx[RenewalLostParams]) -> None:
    _link_opportunity(ctx)
    _decline(ctx)


def _expire(ctx: Ctx) -> None:
    # The account is on the monthly plan from now on (004:4720).
    ctx.data.on_prepaid_plan = False


def _record_credits_exhausted(ctx: Ctx[CreditsExhaustedParams]) -> None:
    data = ctx.data
    on = _exhausted_on(ctx)
    covered, _ = usage_coverage(data, on, ctx.policy)
    data.credits_exhausted = lc.stamped(
        CreditsExhausted, ctx, exhausted_on=on, usage_covered_until=data.end_date if covered else None
    )
    if not covered:
        data.on_prepaid_plan = False


# ---- effects -------------------------------------------------------------------------------------


def _contract(ctx: Ctx) -> str:
    return f"{ctx.data.account.name} contract {ctx.entity_id}"


def _risks(data: RenewalData) -> str:
    reasons = [f"flagged by {data.at_risk_flag.flagged_by}: {data.at_risk_flag.reason}"] if data.at_risk_flag else []
    reasons += [f"invoice {invoice} unpaid, access suspended or worse" for invoice in data.at_risk_invoices]
    reasons += [f"churn risk {churn_risk} open" for churn_risk in data.at_risk_churn_risks]
    return "; ".join(reasons)


def _billing(
    type_: str,
    name: str,
    description: str,
    payload: dict[str, Callable[[Ctx], object]],
    when: Callable[[Ctx], bool] | None = None,
) -> Effect:
    """An instruction to the billing system about this contract's account."""
    return lc.EffectSpec(
        type_,
        name,
        description,
        build=lambda ctx: {
            "account_id": ctx.data.account.id,
            "contract_id": ctx.entity_id,
            **{key: value(ctx) for key, value in payload.items()},
        },
        when=when,
    )


CHURN_RISK_REVIEW: Effect = lc.notify(
    "churn_risk_review",
    "An at-risk contract up for renewal goes to the churn-risk review in #customer-churn (004:11505, 004:11517-11532).",
    to=lambda ctx: [ctx.data.owner, "channel:customer-churn"],
    subject=lambda ctx: f"Churn risk: {_contract(ctx)} ends {ctx.data.end_date}",
    body=lambda ctx: (
        f"At risk: {_risks(ctx.data)}. Add the account to the Churn Risk segment with a note (ARR, trigger, "
        "situation, help needed, mitigation) and hold a recovery call within 48 hours (004:11517-11532, 004:11588)."
    ),
    when=lambda ctx: ctx.data.churn_review_requested_at == ctx.now,
)


def _due_body(ctx: Ctx) -> str:
    data = ctx.data
    text = f"{_contract(ctx)} ends on {data.end_date}: time to drive its renewal."
    if data.on_prepaid_plan and ctx.now < early_window_closes_at(data, ctx.policy):
        last_day = early_renewal_last_day(data.end_date, ctx.policy.discounts)
        text += (
            f" Signed by {last_day}, it earns the +{ctx.policy.discounts.early_renewal_bonus}% early-renewal discount."
        )
    return text


DUE_EFFECTS: tuple[Effect, ...] = (
    lc.notify(
        "renewal_due",
        "Alert the owner that the renewal is due (domain README §4).",
        to=lc.owner,
        subject=lambda ctx: f"Renewal due: {_contract(ctx)}",
        body=_due_body,
    ),
    CHURN_RISK_REVIEW,
)


def _early_window_closing_body(ctx: Ctx) -> str:
    rules = ctx.policy.discounts
    last_day = early_renewal_last_day(ctx.data.end_date, rules)
    return (
        f"The early-renewal window of {_contract(ctx)} "
        f"closes in {lc.duration(ctx.policy.early_renewal_reminder_before)}: "
        f"a renewal signed by {last_day} earns +{rules.early_renewal_bonus}%; after that day it does not (004:4442)."
    )


EARLY_WINDOW_CLOSING: Effect = lc.notify(
    "early_renewal_closing",
    "Remind the owner before the early-renewal window closes (domain README §4).",
    to=lc.owner,
    subject=lambda ctx: f"Early-renewal window closing: {_contract(ctx)}",
    body=_early_window_closing_body,
)

EARLY_WINDOW_CLOSED: Effect = lc.notify(
    "early_renewal_closed",
    "Tell the owner the early-renewal discount is no longer available (004:4442).",
    to=lc.owner,
    subject=lambda ctx: f"Early-renewal window closed: {_contract(ctx)}",
    body=lambda ctx: f"{_contract(ctx)}: a renewal signed from today on earns no early-renewal discount (004:4442).",
)


def _signed(ctx: Ctx) -> SignedRenewal:
    renewal = ctx.data.renewal
    assert renewal is not None, "only a renewed contract starts, rolls over into or announces its successor"
    return renewal


def _successor_contract(ctx: Ctx) -> dict[str, object]:
    renewal = _signed(ctx)
    return {
        "account": ctx.data.account.model_dump(mode="json"),
        "owner": ctx.data.owner,
        "start_date": ctx.data.end_date.isoformat(),
        "term_months": renewal.term_months,
        "credit_amount": str(renewal.credit_amount),
        "annual_spend": str(renewal.annual_spend),
        "renewal_opportunity_id": renewal.next_renewal_opportunity_id,
        "renewal_of": ctx.entity_id,
    }


SUCCESSOR: Effect = lc.start_lifecycle(
    "successor_contract",
    "The renewal starts the successor contract at the old end date, with its own renewal lifecycle.",
    kind=KIND,
    entity_id=lambda ctx: _signed(ctx).successor_contract_id,
    data=_successor_contract,
    reason=lambda ctx: f"Renewal of contract {ctx.entity_id}",
)


def _renewed_body(ctx: Ctx) -> str:
    data = ctx.data
    renewal = _signed(ctx)
    early = early_renewal(renewal.signed_on, data.terms(), ctx.policy.discounts)
    _, rolls = rollover(renewal.annual_spend, data.terms(), ctx.policy.discounts)
    return (
        f"Successor contract {renewal.successor_contract_id} starts on {data.end_date}: "
        f"${renewal.credit_amount:,.2f} of credit over {renewal.term_months} months. Early renewal: {early.reason} "
        f"{rolls}"
    )


RENEWED_EFFECTS: tuple[Effect, ...] = (
    SUCCESSOR,
    lc.notify(
        "renewal_signed",
        "Tell the owner and RevOps what the renewal earned and what rolls over (004:4439-4444, 004:4716).",
        to=lambda ctx: [*lc.owner(ctx), *lc.role("revops")(ctx)],
        subject=lambda ctx: f"Renewed: {_contract(ctx)}",
        body=_renewed_body,
    ),
)


def _loss_params(declined: NotRenewing | None) -> dict[str, str]:
    assert declined is not None, "only a declined renewal closes its opportunity lost"
    return {"loss_reason": str(declined.loss_reason), **({"loss_note": declined.note} if declined.note else {})}


RENEWAL_OPPORTUNITY_LOST: Effect = lc.fire_on(
    "renewal_opportunity_lost",
    "The declined renewal's opportunity closes lost with the same reason (004:5589, 004:5611).",
    target=lambda ctx: (OPPORTUNITY_KIND, renewal_opportunity_of(ctx.entity_id, ctx.data)),
    trigger="close_lost",
    params=lambda ctx: _loss_params(ctx.data.not_renewing),
    reason=lambda ctx: f"Contract {ctx.entity_id} is not renewing",
)

EXPIRED_OPPORTUNITY_LOST: Effect = lc.fire_on(
    "renewal_opportunity_lapsed",
    'A renewal opportunity still open at the end date closes lost as "disappeared" (004:9755); signing later is '
    "a re-entry into a credit plan (004:4444).",
    target=lambda ctx: (OPPORTUNITY_KIND, renewal_opportunity_of(ctx.entity_id, ctx.data)),
    trigger="close_lost",
    params=lambda ctx: {
        "loss_reason": str(LossReason.DISAPPEARED),
        "loss_note": f"Contract {ctx.entity_id} reached its end date, {ctx.data.end_date}, without a signed renewal.",
    },
    reason=lambda ctx: f"Contract {ctx.entity_id} expired",
    when=lambda ctx: ctx.data.not_renewing is None,
)

REMOVE_CREDITS: Effect = _billing(
    "billing.remove_credits",
    "remaining_credits_removed",
    "Remove the credits left at the end of the term (004:4720), after any roll-over (004:4716).",
    payload={"on": lambda ctx: ctx.data.end_date.isoformat()},
)

EXPIRY_EFFECTS: tuple[Effect, ...] = (
    REMOVE_CREDITS,
    _billing(
        "billing.monthly_plan",
        "account_on_monthly_plan",
        "The account rolls onto the standard monthly plan and is charged for usage; nothing renews (004:4720).",
        payload={"from": lambda ctx: ctx.data.end_date.isoformat()},
    ),
    lc.notify(
        "contract_expired",
        "Tell the owner the contract ended without a renewal (004:4720).",
        to=lc.owner,
        subject=lambda ctx: f"Expired: {_contract(ctx)}",
        body=lambda ctx: (
            f"It ended on {ctx.data.end_date} without a renewal: the remaining credits are removed and the account "
            "is on the standard monthly plan. A new credit plan now is a re-entry, without the early-renewal "
            "discount (004:4444, 004:4720)."
        ),
    ),
    EXPIRED_OPPORTUNITY_LOST,
)

TERM_END_EFFECTS: tuple[Effect, ...] = (
    _billing(
        "billing.roll_over_credits",
        "credits_rolled_over",
        "Roll up to half the original credit into the successor contract (004:4716).",
        payload={
            "to_contract_id": lambda ctx: _signed(ctx).successor_contract_id,
            "up_to": lambda ctx: str(_signed(ctx).rollover_allowance),
        },
        when=lambda ctx: _signed(ctx).rollover_allowance > 0,
    ),
    REMOVE_CREDITS,
)


def _exhaustion(ctx: Ctx) -> CreditsExhausted:
    exhausted = ctx.data.credits_exhausted
    assert exhausted is not None, "recorded by the transition these effects belong to"
    return exhausted


def _exhausted_body(ctx: Ctx) -> str:
    exhausted_on = _exhaustion(ctx).exhausted_on
    _, why = usage_coverage(ctx.data, exhausted_on, ctx.policy)
    return f"The credits of {_contract(ctx)} ran out on {exhausted_on}. {why}"


def _covered(ctx: Ctx) -> bool:
    return _exhaustion(ctx).usage_covered_until is not None


CREDITS_EXHAUSTED_EFFECTS: tuple[Effect, ...] = (
    _billing(
        "billing.cover_usage",
        "usage_covered",
        "Usage is covered free until the end date: the renewal was signed in time (004:4701).",
        payload={"until": lambda ctx: ctx.data.end_date.isoformat()},
        when=_covered,
    ),
    _billing(
        "billing.pay_as_you_go",
        "usage_billed_pay_as_you_go",
        "Usage is billed pay-as-you-go until the end date (004:4444, 004:4701).",
        payload={"from": lambda ctx: _exhaustion(ctx).exhausted_on.isoformat()},
        when=lambda ctx: not _covered(ctx),
    ),
    lc.notify(
        "credits_exhausted",
        "Tell the owner what running out of credits means for this contract (004:4444, 004:4701).",
        to=lc.owner,
        subject=lambda ctx: f"Credits ran out: {_contract(ctx)}",
        body=_exhausted_body,
    ),
)


def _open_renewal_opportunity(ctx: Ctx) -> dict[str, object]:
    data = ctx.data
    return {
        "name": f"{data.account.name} renewal",
        "account": data.account.model_dump(mode="json"),
        "owner": data.owner,
        "record_type": RecordType.RENEWAL,
        "plan_type": PlanType.ANNUAL,
        # It must close by the time the contract ends.
        "close_date": data.end_date.isoformat(),
        "term_months": data.term_months,
        "amount": str(data.credit_amount),
        "discount_percent": str(_implied_discount(data)),
        "arr_up_for_renewal": str(data.credit_amount),
        # As if opened by the Closed Won of an opportunity with the contract's id, so
        # its own win opens ``<contract>-renewal-2`` (workflows/opportunity.py).
        "renewal_of": ctx.entity_id,
        "renewal_generation": 1,
        "contract_id": ctx.entity_id,
        "silence_timers_enabled": False,
    }


OPEN_RENEWAL_OPPORTUNITY: Effect = lc.start_lifecycle(
    "open_renewal_opportunity",
    "A contract registered directly opens the renewal opportunity an annual Closed Won would have "
    "opened (004:5565-5572).",
    kind=OPPORTUNITY_KIND,
    entity_id=lambda ctx: renewal_opportunity_of(ctx.entity_id, ctx.data),
    data=_open_renewal_opportunity,
    reason=lambda ctx: f"Renewal opportunity of contract {ctx.entity_id}",
    when=lambda ctx: ctx.data.renewal_opportunity_id is None,
)


# ---- timers --------------------------------------------------------------------------------------


def _while_discount_can_be_earned(
    moment: Callable[[RenewalData, RenewalPolicy], datetime],
) -> Callable[[Ctx], datetime | None]:
    # Announced only while the contract can still earn the discount, and never for a
    # moment already past when the contract was registered.
    def due(ctx: Ctx) -> datetime | None:
        if not ctx.data.on_prepaid_plan:
            return None
        return lc.owed(moment(ctx.data, ctx.policy), since=ctx.opened_at)

    return due


TIMERS: tuple[lc.TimerSpec[RenewalData, RenewalPolicy], ...] = (
    lc.TimerSpec(
        "renewal_due",
        (R.ACTIVE, R.NEGOTIATING),
        lambda ctx: renewal_due_at(ctx.data, ctx.policy),
        "The renewal notice period before the end begins: due for renewal, owner alerted",
        trigger="mark_due",
        source_ref="004:11505",
    ),
    lc.TimerSpec(
        "early_renewal_reminder",
        UNDECIDED,
        _while_discount_can_be_earned(early_renewal_reminder_at),
        "Shortly before the early-renewal window closes: remind the owner",
        effects=(EARLY_WINDOW_CLOSING,),
        source_ref="004:4442",
    ),
    lc.TimerSpec(
        "early_renewal_window_closes",
        UNDECIDED,
        _while_discount_can_be_earned(early_window_closes_at),
        "Once the last day to sign for the early-renewal discount is over: tell the owner it is gone",
        effects=(EARLY_WINDOW_CLOSED,),
        source_ref="004:4439-4444",
    ),
    lc.TimerSpec(
        "expiry",
        EXPIRING,
        lambda ctx: contract_ends_at(ctx.data),
        "The end date without a renewal: the contract expires",
        trigger="expire",
        source_ref="004:4720",
    ),
    lc.TimerSpec(
        "term_end",
        (R.RENEWED,),
        lambda ctx: contract_ends_at(ctx.data),
        "The end date of a renewed contract: credit rolls over, the successor takes over",
        effects=TERM_END_EFFECTS,
        source_ref="004:4716",
    ),
)


# ---- transitions ---------------------------------------------------------------------------------

TRANSITIONS: tuple[lc.TransitionSpec[RenewalData, RenewalPolicy], ...] = (
    lc.TransitionSpec(
        "mark_due",
        (R.ACTIVE,),
        R.RENEWAL_DUE,
        "The renewal notice period before the end begins: the renewal is due.",
        role=lc.Role.SYSTEM,
        apply=_follow_risk,
        effects=DUE_EFFECTS,
        source_ref="004:11505",
    ),
    lc.TransitionSpec(
        "mark_due",
        (R.NEGOTIATING,),
        None,
        "The renewal notice period begins for a contract already negotiating its renewal.",
        role=lc.Role.SYSTEM,
        apply=_follow_risk,
        effects=DUE_EFFECTS,
        source_ref="004:11505",
    ),
    lc.TransitionSpec(
        "start_negotiation",
        (R.ACTIVE, R.RENEWAL_DUE),
        R.NEGOTIATING,
        "The renewal opportunity reached product evaluation or commercial and legal review.",
        role=lc.Role.SYSTEM,
        params=OpportunityLink,
        apply=_link_opportunity,
        source_ref="004:5583-5585",
    ),
    lc.TransitionSpec(
        "renew",
        UNDECIDED,
        R.RENEWED,
        "The renewal opportunity closed won: the successor contract starts at the end date.",
        role=lc.Role.SYSTEM,
        params=RenewParams,
        apply=_renew,
        effects=RENEWED_EFFECTS,
        source_ref="004:5587, 004:4439-4444, 004:4716",
    ),
    lc.TransitionSpec(
        "renewal_lost",
        UNDECIDED,
        R.NOT_RENEWING,
        "The renewal opportunity closed lost.",
        role=lc.Role.SYSTEM,
        params=RenewalLostParams,
        apply=_opportunity_lost,
        source_ref="004:5589",
    ),
    lc.TransitionSpec(
        "decline",
        UNDECIDED,
        R.NOT_RENEWING,
        "The customer declines to renew, for a reason from the loss list; the renewal opportunity closes lost.",
        params=DeclineParams,
        apply=_decline,
        effects=(RENEWAL_OPPORTUNITY_LOST,),
        source_ref="004:5589, 004:5611, 004:9741-9755",
    ),
    lc.TransitionSpec(
        "expire",
        EXPIRING,
        R.EXPIRED,
        "The end date passed without a renewal.",
        role=lc.Role.SYSTEM,
        apply=_expire,
        effects=EXPIRY_EFFECTS,
        source_ref="004:4720",
    ),
    lc.TransitionSpec(
        "record_credits_exhausted",
        (*EXPIRING, R.RENEWED),
        None,
        "The contract's credits ran out before its end date.",
        params=CreditsExhaustedParams,
        validate=_validate_exhausted,
        guards=(credits_not_yet_exhausted,),
        apply=_record_credits_exhausted,
        effects=CREDITS_EXHAUSTED_EFFECTS,
        source_ref="004:4444, 004:4701",
    ),
    lc.TransitionSpec(
        "mark_at_risk",
        EXPIRING,
        None,
        "Flag the renewal at risk, with the reason.",
        guards=(lc.reason_required("Say why the renewal is at risk."),),
        apply=_flag_at_risk,
        effects=(CHURN_RISK_REVIEW,),
        source_ref="004:11490-11511",
    ),
    lc.TransitionSpec(
        "clear_at_risk",
        EXPIRING,
        None,
        "Clear the operator's at-risk flag, with a reason.",
        guards=(flagged_at_risk, lc.reason_required("Say why the risk is gone.")),
        apply=_clear_flag,
        source_ref="004:11578",
    ),
    lc.TransitionSpec(
        "late_payment_risk",
        EXPIRING,
        None,
        "One of the account's invoices starts or stops putting the renewal at risk (late payment at "
        "suspension or later).",
        role=lc.Role.SYSTEM,
        params=LatePaymentRiskParams,
        guards=(changes_invoice_risk,),
        apply=_late_payment_risk,
        effects=(CHURN_RISK_REVIEW,),
        source_ref="004:11499",
    ),
    lc.TransitionSpec(
        "churn_risk",
        EXPIRING,
        None,
        "The account's churn risk starts or stops putting the renewal at risk (flagged, then recovered).",
        role=lc.Role.SYSTEM,
        params=ChurnRiskParams,
        guards=(changes_churn_risk,),
        apply=_churn_risk,
        effects=(CHURN_RISK_REVIEW,),
        source_ref="004:11485-11505",
    ),
    lc.change_owner((*EXPIRING, R.RENEWED)),
)

STATES = (
    lc.StateSpec(
        R.ACTIVE, "The contract runs; its renewal is not due yet (004:5579-5581).", on_enter=(OPEN_RENEWAL_OPPORTUNITY,)
    ),
    lc.StateSpec(
        R.RENEWAL_DUE,
        "Within the renewal notice period before the end: the owner drives the renewal (004:11505, 004:12725).",
    ),
    lc.StateSpec(
        R.NEGOTIATING,
        "The renewal opportunity is in product evaluation or commercial and legal review (004:5583-5585).",
    ),
    lc.StateSpec(
        R.RENEWED,
        "Renewal signed: the contract runs to its end date, where the successor takes over (004:5587).",
        terminal=True,
    ),
    lc.StateSpec(R.NOT_RENEWING, "The customer will not renew; the credits stay usable until the end date (004:5589)."),
    lc.StateSpec(
        R.EXPIRED,
        "Ended without a renewal: credits removed, the account on the standard monthly plan (004:4720).",
        terminal=True,
    ),
)


EXPOSURE = lc.Exposure[RenewalData, RenewalPolicy](
    description="One prepaid contract on its way to renewal or expiry (reference-billing §2, §5b).",
    states=RenewalState,
    columns=(
        lc.account_id_column(),
        lc.Column("start_date"),
        lc.Column(
            "end_date",
            type=date,
            match=lc.Match.RANGE,
            filter_names=("endingAfter", "endingBefore"),
            filter_description="End date strictly after endingAfter, strictly before endingBefore.",
            bounds_included=(False, False),
            orderable=True,
        ),
        # The last day a renewal signature earns the early-renewal discount (004:4442),
        # for the early-window filter (services/renewal.py).
        lc.Column(
            "early_renewal_last_day",
            type=date,
            value=lambda p: early_renewal_last_day(p.data.end_date, p.policy.discounts),
            indexed=True,
        ),
        lc.Column("on_prepaid_plan"),
        lc.Column("at_risk", type=bool, match=lc.Match.EQUALS, indexed=True),
        lc.Column("credit_amount"),
        lc.Column("annual_spend", orderable=True),
    ),
    default_order="END_DATE_ASC",
    opening=lc.Opening(
        name="startRenewal",
        fields=("account", "owner", "start_date", "term_months", "stated_end_date", "credit_amount", "annual_spend"),
        description="Start following a prepaid contract to its renewal.",
        input_description="A prepaid contract to follow to its renewal, e.g. one that predates the service.",
        field_names={"stated_end_date": "endDate"},
    ),
    mutations={
        "mark_at_risk": lc.Mutation("markRenewalAtRisk"),
        "clear_at_risk": lc.Mutation("clearRenewalAtRisk"),
        "record_credits_exhausted": lc.Mutation(
            "recordRenewalCreditsExhausted",
            input="RecordRenewalCreditsExhaustedInput",
            description="Record that the contract's credits ran out: covered until the end date when a renewal was "
            "signed in time, otherwise pay-as-you-go without the early-renewal discount.",
        ),
        "decline": lc.Mutation(),
        "change_owner": None,
    },
    id_name="contractId",
    shared_result="RenewalResult",
    hidden=("churn_review_requested_at",),
    type_names={
        AtRiskFlag: "AtRiskFlag",
        CreditsExhausted: "CreditsExhausted",
        SignedRenewal: "SignedRenewal",
        NotRenewing: "NotRenewing",
    },
)


RENEWAL = lc.LifecycleSpec(
    KIND,
    "Renewal",
    "One prepaid contract from signature to its renewal (a successor contract) or its expiry.",
    STATES,
    TRANSITIONS,
    TIMERS,
    RenewalData,
    RenewalPolicy,
    summary_of=lambda data: f"{data.account.name} · ${data.credit_amount:,.0f} credit · ends {data.end_date}",
    validate_open=_validate_contract,
    exposure=EXPOSURE,
)


RenewalWorkflow = lc.lifecycle_workflow(RENEWAL)
