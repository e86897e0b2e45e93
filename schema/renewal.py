"""GraphQL for contract renewals: the contract, its list, its quote and what operators record."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

import pydantic
import strawberry
from strawberry.scalars import JSON

from schema.common import (
    Connection,
    Lifecycle,
    SchemaPart,
    Transition,
    connection,
    fire,
    open_lifecycle,
    projected_field,
)
from schema.context import Info
from schema.errors import (
    AlreadyExists,
    Forbidden,
    GuardFailed,
    IdempotencyKeyReused,
    InvalidTransition,
    NotFound,
    ValidationError,
    to_error,
)
from schema.inputs import Account, AccountInput, filter_date, one_of
from schema.scalars import Money
from services.read_model import get_snapshot, snapshot_of
from services.renewal import RenewalFilter as RenewalQueryFilter
from services.renewal import RenewalOrder, list_renewals
from workflows.engine import errors
from workflows.engine.errors import field_errors
from workflows.engine.types import LifecycleSnapshot, TransitionResult
from workflows.opportunity import LossReason, PlanType
from workflows.renewal import (
    KIND,
    RenewalData,
    RenewalPolicy,
    RenewalState,
    early_window_open,
    milestones,
    renewal_opportunity_of,
)
from workflows.renewal_quote import Lever, RenewalProposal, quote_renewal

strawberry.enum(RenewalState, description="A prepaid contract's way to its renewal or expiry (domain README §4).")
strawberry.enum(RenewalOrder)
strawberry.enum(Lever, description="The handbook's discount levers (004:4354-4365).")

# Spec field names (in ValidationError) -> the input fields a client sent.
FIELD_NAMES = {"stated_end_date": "endDate"}


@strawberry.type(description="An operator's at-risk flag.")
class AtRiskFlag:
    reason: str
    flagged_by: str
    flagged_at: datetime


@strawberry.type(description="A dated moment of the contract and whether it has passed.")
class Milestone:
    key: str
    label: str
    date: date
    at: datetime = strawberry.field(description="When it takes effect (the start of its day, UTC).")
    passed: bool
    source: str


@strawberry.type(description="The renewal signed through the renewal opportunity's Closed Won.")
class SignedRenewal:
    opportunity_id: str
    successor_contract_id: str = strawberry.field(description="The successor contract; it starts at the end date.")
    signed_on: date
    credit_amount: Money
    annual_spend: Money
    term_months: int
    early_renewal_discount: bool = strawberry.field(description="Signed 60+ days before the end on a prepaid plan.")
    rollover_allowance: Money = strawberry.field(description="Unused credit that may roll over (004:4716).")


@strawberry.type(description="When the credits ran out, and whether usage is covered until the end date.")
class CreditsExhausted:
    exhausted_on: date
    recorded_by: str
    usage_covered_until: date | None = strawberry.field(
        description="Set when a renewal signed in time covers usage (004:4701); otherwise pay-as-you-go."
    )


@strawberry.type(description="Why the contract is not renewing.")
class NotRenewing:
    loss_reason: LossReason
    note: str | None
    decided_by: str
    decided_on: date


@strawberry.type(description="One prepaid contract on its way to renewal or expiry (reference-billing §2, §5b).")
class Renewal(Lifecycle):
    data: strawberry.Private[RenewalData]
    policy_model: strawberry.Private[RenewalPolicy]

    @classmethod
    def of(cls, snapshot: LifecycleSnapshot) -> Renewal:
        return cls(
            snapshot=snapshot,
            data=RenewalData.model_validate(snapshot.data),
            policy_model=RenewalPolicy.model_validate(snapshot.policy),
        )

    @strawberry.field
    def contract_id(self) -> str:
        return self.snapshot.entity_id

    @strawberry.field
    def state(self) -> RenewalState:
        return RenewalState(self.snapshot.state)

    @strawberry.field
    def account(self) -> Account:
        return Account(id=self.data.account.id, name=self.data.account.name)

    @strawberry.field
    def previous_owners(self) -> list[str]:
        return self.data.previous_owners

    @strawberry.field
    def start_date(self) -> date:
        return self.data.start_date

    @strawberry.field
    def term_months(self) -> int:
        return self.data.term_months

    @strawberry.field(description="Start date + term (004:5444).")
    def end_date(self) -> date:
        return self.data.end_date

    @strawberry.field(description="Credit purchased, before discount.")
    def credit_amount(self) -> Money:
        return Money(self.data.credit_amount)

    @strawberry.field(description="What the customer pays per year.")
    def annual_spend(self) -> Money:
        return Money(self.data.annual_spend)

    @strawberry.field(description="False once credits ran out onto pay-as-you-go or the contract expired.")
    def on_prepaid_plan(self) -> bool:
        return self.data.on_prepaid_plan

    @strawberry.field(description="The renewal opportunity driving this contract.")
    def renewal_opportunity_id(self) -> str:
        return renewal_opportunity_of(self.snapshot.entity_id, self.data)

    @strawberry.field(description="The contract this one renews.")
    def renewal_of(self) -> str | None:
        return self.data.renewal_of

    @strawberry.field(description="Flagged by an operator or an invoice at suspension or later.")
    def at_risk(self) -> bool:
        return self.data.at_risk

    @strawberry.field
    def at_risk_flag(self) -> AtRiskFlag | None:
        flag = self.data.at_risk_flag
        return AtRiskFlag(reason=flag.reason, flagged_by=flag.flagged_by, flagged_at=flag.flagged_at) if flag else None

    @strawberry.field(description="Invoices of the account in a late payment at suspension or later.")
    def at_risk_invoices(self) -> list[str]:
        return self.data.at_risk_invoices

    @strawberry.field(description="A renewal signed today would earn the +5% early-renewal discount (004:4442).")
    def early_renewal_window_open(self) -> bool:
        return early_window_open(self.snapshot.state, self.data, self.policy_model, datetime.now(UTC).date())

    @strawberry.field(description="T-90, the early-renewal reminder, T-60 and the end, with their dates.")
    def milestones(self) -> list[Milestone]:
        now = datetime.now(UTC)
        return [
            Milestone(key=m.key, label=m.label, date=m.day, at=m.at, passed=now >= m.at, source=m.source)
            for m in milestones(self.data, self.policy_model)
        ]

    @strawberry.field
    def credits_exhausted(self) -> CreditsExhausted | None:
        done = self.data.credits_exhausted
        if done is None:
            return None
        return CreditsExhausted(
            exhausted_on=done.exhausted_on, recorded_by=done.recorded_by, usage_covered_until=done.usage_covered_until
        )

    @strawberry.field
    def renewal(self) -> SignedRenewal | None:
        signed = self.data.renewal
        if signed is None:
            return None
        return SignedRenewal(
            opportunity_id=signed.opportunity_id,
            successor_contract_id=signed.successor_id,
            signed_on=signed.signed_on,
            credit_amount=Money(signed.credit_amount),
            annual_spend=Money(signed.annual_spend),
            term_months=signed.term_months,
            early_renewal_discount=signed.early_renewal_discount,
            rollover_allowance=Money(signed.rollover_allowance),
        )

    @strawberry.field
    def not_renewing(self) -> NotRenewing | None:
        decided = self.data.not_renewing
        if decided is None:
            return None
        return NotRenewing(
            loss_reason=decided.loss_reason,
            note=decided.note,
            decided_by=decided.decided_by,
            decided_on=decided.decided_on,
        )


@strawberry.type(description="The transition applied and the renewal as the read model now has it.")
class RenewalChanged:
    renewal: Renewal
    transition: Transition
    projected: bool = projected_field()


RenewalResult = Annotated[
    RenewalChanged
    | NotFound
    | AlreadyExists
    | InvalidTransition
    | GuardFailed
    | ValidationError
    | Forbidden
    | IdempotencyKeyReused,
    strawberry.union("RenewalResult"),
]
RenewalLookup = Annotated[Renewal | NotFound, strawberry.union("RenewalLookup")]


def _changed(outcome: Any) -> Any:
    if isinstance(outcome, TransitionResult):
        return RenewalChanged(
            renewal=Renewal.of(outcome.snapshot),
            transition=Transition.of(outcome.transition),
            projected=outcome.projected,
        )
    return outcome


# ---- the quote ------------------------------------------------------------------------------------


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


# ---- inputs ---------------------------------------------------------------------------------------


@strawberry.input(description="A prepaid contract to follow to its renewal, e.g. one that predates the service.")
class StartRenewalInput:
    contract_id: strawberry.ID
    account: AccountInput
    owner: str | None = strawberry.field(default=None, description="Defaults to the caller.")
    start_date: date
    term_months: int | None = strawberry.field(default=None, description="Default 12.")
    end_date: date | None = strawberry.field(
        default=None, description="Optional: the end date on the contract, checked against start date + term."
    )
    credit_amount: Money
    annual_spend: Money
    policy: JSON | None = strawberry.field(default=None, description="Policy overrides for this contract (admin only).")
    reason: str | None = None


@strawberry.input
class MarkRenewalAtRiskInput:
    contract_id: strawberry.ID
    reason: str | None = strawberry.field(default=None, description="Why it is at risk (required).")
    idempotency_key: str | None = None


@strawberry.input
class ClearRenewalAtRiskInput:
    contract_id: strawberry.ID
    reason: str | None = strawberry.field(default=None, description="Why the risk is gone (required).")
    idempotency_key: str | None = None


@strawberry.input
class RecordRenewalCreditsExhaustedInput:
    contract_id: strawberry.ID
    exhausted_on: date | None = strawberry.field(default=None, description="When they ran out; default today.")
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class DeclineRenewalInput:
    contract_id: strawberry.ID
    loss_reason: str = strawberry.field(description=one_of(LossReason))
    loss_note: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class RenewalFilter:
    state: list[RenewalState] | None = None
    owner: str | None = None
    account_id: str | None = None
    ending_before: date | None = strawberry.field(default=None, description="End date strictly before this day.")
    ending_after: date | None = strawberry.field(default=None, description="End date strictly after this day.")
    at_risk: bool | None = None
    early_window_open: bool | None = strawberry.field(
        default=None, description="A renewal signed today would (true) or would not (false) earn the +5%."
    )


def _given(**values: Any) -> dict[str, Any]:
    """The values a client gave, leaving absent ones to the spec's defaults."""
    return {k: v for k, v in values.items() if v is not None}


