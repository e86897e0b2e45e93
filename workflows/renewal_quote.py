"""The renewal quote: what discount a proposed renewal earns, lever by lever, and why.

The handbook's four levers (004:4348-4450), as they apply to a renewal:

1. volume, on the credit purchased before discount (004:4377-4390, 004:4876); a
   customer must qualify for it before levers 2-4 apply; $1M+ is custom pricing;
2. length of commitment: 2 years +3%, 3 years +5% ("doesn't stack": 5, not 3 + 5,
   reference-billing.md §6.9), 4+ years custom (004:4394-4403);
3. timing of cash: +2.5% per additional year paid upfront, -2.5% for every 15 days
   beyond Net 30 (004:4410-4417);
4. early renewal: +5% when signed 60+ days before the end while still on a prepaid
   credit plan; after credits ran out onto pay-as-you-go it is a re-entry, not an
   early renewal (004:4439-4444).

No discount at all for monthly plans (004:4350). Credit left at the end of the term
rolls over up to half the original credit, only if the renewal's annual spend is at
least the current one (004:4716).

Everything here is a pure function of the proposal, the contract being renewed and
the pinned ``DiscountRules``; the renewal lifecycle uses the same functions when a
renewal is signed, and the API answers quotes with them.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from workflows.engine.values import Money
from workflows.opportunity import PlanType

CENT = Decimal("0.01")
Percent = Annotated[Decimal, Field(ge=0, le=100)]


class Lever(enum.StrEnum):
    """The handbook's discount levers (004:4354-4365)."""

    VOLUME = "VOLUME"
    LENGTH = "LENGTH"
    CASH_TIMING = "CASH_TIMING"
    EARLY_RENEWAL = "EARLY_RENEWAL"


