"""What every lifecycle's GraphQL module shares: the account, enum help, the values a
client gave, filter arguments parsed into typed errors, and query refusals as errors."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import strawberry
from graphql import GraphQLError

from workflows.engine.values import parse_amount


@strawberry.type
class Account:
    id: str
    name: str


@strawberry.input
class AccountInput:
    id: str
    name: str


def one_of(values: Iterable[enum.Enum | str]) -> str:
    """Help text for an enum-valued input taken as a string (validated by the spec)."""
    return "One of: " + ", ".join(str(v) for v in values) + "."


def given(**values: Any) -> dict[str, Any]:
    """The values a client gave, leaving absent ones to the spec's defaults."""
    return {k: v for k, v in values.items() if v is not None}


def _bad_input(message: str, field: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "BAD_USER_INPUT", "field": field})


def filter_date(value: Any, field: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise _bad_input(f"{field} is not a date (YYYY-MM-DD).", field) from None


def filter_moment(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise _bad_input(f"{field} is not a moment with its UTC offset (2027-03-31T00:00:00Z).", field)
    return moment


def filter_amount(value: Any, field: str) -> Decimal | None:
    """An amount filter, by the one rule for amounts (``workflows.engine.values``)."""
    if value is None:
        return None
    try:
        return parse_amount(value)
    except ValueError as exc:
        raise _bad_input(f"{field} {exc}.", field) from None
