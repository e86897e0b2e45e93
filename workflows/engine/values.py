"""The value types every lifecycle shares, and their bounds, declared once.

Input validation (the spec's pydantic models, the API's checks before anything is sent
to Temporal) and the read model's columns (``services/models.py`` and each kind's typed
table) use the same constants, so a value the API accepts always fits the row it is
projected into: PostgreSQL refuses an overlong value, and a projection that cannot be
written would retry for ever.

Pure definitions only (no I/O): workflow code imports them too.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

# ---- identifiers ---------------------------------------------------------------------------

# Temporal's default limit on workflow and update ids (the server's limit.maxIDLength).
TEMPORAL_ID_MAX_LENGTH = 1000
KIND_MAX_LENGTH = 49
# An id a client gives (a deal, an invoice, a contract, a handover, an account).
ENTITY_ID_MAX_LENGTH = 100
# The column also holds the ids the service derives from a client's (a renewal's
# ``<contract>-renewal-<n>``), hence the room beyond what a client may send.
ENTITY_ID_COLUMN_LENGTH = 200
# ``<kind>/<entity id>``: fits its column and, by far, Temporal's limit.
WORKFLOW_ID_MAX_LENGTH = KIND_MAX_LENGTH + 1 + ENTITY_ID_COLUMN_LENGTH
ACCOUNT_ID_MAX_LENGTH = ENTITY_ID_MAX_LENGTH
# The alphabet of ids: what a workflow id carries safely in URLs, the Web UI, search
# attribute queries and logs. Never "/" (it separates the kind), spaces or control
# characters. Starts with a letter or digit; matched whole (re.fullmatch).
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._:~@+=-]*"
# Ids the service makes itself may join such ids with "/" (a handover is
# ``<account id>/<n>``); the kind is always the workflow id's first segment.
DERIVED_ID_PATTERN = rf"{ID_PATTERN}(/{ID_PATTERN})*"

# ---- names and text ------------------------------------------------------------------------

NAME_MAX_LENGTH = 200
# Owners, actors, people: an email address or a name.
PERSON_MAX_LENGTH = 200
EMAIL_MAX_LENGTH = 254
SHORT_TEXT_MAX_LENGTH = 500
# Reasons and notes recorded with a transition or in a lifecycle's data.
TEXT_MAX_LENGTH = 2000
REASON_MAX_LENGTH = TEXT_MAX_LENGTH
# An idempotency key a client gives. Keys the service makes itself (a fan-out's
# ``<effect id>-><workflow id>``) are longer; the column holds any key Temporal accepts
# as an update id.
IDEMPOTENCY_KEY_MAX_LENGTH = 200
IDEMPOTENCY_KEY_COLUMN_LENGTH = TEMPORAL_ID_MAX_LENGTH

# ---- lists ---------------------------------------------------------------------------------

# Any list in an input (email addresses, products, filter values): enough for every
# real case, few enough that no request pushes a workflow toward Temporal's payload or
# history limits, or a query past a database's parameter limit.
MAX_LIST_ITEMS = 100

ItemT = TypeVar("ItemT")


def distinct(items: list[ItemT]) -> list[ItemT]:
    """The items in their order, each once (a validator for lists where a repeat means nothing)."""
    return list(dict.fromkeys(items))


# ---- money ---------------------------------------------------------------------------------

CENT = Decimal("0.01")
# Amounts are US dollars with cents, at most 14 digits: below a trillion dollars.
MONEY_MAX_DIGITS = 14
MONEY_MAX = Decimal("999999999999.99")

# Control characters (other than tab and newline in free text) never belong in a value.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _no_negative_zero(value: Decimal) -> Decimal:
    return value.copy_abs() if value.is_zero() else value


Money = Annotated[
    Decimal,
    Field(ge=0, le=MONEY_MAX, max_digits=MONEY_MAX_DIGITS, decimal_places=2),
    AfterValidator(_no_negative_zero),
]
PositiveMoney = Annotated[
    Decimal,
    Field(gt=0, le=MONEY_MAX, max_digits=MONEY_MAX_DIGITS, decimal_places=2),
    AfterValidator(_no_negative_zero),
]
# The one rule for email addresses: a local part, "@", a domain; no spaces or control
# characters. A dot in the domain is not required: late payments stored addresses under
# this rule (a@localhost), and stored data is validated again whenever a workflow loads
# it, so a tighter rule would stop those lifecycles.
_EMAIL_CHAR = r"[^@\s\x00-\x1f\x7f]"
EMAIL_PATTERN = rf"^{_EMAIL_CHAR}+@{_EMAIL_CHAR}+$"
Email = Annotated[str, StringConstraints(min_length=3, max_length=EMAIL_MAX_LENGTH, pattern=EMAIL_PATTERN)]
# Lifecycle data is validated again whenever a workflow loads it, so a rule tighter than
# the one a stored value was accepted under would stop that lifecycle: these keep the
# bounds they always had (NUL, which PostgreSQL cannot store, is refused by the API).
Text = Annotated[str, StringConstraints(min_length=1, max_length=TEXT_MAX_LENGTH)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=SHORT_TEXT_MAX_LENGTH)]


def parse_amount(value: Any) -> Decimal:
    """An amount given as a string or number: finite, within ±``MONEY_MAX``, in cents.

    Raises ``ValueError`` with the reason. The bound is checked on the exponent before any
    arithmetic, so "1e999997" is refused at once rather than expanded.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError("is not an amount")
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValueError("is not an amount") from None
    if not amount.is_finite():
        raise ValueError("must be a finite amount")
    if amount.adjusted() >= MONEY_MAX_DIGITS - 2 or amount.copy_abs() > MONEY_MAX:
        raise ValueError(f"must be at most {MONEY_MAX} in absolute value")
    cents = amount.quantize(CENT)
    if cents != amount:
        raise ValueError("must have at most two decimals")
    return _no_negative_zero(cents)


