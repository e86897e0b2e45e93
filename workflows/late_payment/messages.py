"""What the late-payment ladder tells people (004:3648-3689).

Templates only: every field is computed by ``message_values`` in the spec from the
invoice and its pinned policy, so an extension, a late start or a policy override
changes the dates and spans people read.
"""

from __future__ import annotations

from workflows.engine.messages import Message

OWNER_ALERTED = Message(
    "Late payment: {account} owes {owed}",
    "Invoice {invoice_id} is late. Ask the customer to pay now; access is suspended on {suspension_date} "
    "without payment.",
)

PAYMENT_REQUESTED = Message(
    "Payment overdue: invoice {invoice_id}",
    "We have not received {owed} for invoice {invoice_id}. {pay_how} If we do not receive payment "
    "{suspension_within}, user access will be suspended.",
)

FAILED_ATTEMPT = Message(
    "Card charge failed ({failed_attempts}/{max_card_attempts}): {account}",
    "Invoice {invoice_id}, {owed}.{failure_message}",
)

SUSPENSION_WARNING = Message(
    "Access to {account} will be suspended {suspension_when}", "Invoice {invoice_id} ({owed}) is unpaid. {pay_how}"
)

ACCESS_SUSPENDED = Message(
    "Access to {account} has been suspended",
    "Access is suspended because invoice {invoice_id} is unpaid. {pay_how} If this isn't resolved "
    "{cancellation_within} the account reverts to the Free tier and its usage limits.",
)

CANCELLATION_WARNING = Message(
    "Your subscription ends {cancellation_when} ({account})",
    "Because of the failed payment the subscription will be terminated {cancellation_when}. "
    "After that the free tier limits apply and data above them is not stored.",
)

ADVANCE_REQUESTED = Message(
    "Advance payment required to restore access ({account})",
    "Thank you for paying invoice {invoice_id}. After {missed_periods_for_advance} consecutive missed "
    "periods, access is restored once {advance_due} ({advance_months} months of typical usage) is paid in advance.",
)

CANCELLED = Message(
    "Subscription cancelled: {account}", "Invoice {invoice_id} was never paid; the account is on the free tier."
)