# ---- queries and mutations ------------------------------------------------------------------------


@strawberry.type
class RenewalQuery:
    @strawberry.field(description="One contract's renewal, from the read model.")
    async def renewal(self, info: Info, contract_id: strawberry.ID) -> RenewalLookup:
        async with info.context.sessions() as session:
            snapshot = await get_snapshot(session, KIND, contract_id)
        if snapshot is None:
            return NotFound(message=f"There is no renewal for contract {contract_id!r}.")
        return Renewal.of(snapshot)

    @strawberry.field(description="Contract renewals matching the filter, a page at a time.")
    async def renewals(
        self,
        info: Info,
        filter: RenewalFilter | None = None,
        order_by: RenewalOrder = RenewalOrder.END_DATE_ASC,
        first: int = 20,
        after: str | None = None,
    ) -> Connection[Renewal]:
        f = filter or RenewalFilter()
        query_filter = RenewalQueryFilter(
            states=[str(s) for s in f.state or []],
            owner=f.owner,
            account_id=f.account_id,
            ending_before=filter_date(f.ending_before, "endingBefore"),
            ending_after=filter_date(f.ending_after, "endingAfter"),
            at_risk=f.at_risk,
            early_window_open=f.early_window_open,
            today=datetime.now(UTC).date(),
        )
        async with info.context.sessions() as session:
            page = await list_renewals(
                session,
                query_filter,
                RenewalOrder(order_by),
                first=first,
                after=after,
                max_page_size=info.context.settings.max_page_size,
            )
        return connection(page, lambda row: Renewal.of(snapshot_of(row)))

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
            invalid = errors.ValidationError("The proposal is invalid.", fields=field_errors(exc))
            return to_error(invalid)  # type: ignore[return-value]
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


