"""Late payment: one unpaid invoice escalating day by day until it is paid or cancelled.

Rules from the handbook (``004:<line>``), as decided in ``shared/domain/README.md``
section 3 (reference-billing.md §1, §5a):

- day 0 (T0) is the first failed card charge, or the day after an invoice's due date
  (004:3642-3644, 004:3652); the steps count calendar days from it;
- OVERDUE at T0: the owner is alerted (no owner: the revenue lead; an unmanaged account
  owing $1,500 or more: the billing escalation contacts), the risk flag goes on, and
  contacts and finance emails are asked to pay now, told access is suspended in 7
  calendar days (004:3648, 004:3652-3658);
- SUSPENSION_WARNING on day 6 (004:3661-3663), SUSPENDED on day 7 (004:3665-3669),
  CANCELLATION_WARNING on day 13 (004:3674-3678), CANCELLED on day 14 (004:3681-3685);
- paid in full from any open state: PAID, access restored if it was suspended
  (004:3671); tax withheld is not payment (004:3713);
- card collection stops after 4 failed attempts, each alerting #sales-alerts (004:3644);
- the owner may extend at their discretion (004:3658); credit notes adjust what is owed
  (004:11116); an admin may void the invoice;
- the third consecutive missed period needs 3 months of typical usage paid in advance
  before access comes back; no advance in time cancels (004:3689).
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from workflows.engine import vocabulary as lc
from workflows.late_payment import messages

KIND = "late-payment"

# ISO 4217 codes in circulation (2026).
CURRENCIES = frozenset(
    """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF
CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG
HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA
MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD
RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX
USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
""".split()  # noqa: SIM905 (a block of codes reads better than 160 quoted strings)
)


class LatePaymentState(enum.StrEnum):
    """The escalation ladder's states (004:3652-3689)."""

    OVERDUE = "OVERDUE"
    SUSPENSION_WARNING = "SUSPENSION_WARNING"
    SUSPENDED = "SUSPENDED"
    CANCELLATION_WARNING = "CANCELLATION_WARNING"
    ADVANCE_PAYMENT_REQUIRED = "ADVANCE_PAYMENT_REQUIRED"
    CANCELLED = "CANCELLED"
    PAID = "PAID"
    VOIDED = "VOIDED"


class CollectionMethod(enum.StrEnum):
    """How the invoice is collected: charged to a card, or paid on terms."""

    CARD = "CARD"  # charged automatically (monthly, pay-as-you-go: 004:3644)
    INVOICE = "INVOICE"  # paid on terms, usually Net 30 (004:3642)


S = LatePaymentState
LADDER = (S.OVERDUE, S.SUSPENSION_WARNING, S.SUSPENDED, S.CANCELLATION_WARNING)
OPEN_STATES = (*LADDER, S.ADVANCE_PAYMENT_REQUIRED)
# Access is blocked in these states (004:3665): what "SUSPENDED or later" means.
ACCESS_BLOCKED = (S.SUSPENDED, S.CANCELLATION_WARNING, S.ADVANCE_PAYMENT_REQUIRED)


class LatePaymentPolicy(BaseModel):
    """Every duration and threshold of the ladder, pinned per invoice."""

    model_config = ConfigDict(extra="forbid")

    suspension_warning_after: timedelta = Field(timedelta(days=6), gt=timedelta(0))  # 004:3661
    suspend_after: timedelta = Field(timedelta(days=7), gt=timedelta(0))  # 004:3658
    cancellation_warning_after: timedelta = Field(timedelta(days=13), gt=timedelta(0))  # 004:3674
    cancel_after: timedelta = Field(timedelta(days=14), gt=timedelta(0))  # 004:3669, 004:3681
    max_card_attempts: int = Field(4, ge=1)  # 004:3644
    escalation_threshold: Decimal = Field(Decimal(1500), ge=0)  # 004:3654
    missed_periods_for_advance: int = Field(3, ge=1)  # 004:3689
    advance_months: int = Field(3, ge=1)  # 004:3689
    advance_payment_window: timedelta = Field(timedelta(days=14), gt=timedelta(0))  # domain README §3

    @model_validator(mode="after")
    def _ladder_in_order(self) -> LatePaymentPolicy:
        steps = [self.suspension_warning_after, self.suspend_after, self.cancellation_warning_after, self.cancel_after]
        if steps != sorted(steps) or len(set(steps)) != len(steps):
            raise ValueError("the ladder's steps must come one after another")
        return self


class Payment(BaseModel):
    amount: lc.Money
    tax_withheld: lc.Money = Decimal(0)
    reference: str | None = None
    at: datetime
    advance: bool = False


