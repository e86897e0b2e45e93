"""GraphQL for late payments: the unpaid invoice, the list with its totals, and each move."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

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
)
from schema.inputs import Account, AccountInput, filter_amount, filter_moment, given
from schema.scalars import Money
from services.late_payment import LatePaymentFilter as LatePaymentQueryFilter
from services.late_payment import LatePaymentOrder, list_late_payments, totals_by_state
from services.read_model import get_snapshot, snapshot_of
from workflows.engine.spec import Role
from workflows.engine.types import TransitionResult
from workflows.late_payment import (
    KIND,
    CollectionMethod,
    LatePaymentData,
    LatePaymentPolicy,
    LatePaymentState,
    day_zero,
)

strawberry.enum(LatePaymentState, description="The escalation ladder's states (004:3652-3689).")
strawberry.enum(CollectionMethod)
strawberry.enum(LatePaymentOrder)


@strawberry.type
class Payment:
    amount: Money
    tax_withheld: Money
    reference: str | None
    at: datetime
    advance: bool


@strawberry.type
class CreditNote:
    amount: Money
    credit_note_id: str | None
    at: datetime


@strawberry.type
class PaymentExtension:
    until: datetime
    reason: str | None
    granted_by: str
    at: datetime


@strawberry.type(description="The next step of the ladder and when it happens.")
class LadderStep:
    name: str
    trigger: str
    description: str
    due_at: datetime


@strawberry.type(description="An unpaid invoice escalating to suspension and cancellation (004:3637-3690).")
class LatePayment(Lifecycle):
    data: strawberry.Private[LatePaymentData]

    @classmethod
    def of(cls, snapshot: Any) -> LatePayment:
        return cls(snapshot=snapshot, data=LatePaymentData.model_validate(snapshot.data))

    @strawberry.field
    def invoice_id(self) -> str:
        return self.data.invoice_id

    @strawberry.field
    def state(self) -> LatePaymentState:
        return LatePaymentState(self.snapshot.state)

    @strawberry.field
    def account(self) -> Account:
        return Account(id=self.data.account.id, name=self.data.account.name)

    @strawberry.field(description="Who chases the payment; null means the revenue lead (004:3648).")
    def chaser(self) -> str:
        return self.data.owner or "role:revenue_lead"

    @strawberry.field
    def collection_method(self) -> CollectionMethod:
        return self.data.collection_method

    @strawberry.field
    def currency(self) -> str:
        return self.data.currency

    @strawberry.field
    def amount(self) -> Money:
        return Money(self.data.amount)

    @strawberry.field(description="Payments received, excluding any tax withheld (004:3713).")
    def paid(self) -> Money:
        return Money(self.data.paid)

    @strawberry.field
    def credited(self) -> Money:
        return Money(self.data.credited)

    @strawberry.field(description="Still to pay: amount minus payments and credit notes.")
    def owed(self) -> Money:
        return Money(self.data.owed)

    @strawberry.field
    def due_date(self) -> date | None:
        return self.data.due_date

    @strawberry.field(description="Day 0 of the ladder.")
    def day_zero(self) -> datetime:
        return day_zero(self.data, self.snapshot.opened_at)

    @strawberry.field
    def failed_attempts(self) -> int:
        return self.data.failed_attempts

    @strawberry.field(description="Automatic card charges stopped after the last allowed attempt (004:3644).")
    def automatic_collection_stopped(self) -> bool:
        policy = LatePaymentPolicy.model_validate(self.snapshot.policy)
        return self.data.collection_method is CollectionMethod.CARD and (
            self.data.failed_attempts >= policy.max_card_attempts
        )

    @strawberry.field
    def access_suspended(self) -> bool:
        return self.data.access_suspended

    @strawberry.field(description="Consecutive billing periods missed before this invoice (not counting it).")
    def consecutive_missed_periods(self) -> int:
        return self.data.consecutive_missed_periods

    @strawberry.field
    def typical_monthly_usage(self) -> Money | None:
        usage = self.data.typical_monthly_usage
        return Money(usage) if usage is not None else None

    @strawberry.field(description="The advance required before access returns, in ADVANCE_PAYMENT_REQUIRED.")
    def advance_required(self) -> Money | None:
        if self.snapshot.state != LatePaymentState.ADVANCE_PAYMENT_REQUIRED:
            return None
        policy = LatePaymentPolicy.model_validate(self.snapshot.policy)
        return Money((self.data.typical_monthly_usage or Decimal(0)) * policy.advance_months)

    @strawberry.field
    def payment_link(self) -> str | None:
        return self.data.payment_link

    @strawberry.field
    def contact_emails(self) -> list[str]:
        return self.data.contact_emails

    @strawberry.field
    def finance_emails(self) -> list[str]:
        return self.data.finance_emails

    @strawberry.field
    def active_user_emails(self) -> list[str]:
        return self.data.active_user_emails

    @strawberry.field
    def payments(self) -> list[Payment]:
        return [
            Payment(
                amount=Money(p.amount),
                tax_withheld=Money(p.tax_withheld),
                reference=p.reference,
                at=p.at,
                advance=p.advance,
            )
            for p in self.data.payments
        ]

    @strawberry.field
    def credit_notes(self) -> list[CreditNote]:
        return [
            CreditNote(amount=Money(c.amount), credit_note_id=c.credit_note_id, at=c.at) for c in self.data.credit_notes
        ]

    @strawberry.field
    def extensions(self) -> list[PaymentExtension]:
        return [
            PaymentExtension(until=e.until, reason=e.reason, granted_by=e.by, at=e.at) for e in self.data.extensions
        ]

    @strawberry.field
    def void_reason(self) -> str | None:
        return self.data.void_reason

    @strawberry.field(description="What happens next, and when, unless the invoice is settled first.")
    def next_step(self) -> LadderStep | None:
        if not self.snapshot.deadlines:
            return None
        d = self.snapshot.deadlines[0]
        return LadderStep(name=d.timer, trigger=d.trigger, description=d.description, due_at=d.due_at)


@strawberry.type(description="How many invoices, invoiced and still owed, per state and currency.")
class LatePaymentStateTotal:
    state: LatePaymentState
    currency: str
    count: int
    amount: Money
    owed: Money


@strawberry.type
class LatePaymentConnection(Connection[LatePayment]):
    totals_by_state: list[LatePaymentStateTotal]


@strawberry.type(description="The transition applied and the invoice as the read model now has it.")
class LatePaymentChanged:
    late_payment: LatePayment
    transition: Transition
    projected: bool = projected_field()


LatePaymentResult = Annotated[
    LatePaymentChanged
    | NotFound
    | AlreadyExists
    | InvalidTransition
    | GuardFailed
    | ValidationError
    | Forbidden
    | IdempotencyKeyReused,
    strawberry.union("LatePaymentResult"),
]
LatePaymentLookup = Annotated[LatePayment | NotFound, strawberry.union("LatePaymentLookup")]


def _changed(outcome: Any) -> Any:
    if isinstance(outcome, TransitionResult):
        return LatePaymentChanged(
            late_payment=LatePayment.of(outcome.snapshot),
            transition=Transition.of(outcome.transition),
            projected=outcome.projected,
        )
    return outcome


# ---- inputs -----------------------------------------------------------------------------------


@strawberry.input(description="An unpaid invoice to escalate (normally opened from the billing provider's events).")
class OpenLatePaymentInput:
    invoice_id: strawberry.ID
    account: AccountInput
    owner: str | None = strawberry.field(default=None, description="The account owner; none: the revenue lead.")
    amount: Money
    currency: str = "USD"
    collection_method: str = strawberry.field(default="INVOICE", description="CARD or INVOICE.")
    due_date: date | None = strawberry.field(default=None, description="Required for INVOICE.")
    day_zero: datetime | None = strawberry.field(default=None, description="Day 0 if not the rule's (004:3652).")
    failed_attempts: int | None = None
    payment_link: str | None = None
    contact_emails: list[str] | None = None
    finance_emails: list[str] | None = None
    active_user_emails: list[str] | None = None
    consecutive_missed_periods: int | None = strawberry.field(
        default=None,
        description="Consecutive billing periods the customer missed before this invoice (not counting it); "
        "when it and this one reach the policy's missed_periods_for_advance (3), access waits for an advance "
        "payment (004:3689).",
    )
    typical_monthly_usage: Money | None = None
    policy: JSON | None = strawberry.field(default=None, description="Policy overrides (admin only).")
    reason: str | None = None


@strawberry.input
class FailedPaymentInput:
    invoice_id: strawberry.ID
    attempt: int | None = strawberry.field(default=None, description="The provider's attempt number.")
    failure_message: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class RecordPaymentInput:
    invoice_id: strawberry.ID
    amount: Money = strawberry.field(
        description="The cash received: what reached the account, after any tax the customer withheld. "
        "It counts as paid."
    )
    tax_withheld: Money | None = strawberry.field(
        default=None,
        description="Tax the customer withheld from this invoice and pays to its tax authority: recorded, "
        "not counted as paid. With the amount, at most what is still owed.",
    )
    reference: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class PaymentExtensionInput:
    invoice_id: strawberry.ID
    until: datetime = strawberry.field(description="The new date of the next step; later ones move with it.")
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class CreditNoteInput:
    invoice_id: strawberry.ID
    amount: Money
    credit_note_id: str | None = None
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class AdvancePaymentInput:
    invoice_id: strawberry.ID
    amount: Money
    reference: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class InvoiceReasonInput:
    invoice_id: strawberry.ID
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class LatePaymentFilter:
    state: list[LatePaymentState] | None = None
    owner: str | None = None
    account_id: str | None = None
    amount_min: Money | None = None
    amount_max: Money | None = None
    suspended_only: bool = False
    next_deadline_before: datetime | None = None


# ---- queries and mutations ----------------------------------------------------------------------


@strawberry.type
class LatePaymentQuery:
    @strawberry.field(description="One late payment by invoice id, from the read model.")
    async def late_payment(self, info: Info, invoice_id: strawberry.ID) -> LatePaymentLookup:
        async with info.context.sessions() as session:
            snapshot = await get_snapshot(session, KIND, invoice_id)
        if snapshot is None:
            return NotFound(message=f"There is no late payment for invoice {invoice_id!r}.")
        return LatePayment.of(snapshot)

    @strawberry.field(description="Late payments matching the filter, a page at a time, with totals per state.")
    async def late_payments(
        self,
        info: Info,
        filter: LatePaymentFilter | None = None,
        order_by: LatePaymentOrder = LatePaymentOrder.NEXT_DEADLINE_ASC,
        first: int = 20,
        after: str | None = None,
    ) -> LatePaymentConnection:
        f = filter or LatePaymentFilter()
        query_filter = LatePaymentQueryFilter(
            states=[str(s) for s in f.state or []],
            owner=f.owner,
            account_id=f.account_id,
            amount_min=filter_amount(f.amount_min, "amountMin"),
            amount_max=filter_amount(f.amount_max, "amountMax"),
            suspended_only=f.suspended_only,
            next_deadline_before=filter_moment(f.next_deadline_before, "nextDeadlineBefore"),
        )
        async with info.context.sessions() as session:
            page = await list_late_payments(
                session,
                query_filter,
                LatePaymentOrder(order_by),
                first=first,
                after=after,
                max_page_size=info.context.settings.max_page_size,
            )
            totals = await totals_by_state(session, query_filter)
        listed = connection(page, lambda row: LatePayment.of(snapshot_of(row)))
        return LatePaymentConnection(
            edges=listed.edges,
            page_info=listed.page_info,
            total_count=listed.total_count,
            totals_by_state=[
                LatePaymentStateTotal(
                    state=LatePaymentState(t.state),
                    currency=t.currency,
                    count=t.count,
                    amount=Money(t.amount),
                    owed=Money(t.owed),
                )
                for t in totals
            ],
        )


@strawberry.type
class LatePaymentMutation:
    @strawberry.mutation(description="Open a late payment by hand (billing events open them by themselves).")
    async def open_late_payment(self, info: Info, input: OpenLatePaymentInput) -> LatePaymentResult:
        data = given(
            invoice_id=input.invoice_id,
            account={"id": input.account.id, "name": input.account.name},
            owner=input.owner,
            amount=input.amount,
            currency=input.currency,
            collection_method=input.collection_method,
            due_date=input.due_date,
            day_zero=input.day_zero,
            failed_attempts=input.failed_attempts,
            payment_link=input.payment_link,
            contact_emails=input.contact_emails,
            finance_emails=input.finance_emails,
            active_user_emails=input.active_user_emails,
            consecutive_missed_periods=input.consecutive_missed_periods,
            typical_monthly_usage=input.typical_monthly_usage,
        )
        if input.policy is not None and not isinstance(input.policy, dict):
            return ValidationError(message="policy must be an object.", fields=[])
        return _changed(
            await open_lifecycle(
                info,
                KIND,
                input.invoice_id,
                data,
                policy=input.policy,
                initial_state=None,
                reason=input.reason,
            )
        )

    @strawberry.mutation(description="Record a failed automatic card charge.")
    async def record_failed_payment(self, info: Info, input: FailedPaymentInput) -> LatePaymentResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.invoice_id,
                "record_failed_attempt",
                given(attempt=input.attempt, failure_message=input.failure_message),
                idempotency_key=input.idempotency_key,
            )
        )

    @strawberry.mutation(description="Record a payment; in full it settles the invoice and restores access.")
    async def record_payment(self, info: Info, input: RecordPaymentInput) -> LatePaymentResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.invoice_id,
                "record_payment",
                given(amount=input.amount, tax_withheld=input.tax_withheld, reference=input.reference),
                idempotency_key=input.idempotency_key,
            )
        )

    @strawberry.mutation(description="Give more time: every remaining deadline moves (004:3658).")
    async def grant_payment_extension(self, info: Info, input: PaymentExtensionInput) -> LatePaymentResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.invoice_id,
                "grant_extension",
                {"until": input.until},
                reason=input.reason,
                idempotency_key=input.idempotency_key,
            )
        )

    @strawberry.mutation(description="Apply a credit note; credited to zero, the invoice is settled (004:11116).")
    async def apply_credit_note(self, info: Info, input: CreditNoteInput) -> LatePaymentResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.invoice_id,
                "apply_credit_note",
                given(amount=input.amount, credit_note_id=input.credit_note_id),
                reason=input.reason,
                idempotency_key=input.idempotency_key,
            )
        )

    @strawberry.mutation(description="Record the advance of typical usage that restores access (004:3689).")
    async def record_advance_payment(self, info: Info, input: AdvancePaymentInput) -> LatePaymentResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.invoice_id,
                "record_advance_payment",
                given(amount=input.amount, reference=input.reference),
                idempotency_key=input.idempotency_key,
            )
        )

    @strawberry.mutation(description="The customer refuses the advance: the subscription is cancelled (004:3689).")
    async def decline_advance_payment(self, info: Info, input: InvoiceReasonInput) -> LatePaymentResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.invoice_id,
                "decline_advance_payment",
                reason=input.reason,
                idempotency_key=input.idempotency_key,
            )
        )

    @strawberry.mutation(description="Void the invoice (admin), with a reason.")
    async def void_invoice(self, info: Info, input: InvoiceReasonInput) -> LatePaymentResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.invoice_id,
                "void",
                reason=input.reason,
                idempotency_key=input.idempotency_key,
                role=Role.ADMIN,
            )
        )


PART = SchemaPart(query=LatePaymentQuery, mutation=LatePaymentMutation, type=LatePayment)