class VolumeTier(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_amount: Money
    percent: Percent


class DiscountRules(BaseModel):
    """The discount levers' thresholds, each with its handbook line."""

    model_config = ConfigDict(extra="forbid")

    volume_tiers: list[VolumeTier] = Field(
        default_factory=lambda: [
            VolumeTier(from_amount=Decimal(25_000), percent=Decimal(20)),  # 004:4380
            VolumeTier(from_amount=Decimal(60_000), percent=Decimal(25)),  # 004:4382
            VolumeTier(from_amount=Decimal(100_000), percent=Decimal(30)),  # 004:4384
            VolumeTier(from_amount=Decimal(250_000), percent=Decimal(35)),  # 004:4386
            VolumeTier(from_amount=Decimal(500_000), percent=Decimal(40)),  # 004:4388
        ],
        min_length=1,
    )
    custom_pricing_from_amount: Money = Decimal(1_000_000)  # 004:4390
    # Whole years of commitment -> additional percent (004:4397-4401).
    length_bonus_by_years: dict[int, Percent] = Field(default_factory=lambda: {2: Decimal(3), 3: Decimal(5)})
    custom_pricing_from_years: int = Field(4, ge=2)  # 004:4403
    upfront_bonus_per_extra_year: Percent = Decimal("2.5")  # 004:4415
    standard_payment_terms_days: int = Field(30, ge=0)  # 004:4413
    extended_terms_penalty: Percent = Decimal("2.5")  # 004:4417
    extended_terms_step_days: int = Field(15, ge=1)  # 004:4417
    early_renewal_bonus: Percent = Decimal(5)  # 004:4439
    early_renewal_min_days_before_end: int = Field(60, ge=0)  # 004:4442
    rollover_max_share: Annotated[Decimal, Field(ge=0, le=1)] = Decimal("0.5")  # 004:4716

    @field_validator("volume_tiers")
    @classmethod
    def _ascending(cls, tiers: list[VolumeTier]) -> list[VolumeTier]:
        amounts = [t.from_amount for t in tiers]
        if amounts != sorted(set(amounts)):
            raise ValueError("tiers must start at strictly increasing amounts")
        return tiers


class RenewalProposal(BaseModel):
    """The renewal being proposed."""

    model_config = ConfigDict(extra="forbid")

    plan_type: PlanType
    credit_amount: Money
    term_months: Annotated[int, Field(ge=1, le=120)] = 12
    years_paid_upfront: Annotated[int, Field(ge=1, le=10)] = 1
    payment_terms_days: Annotated[int, Field(ge=0, le=365)] = 30
    signing_date: date

    @field_validator("years_paid_upfront")
    @classmethod
    def _within_the_term(cls, years: int, info: ValidationInfo) -> int:
        term = info.data.get("term_months")
        if term is not None and years > committed_years(term):
            raise ValueError(f"cannot exceed the whole years of a {term}-month term ({committed_years(term)})")
        return years


class ContractTerms(BaseModel):
    """What the quote needs from the contract being renewed."""

    end_date: date
    on_prepaid_plan: bool
    credit_amount: Money
    annual_spend: Money


class QuotedLever(BaseModel):
    lever: Lever
    applied: bool
    percent: Decimal
    reason: str
    source: str


class RenewalQuote(BaseModel):
    levers: list[QuotedLever]
    # Past the table (004:4390, 004:4403): the price is agreed case by case, with the
    # approvals of 004:4450, so no total is given.
    custom_pricing: bool = False
    discount_percent: Decimal | None = None
    price: Decimal | None = None
    annual_spend: Decimal | None = None
    rollover_allowance: Decimal | None = None
    rollover_reason: str


def committed_years(term_months: int) -> int:
    """Whole years of a term; at least one, as the cash lever counts years paid upfront."""
    return max(1, term_months // 12)


def early_renewal_last_day(end_date: date, rules: DiscountRules) -> date:
    """The last day a renewal signature still counts as early (60+ days before the end, 004:4442)."""
    return end_date - timedelta(days=rules.early_renewal_min_days_before_end)


def _money(amount: Decimal) -> str:
    return f"${amount:,.2f}"


def _points(value: Decimal) -> Decimal:
    """Percentage points without trailing zeros: 20, 2.5, -5."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def _volume(amount: Decimal, rules: DiscountRules) -> tuple[QuotedLever, bool]:
    """The volume lever and whether its price is custom."""
    if amount >= rules.custom_pricing_from_amount:
        reason = f"{_money(amount)} of credit is past {_money(rules.custom_pricing_from_amount)}: custom pricing."
        return QuotedLever(lever=Lever.VOLUME, applied=True, percent=Decimal(0), reason=reason, source="004:4390"), True
    tiers = rules.volume_tiers
    reached = [i for i, tier in enumerate(tiers) if amount >= tier.from_amount]
    if not reached:
        reason = (
            f"{_money(amount)} of credit is under the first volume tier ({_money(tiers[0].from_amount)}): "
            "no volume discount, and without it no other lever applies."
        )
        return QuotedLever(
            lever=Lever.VOLUME, applied=False, percent=Decimal(0), reason=reason, source="004:4377"
        ), False
    i = reached[-1]
    upper = tiers[i + 1].from_amount if i + 1 < len(tiers) else rules.custom_pricing_from_amount
    tier = tiers[i]
    reason = (
        f"{_money(amount)} of credit is in the {_money(tier.from_amount)} to {_money(upper)} tier: "
        f"{tier.percent}% base discount."
    )
    lever = QuotedLever(lever=Lever.VOLUME, applied=True, percent=tier.percent, reason=reason, source="004:4380-4388")
    return lever, False


def _length(term_months: int, rules: DiscountRules) -> tuple[QuotedLever, bool]:
    years = term_months // 12
    if years >= rules.custom_pricing_from_years:
        reason = f"A {term_months}-month commitment is {rules.custom_pricing_from_years}+ years: custom pricing."
        return QuotedLever(lever=Lever.LENGTH, applied=True, percent=Decimal(0), reason=reason, source="004:4403"), True
    bonus = rules.length_bonus_by_years.get(years, Decimal(0))
    if not bonus:
        offered = ", ".join(f"{y} years +{p}%" for y, p in sorted(rules.length_bonus_by_years.items()))
        reason = f"A {term_months}-month commitment earns no length discount ({offered})."
        return QuotedLever(
            lever=Lever.LENGTH, applied=False, percent=Decimal(0), reason=reason, source="004:4397"
        ), False
    reason = f"A {years}-year commitment: +{bonus}%, not stacked with shorter commitments."
    return QuotedLever(lever=Lever.LENGTH, applied=True, percent=bonus, reason=reason, source="004:4399-4401"), False


def _cash_timing(proposal: RenewalProposal, rules: DiscountRules) -> QuotedLever:
    extra_years = proposal.years_paid_upfront - 1
    bonus = _points(rules.upfront_bonus_per_extra_year * extra_years)
    late_days = max(0, proposal.payment_terms_days - rules.standard_payment_terms_days)
    # Every 15 days started beyond Net 30 counts: the handbook's levels are maximums (004:4450).
    penalty = _points(rules.extended_terms_penalty * math.ceil(late_days / rules.extended_terms_step_days))
    parts = []
    if extra_years:
        parts.append(f"{proposal.years_paid_upfront} years paid upfront: +{bonus}%")
    if late_days:
        parts.append(f"Net {proposal.payment_terms_days} is {late_days} days beyond Net 30: -{penalty}%")
    reason = ("; ".join(parts) if parts else "One year paid upfront on Net 30 or sooner: no change") + "."
    percent = _points(bonus - penalty)
    return QuotedLever(
        lever=Lever.CASH_TIMING, applied=bool(percent), percent=percent, reason=reason, source="004:4413-4417"
    )


def early_renewal(signing_date: date, contract: ContractTerms, rules: DiscountRules) -> QuotedLever:
    """The early-renewal lever for a renewal signed on ``signing_date``."""
    last_day = early_renewal_last_day(contract.end_date, rules)
    days = (contract.end_date - signing_date).days
    if not contract.on_prepaid_plan:
        reason = (
            "Credits ran out and the account rolled onto pay-as-you-go: this is a re-entry into a credit plan, "
            "not an early renewal."
        )
        return QuotedLever(
            lever=Lever.EARLY_RENEWAL, applied=False, percent=Decimal(0), reason=reason, source="004:4444"
        )
    if signing_date <= last_day:
        reason = (
            f"Signed on {signing_date}, {days} days before the end ({contract.end_date}): "
            f"{rules.early_renewal_min_days_before_end}+ days, on a prepaid plan: +{rules.early_renewal_bonus}%."
        )
        return QuotedLever(
            lever=Lever.EARLY_RENEWAL,
            applied=True,
            percent=rules.early_renewal_bonus,
            reason=reason,
            source="004:4439-4444",
        )
    reason = (
        f"Signed on {signing_date}, {days} days before the end ({contract.end_date}): an early renewal needs "
        f"{rules.early_renewal_min_days_before_end}+ days (last day {last_day})."
    )
    return QuotedLever(lever=Lever.EARLY_RENEWAL, applied=False, percent=Decimal(0), reason=reason, source="004:4442")


def rollover(new_annual_spend: Decimal, contract: ContractTerms, rules: DiscountRules) -> tuple[Decimal, str]:
    """How much of the current credit may roll into the new term, and why (004:4716)."""
    if new_annual_spend < contract.annual_spend:
        return Decimal(0), (
            f"No credit rolls over: the new annual spend {_money(new_annual_spend)} is below the current "
            f"{_money(contract.annual_spend)}."
        )
    allowance = (contract.credit_amount * rules.rollover_max_share).quantize(CENT, ROUND_HALF_UP)
    return allowance, (
        f"Up to {_money(allowance)} of unused credit may roll over ({rules.rollover_max_share * 100:.0f}% of "
        f"the original {_money(contract.credit_amount)}): the new annual spend {_money(new_annual_spend)} "
        f"is at least the current {_money(contract.annual_spend)}."
    )


# What may roll over of the unused credit, and why, given the new annual spend.
RollOver = Callable[[Decimal], tuple[Decimal, str]]


def _annual(price: Decimal, term_months: int) -> Decimal:
    return (price * 12 / term_months).quantize(CENT, ROUND_HALF_UP)


def _unapplied(levers: Iterable[Lever], reason: str, source: str) -> list[QuotedLever]:
    return [
        QuotedLever(lever=lever, applied=False, percent=Decimal(0), reason=reason, source=source) for lever in levers
    ]


def _priced(
    levers: list[QuotedLever], discount: Decimal, price: Decimal, term_months: int, rolls_over: RollOver
) -> RenewalQuote:
    annual_spend = _annual(price, term_months)
    allowance, why = rolls_over(annual_spend)
    return RenewalQuote(
        levers=levers,
        discount_percent=discount,
        price=price,
        annual_spend=annual_spend,
        rollover_allowance=allowance,
        rollover_reason=why,
    )


def quote_renewal(proposal: RenewalProposal, contract: ContractTerms, rules: DiscountRules) -> RenewalQuote:
    """The discount a proposed renewal earns, each lever with why, and the credit that may roll over."""
    if proposal.plan_type is PlanType.MONTHLY:
        reason = "We don't offer discounts to customers paying monthly, irrespective of commitment."
        no_term = (Decimal(0), "A monthly plan has no contract term for credit to roll into (004:4716).")
        return _priced(
            _unapplied(Lever, reason, "004:4350"),
            Decimal(0),
            proposal.credit_amount,
            proposal.term_months,
            lambda annual_spend: no_term,
        )
    volume, custom_volume = _volume(proposal.credit_amount, rules)
    if not volume.applied:
        unqualified = "Levers 2-4 apply only once the customer qualifies for the volume discount."
        levers = [volume, *_unapplied((Lever.LENGTH, Lever.CASH_TIMING, Lever.EARLY_RENEWAL), unqualified, "004:4377")]
        custom = False
    else:
        length, custom_length = _length(proposal.term_months, rules)
        levers = [volume, length, _cash_timing(proposal, rules), early_renewal(proposal.signing_date, contract, rules)]
        custom = custom_volume or custom_length
    if custom:
        return RenewalQuote(
            levers=levers, custom_pricing=True, rollover_reason="Depends on the custom price (004:4716)."
        )
    # Extended payment terms reduce the discount; they never turn it into a surcharge.
    discount = _points(max(Decimal(0), sum((lever.percent for lever in levers), Decimal(0))))
    price = (proposal.credit_amount * (100 - discount) / 100).quantize(CENT, ROUND_HALF_UP)
    return _priced(
        levers, discount, price, proposal.term_months, lambda annual_spend: rollover(annual_spend, contract, rules)
    )
