"""What late payments' lists add to the derived read model: totals per state and currency."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.derived import DERIVED
from workflows.late_payment import KIND


@dataclass(frozen=True)
class StateTotal:
    state: str
    currency: str
    count: int
    amount: Decimal
    owed: Decimal


async def totals_by_state(session: AsyncSession, conditions: list[sa.ColumnElement[bool]]) -> list[StateTotal]:
    """Count, invoiced and still-owed sums per state and currency, for the same filter as the list."""
    table = sa.inspect(DERIVED[KIND].table).local_table.c
    result = await session.execute(
        sa.select(
            table.state, table.currency, sa.func.count(), sa.func.sum(table.amount_cents), sa.func.sum(table.owed_cents)
        )
        .where(*conditions)
        .group_by(table.state, table.currency)
        .order_by(table.state, table.currency)
    )
    return [
        StateTotal(state=state, currency=currency, count=count, amount=Decimal(amount) / 100, owed=Decimal(owed) / 100)
        for state, currency, count, amount, owed in result.all()
    ]
