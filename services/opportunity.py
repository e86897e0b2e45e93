"""Opportunity helpers outside its derived read model (``workflows/opportunity.py`` declares it)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def to_cents(value: Any) -> int:
    """An amount in whole cents, as the renewal and late-payment read models store theirs."""
    return int((Decimal(str(value)) * 100).to_integral_value())
