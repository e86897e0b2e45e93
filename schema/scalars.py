"""Scalars whose input is checked by the lifecycle's own validation, field by field.

GraphQL would reject an unparseable date or amount before any resolver runs, as a
top-level error. These scalars pass input values through unchanged so the spec's
pydantic models judge them and the caller gets a ``ValidationError`` naming each
bad field, like every other bad input. Output values are always well formed.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

# Amounts print with two decimals; other decimals (percentages) as they are.
Money = NewType("Money", Decimal)


def _passthrough(value: Any) -> Any:
    return value


SCALAR_MAP: dict[object, ScalarDefinition] = {
    Money: strawberry.scalar(
        name="Money",
        description='An amount in US dollars as a decimal string, e.g. "25000.00".',
        serialize=lambda value: f"{Decimal(str(value)):.2f}",
        parse_value=_passthrough,
    ),
    Decimal: strawberry.scalar(
        name="Decimal",
        description='A decimal number as a string, e.g. "12.5".',
        serialize=lambda value: str(value),
        parse_value=_passthrough,
    ),
    date: strawberry.scalar(
        name="Date",
        description='A calendar date, ISO 8601 ("2026-03-31").',
        serialize=lambda value: value.isoformat(),
        parse_value=_passthrough,
    ),
    datetime: strawberry.scalar(
        name="DateTime",
        description='A moment with its UTC offset, ISO 8601 ("2026-03-31T09:30:00Z").',
        serialize=lambda value: value.isoformat(),
        parse_value=_passthrough,
    ),
}