ID_RULE = "letters, digits and . _ : ~ @ + = -, starting with a letter or digit"


def request_field_errors(
    entity_id: str, reason: str | None, idempotency_key: str | None, *, from_client: bool
) -> list[dict[str, str]]:
    """What is wrong with a request's id, reason and idempotency key, field by field.

    ``from_client``: the bounds of what a client may choose (an id of one segment);
    otherwise those of what the service derives (longer ids and keys, ids joined with
    "/"), checked for every request before it reaches Temporal, so nothing the read
    model cannot hold is ever recorded.
    """
    id_max = ENTITY_ID_MAX_LENGTH if from_client else ENTITY_ID_COLUMN_LENGTH
    id_pattern = ID_PATTERN if from_client else DERIVED_ID_PATTERN
    key_max = IDEMPOTENCY_KEY_MAX_LENGTH if from_client else IDEMPOTENCY_KEY_COLUMN_LENGTH
    errors = []
    if not isinstance(entity_id, str) or not 1 <= len(entity_id) <= id_max:
        errors.append({"field": "id", "message": f"must be 1 to {id_max} characters"})
    elif not re.fullmatch(id_pattern, entity_id):
        errors.append({"field": "id", "message": f"may contain only {ID_RULE}"})
    if reason is not None:
        if len(reason) > REASON_MAX_LENGTH:
            errors.append({"field": "reason", "message": f"must be at most {REASON_MAX_LENGTH} characters"})
        elif _CONTROL.search(reason):
            errors.append({"field": "reason", "message": "must not contain control characters"})
    if idempotency_key is not None:
        if not 1 <= len(idempotency_key) <= key_max:
            errors.append({"field": "idempotency_key", "message": f"must be 1 to {key_max} characters"})
        elif from_client and not re.fullmatch(r"[!-~]+", idempotency_key):
            errors.append({"field": "idempotency_key", "message": "must be printable ASCII without spaces"})
        elif _CONTROL.search(idempotency_key):
            errors.append({"field": "idempotency_key", "message": "must not contain control characters"})
    return errors


class Account(BaseModel):
    """The customer account a lifecycle belongs to, as every kind records it."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(min_length=1, max_length=ACCOUNT_ID_MAX_LENGTH)]
    name: Annotated[str, Field(min_length=1, max_length=NAME_MAX_LENGTH)]
