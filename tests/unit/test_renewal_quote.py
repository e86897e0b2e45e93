"""The renewal quote against the handbook's own numbers and worked examples (004:4348-4450, 004:4716, 004:4876)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pydantic
import pytest

from workflows.renewal_quote import (
    ContractTerms,
    DiscountRules,
    Lever,
    RenewalProposal,
    RenewalQuote,
    quote_renewal,
)

RULES = DiscountRules()
END = date(2027, 1, 1)
# The contract being renewed: $60k of credit for $45k a year, still on its prepaid plan.
CONTRACT = ContractTerms(end_date=END, on_prepaid_plan=True, credit_amount=Decimal(60000), annual_spend=Decimal(45000))
LATE = END - timedelta(days=30)  # too late for the early-renewal discount


def quote(contract: ContractTerms = CONTRACT, **proposal: Any) -> RenewalQuote:
    values = {"plan_type": "ANNUAL", "credit_amount": "25000", "signing_date": LATE, **proposal}
    return quote_renewal(RenewalProposal.model_validate(values), contract, RULES)


def levers(result: RenewalQuote) -> dict[Lever, Decimal]:
    return {lever.lever: lever.percent for lever in result.levers if lever.applied}


def test_the_standard_annual_contract_of_the_order_form_example():
    # 004:4876: "a standard $20k annual contract to get the 20% discount, the total will be
    # $25k, 20% discount of $5k, total cost to the customer would be $20k".
    result = quote(credit_amount="25000")
    assert levers(result) == {Lever.VOLUME: Decimal(20)}
    assert result.discount_percent == 20 and result.price == Decimal("20000.00")
    volume = result.levers[0]
    assert volume.source == "004:4380-4388" and "$25,000.00 to $60,000.00 tier: 20% base discount" in volume.reason


@pytest.mark.parametrize(
    ("amount", "percent"),
    [
        ("25000", 20),
        ("59999.99", 20),  # "$25-59k: 20%" (004:4380)
        ("60000", 25),
        ("99999", 25),  # "$60-99k: 25%" (004:4382)
        ("100000", 30),
        ("249999", 30),  # 004:4384
        ("250000", 35),
        ("499999", 35),  # 004:4386
        ("500000", 40),
        ("999999.99", 40),  # 004:4388
    ],
)
def test_volume_tiers(amount: str, percent: int):
    assert quote(credit_amount=amount).discount_percent == percent


def test_net_60_takes_5_points_from_the_total():
    # 004:4417: "-2.5% for every 15 days beyond Net 30 (e.g., Net 60 = -5% from total discount)".
    result = quote(payment_terms_days=60)
    assert levers(result) == {Lever.VOLUME: Decimal(20), Lever.CASH_TIMING: Decimal(-5)}
    assert result.discount_percent == 15 and result.price == Decimal("21250.00")
    assert "Net 60 is 30 days beyond Net 30: -5%" in result.levers[2].reason


@pytest.mark.parametrize(("days", "percent"), [(30, 0), (0, 0), (45, Decimal("-2.5")), (50, -5)])
def test_every_fifteen_days_started_beyond_net_30_counts(days: int, percent: Decimal):
    cash = next(lever for lever in quote(payment_terms_days=days).levers if lever.lever is Lever.CASH_TIMING)
    assert cash.percent == percent and cash.applied == bool(percent)


def test_two_and_three_years_paid_upfront():
    # 004:4415: "+2.5% per additional year paid upfront (i.e. +2.5% for 2 years, +5% for 3 years)";
    # 004:4399-4401: 2-year commitment +3%, 3-year +5%.
    two = quote(term_months=24, years_paid_upfront=2)
    assert levers(two) == {Lever.VOLUME: 20, Lever.LENGTH: 3, Lever.CASH_TIMING: Decimal("2.5")}
    assert two.discount_percent == Decimal("25.5")
    assert two.price == Decimal("18625.00") and two.annual_spend == Decimal("9312.50")
    three = quote(term_months=36, years_paid_upfront=3)
    assert levers(three) == {Lever.VOLUME: 20, Lever.LENGTH: 5, Lever.CASH_TIMING: 5}
    assert three.discount_percent == 30


def test_three_years_paid_yearly_get_the_length_but_not_the_cash_lever():
    # "doesn't stack" (004:4401): 5 for three years, not 3 + 5 (reference-billing §6.9).
    result = quote(term_months=36)
    assert levers(result) == {Lever.VOLUME: 20, Lever.LENGTH: 5}


def test_levers_two_to_four_need_the_volume_discount_first():
    # 004:4377: "Customers must qualify for this discount before receiving discounts 2 through 4".
    result = quote(credit_amount="24999", term_months=36, years_paid_upfront=3, signing_date=END - timedelta(days=90))
    assert result.discount_percent == 0 and result.price == Decimal("24999.00")
    assert [lever.applied for lever in result.levers] == [False, False, False, False]
    assert "under the first volume tier ($25,000.00)" in result.levers[0].reason
    assert {lever.source for lever in result.levers[1:]} == {"004:4377"}


def test_monthly_plans_get_no_discount_at_all():
    # 004:4350: "We don't offer discounts to customers paying monthly, irrespective of commitment."
    result = quote(plan_type="MONTHLY", credit_amount="500000", signing_date=END - timedelta(days=100))
    assert result.discount_percent == 0 and result.price == Decimal("500000")
    assert all(not lever.applied and lever.source == "004:4350" for lever in result.levers)
    assert result.rollover_allowance == 0


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"credit_amount": "1000000"}, "004:4390"),  # $1M+: contact us for custom pricing
        ({"term_months": 48, "years_paid_upfront": 2}, "004:4403"),  # 4 years or more: custom pricing
    ],
)
def test_past_the_table_the_price_is_custom(fields: dict[str, Any], why: str):
    result = quote(**fields)
    assert result.custom_pricing
    assert result.discount_percent is None and result.price is None and result.rollover_allowance is None
    assert why in {lever.source for lever in result.levers}


def test_early_renewal_needs_sixty_days_and_a_prepaid_plan():
    # 004:4442-4444: "Early renewal commitment (60+ days before expiration)"; "Customer must be
    # actively on a prepaid credit plan at the time of signing".
    early = quote(signing_date=END - timedelta(days=60))
    assert levers(early) == {Lever.VOLUME: 20, Lever.EARLY_RENEWAL: 5} and early.discount_percent == 25
    assert "60 days before the end (2027-01-01)" in early.levers[3].reason
    late = quote(signing_date=END - timedelta(days=59))
    assert Lever.EARLY_RENEWAL not in levers(late)
    assert "last day 2026-11-02" in late.levers[3].reason
    on_payg = ContractTerms(**{**CONTRACT.model_dump(), "on_prepaid_plan": False})
    reentry = quote(on_payg, signing_date=END - timedelta(days=200))
    assert Lever.EARLY_RENEWAL not in levers(reentry)
    assert "re-entry into a credit plan, not an early renewal" in reentry.levers[3].reason


def test_every_lever_together():
    result = quote(
        credit_amount="100000",
        term_months=24,
        years_paid_upfront=2,
        payment_terms_days=45,
        signing_date=END - timedelta(days=75),
    )
    # Two years upfront (+2.5) and Net 45 (-2.5) cancel out.
    assert levers(result) == {Lever.VOLUME: 30, Lever.LENGTH: 3, Lever.EARLY_RENEWAL: 5}
    assert "2 years paid upfront: +2.5%; Net 45 is 15 days beyond Net 30: -2.5%" in result.levers[2].reason
    assert result.discount_percent == 38
    assert result.price == Decimal("62000.00")


def test_extended_terms_reduce_the_discount_but_never_below_zero():
    result = quote(payment_terms_days=365)
    assert result.discount_percent == 0 and result.price == Decimal("25000.00")


def test_half_the_original_credit_rolls_over_when_the_annual_spend_does_not_drop():
    # 004:4716: "roll up to half the amount of credit from the original order form ... provided that the
    # customer signs a renewal contract of equal or higher annual spend than the original contract."
    same = quote(credit_amount="60000")  # 25% off: $45,000 a year, as now
    assert same.annual_spend == Decimal("45000.00") and same.rollover_allowance == Decimal("30000.00")
    assert "Up to $30,000.00 of unused credit may roll over (50% of the original $60,000.00)" in same.rollover_reason
    smaller = quote(credit_amount="50000")  # 20% off: $40,000 a year
    assert smaller.rollover_allowance == 0
    assert "below the current $45,000.00" in smaller.rollover_reason


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"plan_type": "QUARTERLY"}, "plan_type"),
        ({"credit_amount": "-5"}, "credit_amount"),
        ({"term_months": 0}, "term_months"),
        ({"term_months": 12, "years_paid_upfront": 2}, "years_paid_upfront"),
        ({"payment_terms_days": -1}, "payment_terms_days"),
        ({"signing_date": "tomorrow"}, "signing_date"),
    ],
)
def test_bad_proposals_are_refused_per_field(fields: dict[str, Any], field: str):
    with pytest.raises(pydantic.ValidationError) as caught:
        RenewalProposal.model_validate(
            {"plan_type": "ANNUAL", "credit_amount": "25000", "signing_date": LATE, **fields}
        )
    assert [e["loc"] for e in caught.value.errors()] == [(field,)]


def test_the_rules_are_policy_and_overridable():
    richer = DiscountRules.model_validate({"early_renewal_bonus": "7", "early_renewal_min_days_before_end": 90})
    proposal = RenewalProposal(plan_type="ANNUAL", credit_amount=Decimal(25000), signing_date=END - timedelta(days=90))
    assert quote_renewal(proposal, CONTRACT, richer).discount_percent == 27
    with pytest.raises(pydantic.ValidationError):
        DiscountRules.model_validate(
            {"volume_tiers": [{"from_amount": 5, "percent": 1}, {"from_amount": 4, "percent": 2}]}
        )