@strawberry.type
class RenewalMutation:
    @strawberry.mutation(description="Start following a prepaid contract to its renewal.")
    async def start_renewal(self, info: Info, input: StartRenewalInput) -> RenewalResult:
        if input.policy is not None and not isinstance(input.policy, dict):
            return ValidationError(message="policy must be an object.", fields=[])
        data = _given(
            account={"id": input.account.id, "name": input.account.name},
            owner=input.owner or info.context.principal.actor,
            start_date=input.start_date,
            term_months=input.term_months,
            stated_end_date=input.end_date,
            credit_amount=input.credit_amount,
            annual_spend=input.annual_spend,
        )
        return _changed(
            await open_lifecycle(
                info,
                KIND,
                input.contract_id,
                data,
                policy=input.policy,
                initial_state=None,
                reason=input.reason,
                field_names=FIELD_NAMES,
            )
        )

    @strawberry.mutation(description="Flag the renewal at risk, with the reason.")
    async def mark_renewal_at_risk(self, info: Info, input: MarkRenewalAtRiskInput) -> RenewalResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.contract_id,
                "mark_at_risk",
                reason=input.reason,
                idempotency_key=input.idempotency_key,
            )
        )

    @strawberry.mutation(description="Clear the operator's at-risk flag, with a reason.")
    async def clear_renewal_at_risk(self, info: Info, input: ClearRenewalAtRiskInput) -> RenewalResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.contract_id,
                "clear_at_risk",
                reason=input.reason,
                idempotency_key=input.idempotency_key,
            )
        )

    @strawberry.mutation(
        description="Record that the contract's credits ran out: covered until the end date when a renewal was "
        "signed in time, otherwise pay-as-you-go without the early-renewal discount."
    )
    async def record_renewal_credits_exhausted(
        self, info: Info, input: RecordRenewalCreditsExhaustedInput
    ) -> RenewalResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.contract_id,
                "record_credits_exhausted",
                _given(exhausted_on=input.exhausted_on),
                reason=input.reason,
                idempotency_key=input.idempotency_key,
            )
        )

    @strawberry.mutation(description="The customer declines to renew; the renewal opportunity closes lost.")
    async def decline_renewal(self, info: Info, input: DeclineRenewalInput) -> RenewalResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.contract_id,
                "decline",
                _given(loss_reason=input.loss_reason, loss_note=input.loss_note),
                idempotency_key=input.idempotency_key,
            )
        )


PART = SchemaPart(query=RenewalQuery, mutation=RenewalMutation, type=Renewal)
