"""What the renewal's GraphQL has beyond its derived declaration: fields judged on today's
date or the contract id, and the quote of a proposed renewal."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

import pydantic
import strawberry

from schema.common import SchemaPart
from schema.context import Info
from schema.derived import graphql_enum
from schema.errors import NotFound, ValidationError, to_error
from schema.scalars import Money
from services.read_model import get_snapshot
from workflows.engine import errors
from workflows.engine.errors import field_errors
from workflows.engine.types import LifecycleSnapshot
from workflows.opportunity import PlanType
from workflows.renewal import KIND, RenewalData, RenewalPolicy, early_window_open, milestones, renewal_opportunity_of
from workflows.renewal_quote import Lever, RenewalProposal, quote_renewal


@strawberry.type(description="A dated moment of the contract and whether it has passed.")
class Milestone:
    key: str
    label: str
    date: date
    at: datetime = strawberry.field(description="When it takes effect (the start of its day, UTC).")
    passed: bool
    source: str


class RenewalFields:
    snapshot: strawberry.Private[LifecycleSnapshot]
    data: strawberry.Private[RenewalData]

    @strawberry.field
    def contract_id(self) -> str:
        return self.snapshot.entity_id

    @strawberry.field(description="The renewal opportunity driving this contract.")
    def renewal_opportunity_id(self) -> str:
        return renewal_opportunity_of(self.snapshot.entity_id, self.data)

    @strawberry.field(description="A renewal signed today would earn the early-renewal discount (004:4442).")
    def early_renewal_window_open(self) -> bool:
        policy = RenewalPolicy.model_validate(self.snapshot.policy)
        return early_window_open(self.snapshot.state, self.data, policy, datetime.now(UTC).date())

    @strawberry.field(
        description="When the renewal is due, the early-renewal reminder, the last day for the early-renewal "
        "discount and the end, with their dates."
    )
    def milestones(self) -> list[Milestone]:
        now = datetime.now(UTC)
        return [
            Milestone(key=m.key, label=m.label, date=m.day, at=m.at, passed=now >= m.at, source=m.source)
            for m in milestones(self.data, RenewalPolicy.model_validate(self.snapshot.policy))
        ]


FIELDS = RenewalFields


# ---- the quote ------------------------------------------------------------------------------------

graphql_enum(Lever)


@strawberry.type(description="One discount lever: whether it applies to the proposal, by how much, and why.")
class QuotedLever:
    lever: Lever
    applied: bool
    percent: Decimal = strawberry.field(description="Percentage points added to (or taken from) the discount.")
    reason: str
    source: str = strawberry.field(description="The handbook lines it comes from.")


@strawberry.type(description="The discount a proposed renewal earns and the credit that may roll over.")
class RenewalQuote:
    contract_id: str
    plan_type: PlanType
    credit_amount: Money
    term_months: int
    levers: list[QuotedLever]
    custom_pricing: bool = strawberry.field(description="Past the table: priced case by case (004:4390, 004:4403).")
    discount_percent: Decimal | None
    price: Money | None = strawberry.field(description="Credit amount less the discount.")
    annual_spend: Money | None
    rollover_allowance: Money | None
    rollover_reason: str


RenewalQuoteResult = Annotated[RenewalQuote | NotFound | ValidationError, strawberry.union("RenewalQuoteResult")]


@strawberry.input(description="A proposed renewal. The plan type is a string: " + ", ".join(PlanType) + ".")
class RenewalProposalInput:
    plan_type: str
    credit_amount: Money = strawberry.field(description="Credit to purchase, before discount.")
    term_months: int | None = None
    years_paid_upfront: int | None = strawberry.field(default=None, description="Default 1.")
    payment_terms_days: int | None = strawberry.field(default=None, description="Net days; default 30.")
    signing_date: date | None = strawberry.field(default=None, description="Default: today.")


def _given(**values: Any) -> dict[str, Any]:
    """The values a client gave, leaving absent ones to the proposal's defaults."""
    return {k: v for k, v in values.items() if v is not None}


@strawberry.type
class RenewalQuoteQuery:
    @strawberry.field(
        description="The discount a proposed renewal of this contract earns, lever by lever, and the credit that "
        "may roll over (004:4348-4450, 004:4716)."
    )
    async def renewal_quote(
        self, info: Info, contract_id: strawberry.ID, proposal: RenewalProposalInput
    ) -> RenewalQuoteResult:
        async with info.context.sessions() as session:
            snapshot = await get_snapshot(session, KIND, contract_id)
        if snapshot is None:
            return NotFound(message=f"There is no renewal for contract {contract_id!r}.")
        data = RenewalData.model_validate(snapshot.data)
        policy = RenewalPolicy.model_validate(snapshot.policy)
        try:
            parsed = RenewalProposal.model_validate(
                _given(
                    plan_type=proposal.plan_type,
                    credit_amount=proposal.credit_amount,
                    term_months=proposal.term_months,
                    years_paid_upfront=proposal.years_paid_upfront,
                    payment_terms_days=proposal.payment_terms_days,
                    signing_date=proposal.signing_date or datetime.now(UTC).date(),
                )
            )
        except pydantic.ValidationError as exc:
            refusal = to_error(errors.ValidationError("The proposal is invalid.", fields=field_errors(exc)))
            assert isinstance(refusal, ValidationError)
            return refusal
        quote = quote_renewal(parsed, data.terms(), policy.discounts)
        return RenewalQuote(
            contract_id=snapshot.entity_id,
            plan_type=parsed.plan_type,
            credit_amount=Money(parsed.credit_amount),
            term_months=parsed.term_months,
            levers=[
                QuotedLever(lever=q.lever, applied=q.applied, percent=q.percent, reason=q.reason, source=q.source)
                for q in quote.levers
            ],
            custom_pricing=quote.custom_pricing,
            discount_percent=quote.discount_percent,
            price=Money(quote.price) if quote.price is not None else None,
            annual_spend=Money(quote.annual_spend) if quote.annual_spend is not None else None,
            rollover_allowance=Money(quote.rollover_allowance) if quote.rollover_allowance is not None else None,
            rollover_reason=quote.rollover_reason,
        )


PART = SchemaPart(query=RenewalQuoteQuery)