class CreditNote(BaseModel):
    amount: lc.Money
    credit_note_id: str | None = None
    at: datetime


class Extension(BaseModel):
    until: datetime
    reason: str | None
    by: str
    at: datetime


class LatePaymentData(BaseModel):
    invoice_id: Annotated[str, Field(min_length=1, max_length=100)]
    account: lc.Account
    owner: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        None, description="The account owner; none: the revenue lead."
    )
    previous_owners: list[str] = Field(default_factory=list)
    amount: lc.PositiveMoney
    currency: Annotated[str, Field(min_length=3, max_length=3)] = "USD"
    collection_method: CollectionMethod = CollectionMethod.INVOICE
    due_date: date | None = Field(None, description="Required for INVOICE.")
    # A card failure reported after the fact.
    day_zero: datetime | None = Field(None, description="Day 0 if not the rule's (004:3652).")
    payment_link: Annotated[str, Field(max_length=2000)] | None = None
    contact_emails: list[lc.Email] = Field(default_factory=list)
    finance_emails: list[lc.Email] = Field(default_factory=list)
    active_user_emails: list[lc.Email] = Field(default_factory=list)
    consecutive_missed_periods: Annotated[int, Field(ge=0)] = Field(
        0, description="Consecutive billing periods missed before this invoice (not counting it)."
    )
    typical_monthly_usage: lc.Money | None = None
    failed_attempts: Annotated[int, Field(ge=0)] = 0
    payments: list[Payment] = Field(default_factory=list)
    credit_notes: list[CreditNote] = Field(default_factory=list)
    extensions: list[Extension] = Field(default_factory=list)
    # How far extensions pushed the remaining deadlines.
    deadline_shift: timedelta = timedelta(0)
    access_suspended: bool = False
    access_restored_at: datetime | None = None
    void_reason: str | None = None

    @field_validator("currency", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in CURRENCIES:
            raise ValueError(f"{value} is not an ISO 4217 currency code")
        return value

    @lc.computed_property
    def paid(self) -> lc.Money:
        """Payments received, excluding any tax withheld (004:3713)."""
        return sum((p.amount for p in self.payments if not p.advance), Decimal(0))

    @lc.computed_property
    def credited(self) -> lc.Money:
        return sum((c.amount for c in self.credit_notes), Decimal(0))

    @lc.computed_property
    def owed(self) -> lc.Money:
        """Still to pay: amount minus payments and credit notes."""
        return max(self.amount - self.paid - self.credited, Decimal(0))


# ``Ctx[XParams]`` for code that reads a trigger's params: its reads are type-checked.
Ctx = lc.Context[LatePaymentData, LatePaymentPolicy, lc.ParamsT]


# ---- parameters -----------------------------------------------------------------------------


class FailedAttemptParams(lc.Params):
    # The billing provider's attempt number makes a repeated report harmless.
    attempt: Annotated[int, Field(ge=1)] | None = Field(None, description="The provider's attempt number.")
    failure_message: Annotated[str, Field(max_length=500)] | None = None


class PaymentParams(lc.Params):
    amount: lc.PositiveMoney = Field(
        description="The cash received: what reached the account, after any tax the customer withheld. "
        "It counts as paid."
    )
    tax_withheld: lc.Money = Field(
        Decimal(0),
        description="Tax the customer withheld from this invoice and pays to its tax authority: recorded, "
        "not counted as paid. With the amount, at most what is still owed.",
    )
    reference: Annotated[str, Field(max_length=200)] | None = None


class ExtensionParams(lc.Params):
    until: AwareDatetime = Field(description="The new date of the next step; later ones move with it.")


class CreditNoteParams(lc.Params):
    amount: lc.PositiveMoney
    credit_note_id: Annotated[str, Field(max_length=100)] | None = None


class AdvancePaymentParams(lc.Params):
    amount: lc.PositiveMoney
    reference: Annotated[str, Field(max_length=200)] | None = None


# ---- the clock ------------------------------------------------------------------------------


def day_zero(data: LatePaymentData, opened_at: datetime) -> datetime:
    """T0: the day after the due date for an invoice, the first failure for a card (004:3642-3652)."""
    if data.day_zero is not None:
        return data.day_zero
    if data.collection_method is CollectionMethod.INVOICE and data.due_date is not None:
        return lc.start_of_day(data.due_date + timedelta(days=1))
    return opened_at


def _ladder_step(ctx: Ctx, offset: timedelta) -> datetime:
    """Day 0 plus a step of the ladder, moved by any extensions."""
    return day_zero(ctx.data, ctx.opened_at) + offset + ctx.data.deadline_shift


def _suspension_warning_due(ctx: Ctx) -> datetime:
    return _ladder_step(ctx, ctx.policy.suspension_warning_after)


def _suspension_due(ctx: Ctx) -> datetime:
    return _ladder_step(ctx, ctx.policy.suspend_after)


def _cancellation_warning_due(ctx: Ctx) -> datetime:
    return _ladder_step(ctx, ctx.policy.cancellation_warning_after)


def _cancellation_due(ctx: Ctx) -> datetime:
    return _ladder_step(ctx, ctx.policy.cancel_after)


def _advance_deadline(ctx: Ctx) -> datetime:
    return ctx.state_entered_at + ctx.policy.advance_payment_window + ctx.data.deadline_shift


def _third_missed_period(ctx: Ctx) -> bool:
    return ctx.data.consecutive_missed_periods + 1 >= ctx.policy.missed_periods_for_advance


def _advance_due(ctx: Ctx) -> Decimal:
    usage = ctx.data.typical_monthly_usage or Decimal(0)
    return usage * ctx.policy.advance_months


def _money(ctx: Ctx, amount: Decimal) -> str:
    return f"{amount:,.2f} {ctx.data.currency}"


# ---- guards and checks ----------------------------------------------------------------------


@lc.guard("automatic_collection_on", "Automatic card collection has not stopped (4 attempts, 004:3644).")
def automatic_collection_on(ctx: Ctx) -> list[str]:
    data = ctx.data
    if data.collection_method is not CollectionMethod.CARD:
        return ["This invoice is paid on terms, not by automatic card charges."]
    if data.failed_attempts >= ctx.policy.max_card_attempts:
        return [f"Automatic collection stopped after {ctx.policy.max_card_attempts} failed attempts."]
    return []


@lc.guard("advance_covers_usage", "The advance covers the required months of typical usage (004:3689).", on_input=True)
def advance_covers_usage(ctx: Ctx[AdvancePaymentParams]) -> list[str]:
    required = _advance_due(ctx)
    if ctx.params.amount < required:
        return [
            f"The advance must be at least {_money(ctx, required)} "
            f"({ctx.policy.advance_months} months of typical usage)."
        ]
    return []


def _validate_attempt(ctx: Ctx[FailedAttemptParams]) -> dict[str, str]:
    attempt = ctx.params.attempt
    if attempt is not None and attempt <= ctx.data.failed_attempts:
        return {"attempt": f"attempt {attempt} is already recorded ({ctx.data.failed_attempts} so far)"}
    return {}


def _validate_extension(ctx: Ctx[ExtensionParams]) -> dict[str, str]:
    until = ctx.params.until
    current = _next_ladder_deadline(ctx)
    if until <= ctx.now:
        return {"until": "must be in the future"}
    if current is not None and until <= current:
        return {"until": f"must be after the current deadline ({current.isoformat()})"}
    return {}


def _validate_credit_note(ctx: Ctx[CreditNoteParams]) -> dict[str, str]:
    if ctx.params.amount > ctx.data.owed:
        return {"amount": f"exceeds the amount owed ({_money(ctx, ctx.data.owed)})"}
    return {}


def _validate_payment(ctx: Ctx[PaymentParams]) -> dict[str, str]:
    # The tax was withheld from this invoice's total: the cash received and the tax
    # together cannot be more than what the invoice still bills.
    if ctx.params.tax_withheld and ctx.params.amount + ctx.params.tax_withheld > ctx.data.owed:
        return {"tax_withheld": f"with the amount, exceeds the amount owed ({_money(ctx, ctx.data.owed)})"}
    return {}


def _next_ladder_deadline(ctx: Ctx) -> datetime | None:
    dues = [t.due(ctx) for t in TIMERS if ctx.state in t.states]
    return min((d for d in dues if d is not None), default=None)


# ---- data changes ---------------------------------------------------------------------------


def _count_attempt(ctx: Ctx[FailedAttemptParams]) -> None:
    ctx.data.failed_attempts = ctx.params.attempt or ctx.data.failed_attempts + 1


def _record_payment(ctx: Ctx[PaymentParams]) -> None:
    ctx.data.payments.append(lc.stamped(Payment, ctx))


def _settle(ctx: Ctx) -> None:
    """Restore access if it was blocked: PAID after payment, a credit note, an advance, or a void."""
    if ctx.data.access_suspended:
        ctx.data.access_suspended = False
        ctx.data.access_restored_at = ctx.now


def _pay(ctx: Ctx[PaymentParams]) -> None:
    _record_payment(ctx)
    _settle(ctx)


def _pay_into_advance_requirement(ctx: Ctx[PaymentParams]) -> None:
    _record_payment(ctx)


def _record_advance(ctx: Ctx[AdvancePaymentParams]) -> None:
    ctx.data.payments.append(lc.stamped(Payment, ctx, advance=True))
    _settle(ctx)


def _credit(ctx: Ctx[CreditNoteParams]) -> None:
    ctx.data.credit_notes.append(lc.stamped(CreditNote, ctx))


def _credit_and_settle(ctx: Ctx[CreditNoteParams]) -> None:
    _credit(ctx)
    _settle(ctx)


def _extend(ctx: Ctx[ExtensionParams]) -> None:
    current = _next_ladder_deadline(ctx)
    if current is not None:
        ctx.data.deadline_shift += ctx.params.until - current
    ctx.data.extensions.append(lc.stamped(Extension, ctx))


def _suspend(ctx: Ctx) -> None:
    ctx.data.access_suspended = True


def _void(ctx: Ctx) -> None:
    ctx.data.void_reason = ctx.reason
    _settle(ctx)


# Which transitions settle the invoice: paying in full (or credited to zero) when no
# advance is needed, or when access was never blocked.
def _settles(ctx: Ctx[PaymentParams | CreditNoteParams]) -> bool:
    data = ctx.data
    return data.owed - ctx.params.amount <= 0


def _needs_advance(ctx: Ctx) -> bool:
    return _third_missed_period(ctx) and ctx.data.access_suspended


# ---- effects --------------------------------------------------------------------------------


def _who_chases(ctx: Ctx) -> list[str]:
    """The owner; without one, the billing escalation contacts for large debts, else the revenue lead."""
    data = ctx.data
    if data.owner:
        return [data.owner]
    if data.amount >= ctx.policy.escalation_threshold:
        return ["role:billing_escalation"]
    return ["role:revenue_lead"]


def _customer(ctx: Ctx) -> list[str]:
    data = ctx.data
    return list(dict.fromkeys([*data.contact_emails, *data.finance_emails])) or _who_chases(ctx)


def _all_users(ctx: Ctx) -> list[str]:
    data = ctx.data
    return list(dict.fromkeys(data.active_user_emails)) or _customer(ctx)


def _account_action(
    effect_type: str, name: str, description: str, **extra: object
) -> lc.EffectSpec[LatePaymentData, LatePaymentPolicy]:
    return lc.EffectSpec(
        effect_type,
        name,
        description,
        build=lambda ctx: {
            "account_id": ctx.data.account.id,
            "account_name": ctx.data.account.name,
            "invoice_id": ctx.data.invoice_id,
            **extra,
        },
    )


def _pay_how(ctx: Ctx) -> str:
    data = ctx.data
    if data.payment_link:
        return f"Pay here: {data.payment_link}"
    return f"The invoice {data.invoice_id} is attached to your account's billing page."


def message_values(ctx: Ctx) -> dict[str, object]:
    """Every value a late-payment message may name (``messages.py``)."""
    data, policy = ctx.data, ctx.policy
    failure = ctx.params.failure_message if isinstance(ctx.params, FailedAttemptParams) else None
    return {
        "account": data.account.name,
        "invoice_id": data.invoice_id,
        "owed": _money(ctx, data.owed),
        "pay_how": _pay_how(ctx),
        "suspension_date": lc.day(_suspension_due(ctx)),
        "suspension_when": lc.when(ctx.now, _suspension_due(ctx)),
        "suspension_within": lc.within(ctx.now, _suspension_due(ctx)),
        "cancellation_when": lc.when(ctx.now, _cancellation_due(ctx)),
        "cancellation_within": lc.within(ctx.now, _cancellation_due(ctx)),
        "failed_attempts": data.failed_attempts,
        "max_card_attempts": policy.max_card_attempts,
        "failure_message": f" {failure}" if failure else "",
        "missed_periods_for_advance": policy.missed_periods_for_advance,
        "advance_months": policy.advance_months,
        "advance_due": _money(ctx, _advance_due(ctx)),
    }


remind = lc.Reminders(message_values)


def _restored(ctx: Ctx) -> bool:
    return ctx.data.access_restored_at == ctx.now


RISK_ON = _account_action("account.risk_flag", "risk_flag_on", "Risk indicator on the account (004:3654).", on=True)
RISK_OFF = _account_action("account.risk_flag", "risk_flag_off", "Risk indicator cleared.", on=False)
RESTORE_ACCESS = lc.EffectSpec(
    "access.restore",
    "access_restored",
    "Re-enable user access if it was suspended (004:3671).",
    build=lambda ctx: {"account_id": ctx.data.account.id, "invoice_id": ctx.data.invoice_id},
    when=_restored,
)
RENEWALS_AT_RISK: lc.EffectSpec[LatePaymentData, LatePaymentPolicy] = lc.fire_on_account(
    "renewals_at_risk",
    "Open renewals of the account are at risk while access is blocked (domain README §4).",
    account_id=lambda ctx: ctx.data.account.id,
    kinds=("renewal",),
    trigger="late_payment_risk",
    params=lambda ctx: {"invoice_id": ctx.data.invoice_id, "at_risk": True},
    reason=lambda ctx: f"Invoice {ctx.data.invoice_id} unpaid: access suspended",
)
RENEWALS_RISK_CLEARED: lc.EffectSpec[LatePaymentData, LatePaymentPolicy] = lc.fire_on_account(
    "renewals_risk_cleared",
    "The invoice no longer puts the account's renewals at risk.",
    account_id=lambda ctx: ctx.data.account.id,
    kinds=("renewal",),
    trigger="late_payment_risk",
    params=lambda ctx: {"invoice_id": ctx.data.invoice_id, "at_risk": False},
    reason=lambda ctx: f"Invoice {ctx.data.invoice_id} settled",
)
SETTLED_EFFECTS = (RESTORE_ACCESS, RISK_OFF, RENEWALS_RISK_CLEARED)


OVERDUE_EFFECTS: tuple[lc.EffectSpec[LatePaymentData, LatePaymentPolicy], ...] = (
    remind.send(
        "owner_alerted",
        "Alert whoever chases the payment in #sales-alerts (004:3648, 004:3654).",
        messages.OWNER_ALERTED,
        to=lambda ctx: [*_who_chases(ctx), "channel:sales-alerts"],
    ),
    RISK_ON,
    remind.send(
        "payment_requested",
        "Ask contacts and finance emails to pay now, before the suspension (004:3656-3658).",
        messages.PAYMENT_REQUESTED,
        to=_customer,
    ),
)


# ---- timers ---------------------------------------------------------------------------------

TIMERS: tuple[lc.TimerSpec[LatePaymentData, LatePaymentPolicy], ...] = (
    lc.TimerSpec(
        "suspension_warning",
        (S.OVERDUE,),
        _suspension_warning_due,
        "The suspension warning: users are told when access is suspended",
        trigger="warn_suspension",
        source_ref="004:3661",
    ),
    lc.TimerSpec(
        "suspension",
        (S.SUSPENSION_WARNING,),
        _suspension_due,
        "The suspension: user access is blocked",
        trigger="suspend",
        source_ref="004:3665",
    ),
    lc.TimerSpec(
        "cancellation_warning",
        (S.SUSPENDED,),
        _cancellation_warning_due,
        "The cancellation warning: contacts are told when the subscription ends",
        trigger="warn_cancellation",
        source_ref="004:3674",
    ),
    lc.TimerSpec(
        "cancellation",
        (S.CANCELLATION_WARNING,),
        _cancellation_due,
        "The cancellation: the subscription ends, free tier",
        trigger="cancel",
        source_ref="004:3681",
    ),
    lc.TimerSpec(
        "advance_deadline",
        (S.ADVANCE_PAYMENT_REQUIRED,),
        _advance_deadline,
        "No advance payment in time: subscription cancelled",
        trigger="cancel",
        source_ref="004:3689",
    ),
)


# ---- transitions ----------------------------------------------------------------------------

TRANSITIONS: tuple[lc.TransitionSpec[LatePaymentData, LatePaymentPolicy], ...] = (
    lc.TransitionSpec(
        "warn_suspension",
        (S.OVERDUE,),
        S.SUSPENSION_WARNING,
        "The suspension warning is due: warn of the suspension.",
        role=lc.Role.SYSTEM,
        source_ref="004:3661-3663",
    ),
    lc.TransitionSpec(
        "suspend",
        (S.SUSPENSION_WARNING,),
        S.SUSPENDED,
        "The suspension is due: suspend access.",
        role=lc.Role.SYSTEM,
        apply=_suspend,
        source_ref="004:3665-3669",
    ),
    lc.TransitionSpec(
        "warn_cancellation",
        (S.SUSPENDED,),
        S.CANCELLATION_WARNING,
        "The cancellation warning is due: warn of the cancellation.",
        role=lc.Role.SYSTEM,
        source_ref="004:3674-3678",
    ),
    lc.TransitionSpec(
        "cancel",
        (S.CANCELLATION_WARNING, S.ADVANCE_PAYMENT_REQUIRED),
        S.CANCELLED,
        "The cancellation is due, or no advance came in time: cancel the subscription.",
        role=lc.Role.SYSTEM,
        source_ref="004:3681-3685, 004:3689",
    ),
    lc.TransitionSpec(
        "record_failed_attempt",
        OPEN_STATES,
        None,
        "An automatic card charge failed.",
        params=FailedAttemptParams,
        guards=(automatic_collection_on,),
        validate=_validate_attempt,
        apply=_count_attempt,
        in_diagram=False,
        source_ref="004:3644",
        effects=(
            remind.send(
                "failed_attempt_alert",
                "Each failed charge alerts #sales-alerts (004:3644).",
                messages.FAILED_ATTEMPT,
                to=lc.channel("sales-alerts"),
            ),
            lc.EffectSpec(
                "collection.stop",
                "automatic_collection_stopped",
                "Stop automatic charges after the last attempt (004:3644).",
                build=lambda ctx: {"account_id": ctx.data.account.id, "invoice_id": ctx.data.invoice_id},
                when=lambda ctx: ctx.data.failed_attempts >= ctx.policy.max_card_attempts,
            ),
        ),
    ),
    lc.TransitionSpec(
        "record_payment",
        LADDER,
        S.PAID,
        "Paid in full: settled, access restored if it was suspended.",
        params=PaymentParams,
        validate=_validate_payment,
        when=lambda ctx: _settles(ctx) and not _needs_advance(ctx),
        apply=_pay,
        effects=SETTLED_EFFECTS,
        source_ref="004:3671, 004:3713",
    ),
    lc.TransitionSpec(
        "record_payment",
        LADDER,
        S.ADVANCE_PAYMENT_REQUIRED,
        "Paid in full after a third missed period: access waits for the advance (004:3689).",
        params=PaymentParams,
        validate=_validate_payment,
        when=lambda ctx: _settles(ctx) and _needs_advance(ctx),
        apply=_pay_into_advance_requirement,
        source_ref="004:3689",
        effects=(
            remind.send(
                "advance_requested",
                "Ask for the policy's months of typical usage in advance (004:3689).",
                messages.ADVANCE_REQUESTED,
                to=_customer,
            ),
        ),
    ),
    lc.TransitionSpec(
        "record_payment",
        LADDER,
        None,
        "A partial payment: recorded, the rest still owed.",
        params=PaymentParams,
        validate=_validate_payment,
        when=lambda ctx: not _settles(ctx),
        apply=_record_payment,
        in_diagram=False,
    ),
    lc.TransitionSpec(
        "record_advance_payment",
        (S.ADVANCE_PAYMENT_REQUIRED,),
        S.PAID,
        "The advance is paid: access restored.",
        params=AdvancePaymentParams,
        guards=(advance_covers_usage,),
        apply=_record_advance,
        effects=SETTLED_EFFECTS,
        source_ref="004:3689",
    ),
    lc.TransitionSpec(
        "decline_advance_payment",
        (S.ADVANCE_PAYMENT_REQUIRED,),
        S.CANCELLED,
        "The customer refuses the advance: cancel (004:3689).",
        guards=(lc.reason_required("Say what the customer answered."),),
        source_ref="004:3689",
    ),
    lc.TransitionSpec(
        "grant_extension",
        OPEN_STATES,
        None,
        "The owner gives more time: every remaining deadline moves.",
        params=ExtensionParams,
        guards=(lc.reason_required("Say why the customer gets more time."),),
        validate=_validate_extension,
        apply=_extend,
        in_diagram=False,
        source_ref="004:3658",
    ),
    lc.TransitionSpec(
        "apply_credit_note",
        LADDER,
        S.PAID,
        "A credit note brings what is owed to zero: settled.",
        params=CreditNoteParams,
        validate=_validate_credit_note,
        when=_settles,
        apply=_credit_and_settle,
        effects=SETTLED_EFFECTS,
        source_ref="004:11116",
    ),
    lc.TransitionSpec(
        "apply_credit_note",
        OPEN_STATES,
        None,
        "A credit note lowers what is owed.",
        params=CreditNoteParams,
        validate=_validate_credit_note,
        when=lambda ctx: not _settles(ctx),
        apply=_credit,
        in_diagram=False,
        source_ref="004:11116",
    ),
    lc.TransitionSpec(
        "void",
        OPEN_STATES,
        S.VOIDED,
        "An admin voids the invoice, with a reason.",
        role=lc.Role.ADMIN,
        guards=(lc.reason_required("Say why the invoice is voided."),),
        apply=_void,
        effects=SETTLED_EFFECTS,
    ),
    lc.change_owner(OPEN_STATES),
)


STATES = (
    lc.StateSpec(
        S.OVERDUE, "Day 0: the payment is late; the owner chases it (004:3652-3658).", on_enter=OVERDUE_EFFECTS
    ),
    lc.StateSpec(
        S.SUSPENSION_WARNING,
        "Users are told when access is suspended, a step before it is (004:3661).",
        on_enter=(
            remind.send(
                "suspension_tomorrow",
                "Tell all active users when access is suspended (004:3661-3663).",
                messages.SUSPENSION_WARNING,
                to=_all_users,
                superseded_by_next_step=True,
            ),
        ),
    ),
    lc.StateSpec(
        S.SUSPENDED,
        "User access suspended (004:3665-3669).",
        on_enter=(
            _account_action(
                "access.suspend",
                "access_suspended",
                "Block user login (004:3665).",
                reason="Access revoked due to an unpaid balance.",
            ),
            remind.send(
                "access_suspended_notice",
                "Tell all users, and warn of the free-tier revert at the cancellation (004:3669).",
                messages.ACCESS_SUSPENDED,
                to=_all_users,
            ),
            RENEWALS_AT_RISK,
        ),
    ),
    lc.StateSpec(
        S.CANCELLATION_WARNING,
        "Contacts are told when the subscription ends, a step before it does (004:3674).",
        on_enter=(
            remind.send(
                "cancellation_tomorrow",
                "Tell all contacts when the subscription ends (004:3674-3678).",
                messages.CANCELLATION_WARNING,
                to=_customer,
                superseded_by_next_step=True,
            ),
        ),
    ),
    lc.StateSpec(
        S.ADVANCE_PAYMENT_REQUIRED,
        "Invoice paid after the policy's count of missed periods: access waits for an advance "
        "of the policy's months of typical usage (004:3689).",
    ),
    lc.StateSpec(
        S.CANCELLED,
        "Subscription cancelled, account on the free tier (004:3681-3685).",
        terminal=True,
        on_enter=(
            _account_action(
                "subscription.cancel",
                "subscription_cancelled",
                "Cancel the subscription; the billing service notifies the customer (004:3685).",
                plan="free",
            ),
            remind.send(
                "cancelled_owner_notice",
                "Tell whoever chased it that the subscription was cancelled.",
                messages.CANCELLED,
                to=_who_chases,
            ),
        ),
    ),
    lc.StateSpec(S.PAID, "Settled: paid in full or credited to zero (004:3671).", terminal=True),
    lc.StateSpec(S.VOIDED, "Voided by an admin.", terminal=True),
)


def _validate_open(data: LatePaymentData, policy: LatePaymentPolicy, now: datetime) -> dict[str, str]:
    problems: dict[str, str] = {}
    if data.collection_method is CollectionMethod.INVOICE:
        if data.due_date is None:
            problems["due_date"] = "is required for an invoice paid on terms"
        elif lc.start_of_day(data.due_date + timedelta(days=1)) > now:
            problems["due_date"] = "has not passed yet: the invoice is not late"
    problems.update(lc.reported_moment_problems("day_zero", data.day_zero, now=now))
    if data.consecutive_missed_periods + 1 >= policy.missed_periods_for_advance and not data.typical_monthly_usage:
        problems["typical_monthly_usage"] = "is required from the third consecutive missed period (004:3689)"
    return problems


# ---- how it is exposed ------------------------------------------------------------------------

Instance = lc.Projected[LatePaymentData, LatePaymentPolicy]
# Terminal late payments sort after every real deadline.
NO_DEADLINE = datetime(9999, 12, 31, tzinfo=UTC)


def chaser(data: LatePaymentData) -> str:
    """Who chases the payment; null means the revenue lead (004:3648)."""
    return data.owner or "role:revenue_lead"


def instance_day_zero(instance: Instance) -> datetime:
    """Day 0 of the ladder."""
    return day_zero(instance.data, instance.opened_at)


def automatic_collection_stopped(instance: Instance) -> bool:
    """Automatic card charges stopped after the last allowed attempt (004:3644)."""
    data = instance.data
    return data.collection_method is CollectionMethod.CARD and data.failed_attempts >= instance.policy.max_card_attempts


def advance_required(instance: Instance) -> lc.Money | None:
    """The advance required before access returns, in ADVANCE_PAYMENT_REQUIRED."""
    if instance.state != S.ADVANCE_PAYMENT_REQUIRED:
        return None
    return (instance.data.typical_monthly_usage or Decimal(0)) * instance.policy.advance_months


EXPOSURE = lc.Exposure[LatePaymentData, LatePaymentPolicy](
    description="An unpaid invoice escalating to suspension and cancellation (004:3637-3690).",
    states=LatePaymentState,
    columns=(
        lc.Column("invoice_id", max_length=lc.ENTITY_ID_MAX_LENGTH),
        lc.account_id_column(),
        lc.Column("currency", max_length=3),
        lc.Column(
            "amount",
            match=lc.Match.RANGE,
            filter_names=("amountMin", "amountMax"),
            filter_description="Invoiced at least the first amount and at most the second.",
            bounds_included=(True, True),
            orderable=True,
        ),
        lc.Column("owed", type=lc.Money),
        lc.Column(
            "access_suspended",
            match=lc.Match.FLAG,
            filter_names=("suspendedOnly",),
            filter_description="Only invoices whose users' access is suspended.",
        ),
        lc.Column("collection_method", max_length=20),
        lc.Column("day_zero", type=datetime, value=instance_day_zero),
        lc.Column(
            "deadline_order",
            type=datetime,
            value=lambda p: p.next_deadline or NO_DEADLINE,
            match=lc.Match.RANGE,
            filter_names=("", "nextDeadlineBefore"),
            filter_description="The next step due before this moment.",
            orderable=True,
            order_name="NEXT_DEADLINE",
        ),
    ),
    default_order="NEXT_DEADLINE_ASC",
    opening=lc.Opening(
        name="openLatePayment",
        fields=(
            "account",
            "owner",
            "amount",
            "currency",
            "collection_method",
            "due_date",
            "day_zero",
            "failed_attempts",
            "payment_link",
            "contact_emails",
            "finance_emails",
            "active_user_emails",
            "consecutive_missed_periods",
            "typical_monthly_usage",
        ),
        description="Open a late payment by hand (billing events open them by themselves).",
        input_description="An unpaid invoice to escalate (normally opened from the billing provider's events).",
        field_descriptions={
            "consecutive_missed_periods": "Consecutive billing periods the customer missed before this invoice "
            "(not counting it); when it and this one reach the policy's missed_periods_for_advance, access waits "
            "for an advance payment (004:3689)."
        },
        owner_defaults_to_caller=False,
    ),
    mutations={
        "record_failed_attempt": lc.Mutation(
            "recordFailedPayment", input="FailedPaymentInput", description="Record a failed automatic card charge."
        ),
        "record_payment": lc.Mutation(
            "recordPayment",
            input="RecordPaymentInput",
            description="Record a payment; in full it settles the invoice and restores access.",
        ),
        "grant_extension": lc.Mutation(
            "grantPaymentExtension",
            input="PaymentExtensionInput",
            description="Give more time: every remaining deadline moves (004:3658).",
        ),
        "apply_credit_note": lc.Mutation(
            "applyCreditNote",
            input="CreditNoteInput",
            description="Apply a credit note; credited to zero, the invoice is settled (004:11116).",
        ),
        "record_advance_payment": lc.Mutation(
            "recordAdvancePayment",
            input="AdvancePaymentInput",
            description="Record the advance of typical usage that restores access (004:3689).",
        ),
        "decline_advance_payment": lc.Mutation("declineAdvancePayment", input="InvoiceReasonInput"),
        "void": lc.Mutation("voidInvoice", input="InvoiceReasonInput"),
        "change_owner": None,
    },
    id_name="invoiceId",
    shared_result="LatePaymentResult",
    hidden=("deadline_shift",),
    computed={"chaser": chaser},
    computed_from_instance={
        "day_zero": instance_day_zero,
        "automatic_collection_stopped": automatic_collection_stopped,
        "advance_required": advance_required,
    },
    type_names={Payment: "Payment", CreditNote: "CreditNote", Extension: "PaymentExtension"},
    output_field_names={Extension: {"by": "granted_by"}},
)


LATE_PAYMENT = lc.LifecycleSpec(
    KIND,
    "Late payment",
    "An unpaid invoice escalating day by day to access suspension and cancellation, unless paid.",
    STATES,
    TRANSITIONS,
    TIMERS,
    LatePaymentData,
    LatePaymentPolicy,
    summary_of=lambda data: f"Invoice {data.invoice_id} · {data.account.name} · {data.amount:,.2f} {data.currency}",
    validate_open=_validate_open,
    exposure=EXPOSURE,
)


LatePaymentWorkflow = lc.lifecycle_workflow(LATE_PAYMENT)
