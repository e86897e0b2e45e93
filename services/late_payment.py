"""The late-payment read model: typed columns to find and sum unpaid invoices quickly."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from services.models import LifecycleRow, ReadModel, utc_column
from services.opportunity import to_cents
from services.pagination import Page
from services.read_model import lifecycle_page
from workflows.engine.types import LifecycleSnapshot
from workflows.engine.values import (
    ACCOUNT_ID_MAX_LENGTH,
    ENTITY_ID_MAX_LENGTH,
    PERSON_MAX_LENGTH,
    WORKFLOW_ID_MAX_LENGTH,
)
from workflows.late_payment import LatePaymentData, day_zero

# Terminal lifecycles sort after every real deadline.
NO_DEADLINE = datetime(9999, 12, 31, tzinfo=UTC)


class LatePaymentRow(SQLModel, table=True):
    __tablename__ = "late_payments"
    __table_args__ = (
        sa.Index("ix_late_payments_deadline", "deadline_order", "workflow_id"),
        sa.Index("ix_late_payments_state_deadline", "state", "deadline_order", "workflow_id"),
        sa.Index("ix_late_payments_owner_deadline", "owner", "deadline_order", "workflow_id"),
        sa.Index("ix_late_payments_account", "account_id", "deadline_order", "workflow_id"),
        sa.Index("ix_late_payments_amount", "amount_cents", "workflow_id"),
        sa.Index("ix_late_payments_updated", "updated_at", "workflow_id"),
    )

    workflow_id: str = Field(primary_key=True, max_length=WORKFLOW_ID_MAX_LENGTH)
    seq: int
    invoice_id: str = Field(max_length=ENTITY_ID_MAX_LENGTH)
    state: str = Field(max_length=40)
    owner: str | None = Field(default=None, max_length=PERSON_MAX_LENGTH)
    account_id: str = Field(max_length=ACCOUNT_ID_MAX_LENGTH)
    currency: str = Field(max_length=3)
    amount_cents: int = Field(sa_type=sa.BigInteger)
    owed_cents: int = Field(sa_type=sa.BigInteger)
    access_suspended: bool
    collection_method: str = Field(max_length=20)
    day_zero: datetime = utc_column()
    deadline_order: datetime = utc_column()
    updated_at: datetime = utc_column()


def project_late_payment(snapshot: LifecycleSnapshot) -> dict[str, Any]:
    data = LatePaymentData.model_validate(snapshot.data)
    return {
        "workflow_id": snapshot.workflow_id,
        "seq": snapshot.seq,
        "invoice_id": data.invoice_id,
        "state": snapshot.state,
        "owner": data.owner,
        "account_id": data.account.id,
        "currency": data.currency,
        "amount_cents": to_cents(data.amount),
        "owed_cents": to_cents(data.owed),
        "access_suspended": data.access_suspended,
        "collection_method": data.collection_method,
        "day_zero": day_zero(data, snapshot.opened_at),
        "deadline_order": snapshot.next_deadline or NO_DEADLINE,
        "updated_at": snapshot.updated_at,
    }


READ_MODEL = ReadModel(LatePaymentRow, project_late_payment)


class LatePaymentOrder(enum.StrEnum):
    NEXT_DEADLINE_ASC = "NEXT_DEADLINE_ASC"
    AMOUNT_DESC = "AMOUNT_DESC"
    UPDATED_AT_DESC = "UPDATED_AT_DESC"


ORDER_KEYS: dict[LatePaymentOrder, tuple[Any, bool]] = {
    LatePaymentOrder.NEXT_DEADLINE_ASC: (col(LatePaymentRow.deadline_order), False),
    LatePaymentOrder.AMOUNT_DESC: (col(LatePaymentRow.amount_cents), True),
    LatePaymentOrder.UPDATED_AT_DESC: (col(LatePaymentRow.updated_at), True),
}


@dataclass
class LatePaymentFilter:
    states: list[str] = field(default_factory=list)
    owner: str | None = None
    account_id: str | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    suspended_only: bool = False
    next_deadline_before: datetime | None = None

    def conditions(self) -> list[sa.ColumnElement[bool]]:
        out: list[sa.ColumnElement[bool]] = []
        if self.states:
            out.append(col(LatePaymentRow.state).in_(self.states))
        if self.owner is not None:
            out.append(col(LatePaymentRow.owner) == self.owner)
        if self.account_id is not None:
            out.append(col(LatePaymentRow.account_id) == self.account_id)
        if self.amount_min is not None:
            out.append(col(LatePaymentRow.amount_cents) >= to_cents(self.amount_min))
        if self.amount_max is not None:
            out.append(col(LatePaymentRow.amount_cents) <= to_cents(self.amount_max))
        if self.suspended_only:
            out.append(col(LatePaymentRow.access_suspended).is_(True))
        if self.next_deadline_before is not None:
            out.append(col(LatePaymentRow.deadline_order) < self.next_deadline_before)
        return out


async def list_late_payments(
    session: AsyncSession,
    f: LatePaymentFilter,
    order: LatePaymentOrder,
    *,
    first: int,
    after: str | None,
    max_page_size: int,
) -> Page[LifecycleRow]:
    column, descending = ORDER_KEYS[order]
    return await lifecycle_page(
        session,
        LatePaymentRow,
        f.conditions(),
        column,
        descending,
        first=first,
        after=after,
        max_page_size=max_page_size,
    )


@dataclass(frozen=True)
class StateTotal:
    state: str
    currency: str
    count: int
    amount: Decimal
    owed: Decimal


async def totals_by_state(session: AsyncSession, f: LatePaymentFilter) -> list[StateTotal]:
    """Count, invoiced and still-owed sums per state and currency, for the same filter as the list."""
    result = await session.execute(
        sa.select(
            col(LatePaymentRow.state),
            col(LatePaymentRow.currency),
            sa.func.count(),
            sa.func.sum(col(LatePaymentRow.amount_cents)),
            sa.func.sum(col(LatePaymentRow.owed_cents)),
        )
        .where(*f.conditions())
        .group_by(col(LatePaymentRow.state), col(LatePaymentRow.currency))
        .order_by(col(LatePaymentRow.state), col(LatePaymentRow.currency))
    )
    return [
        StateTotal(state=state, currency=currency, count=count, amount=Decimal(amount) / 100, owed=Decimal(owed) / 100)
        for state, currency, count, amount, owed in result.all()
    ]
