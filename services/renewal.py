"""The renewal read model: typed columns to list contracts by end date, risk and early window."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped
from sqlmodel import Field, SQLModel, col

from services.models import LifecycleRow, ReadModel, utc_column
from services.opportunity import to_cents
from services.pagination import Page
from services.read_model import lifecycle_page
from workflows.engine.types import LifecycleSnapshot
from workflows.engine.values import ACCOUNT_ID_MAX_LENGTH, PERSON_MAX_LENGTH, WORKFLOW_ID_MAX_LENGTH
from workflows.renewal import UNDECIDED, RenewalData, RenewalPolicy
from workflows.renewal_quote import early_renewal_last_day


class RenewalRow(SQLModel, table=True):
    __tablename__ = "renewals"
    __table_args__ = (
        sa.Index("ix_renewals_end", "end_date", "workflow_id"),
        sa.Index("ix_renewals_state_end", "state", "end_date", "workflow_id"),
        sa.Index("ix_renewals_owner_end", "owner", "end_date", "workflow_id"),
        sa.Index("ix_renewals_account_end", "account_id", "end_date", "workflow_id"),
        sa.Index("ix_renewals_at_risk_end", "at_risk", "end_date", "workflow_id"),
        sa.Index("ix_renewals_early_renewal", "early_renewal_last_day", "workflow_id"),
        sa.Index("ix_renewals_updated", "updated_at", "workflow_id"),
        sa.Index("ix_renewals_annual_spend", "annual_spend_cents", "workflow_id"),
    )

    workflow_id: str = Field(primary_key=True, max_length=WORKFLOW_ID_MAX_LENGTH)
    seq: int
    state: str = Field(max_length=60)
    owner: str = Field(max_length=PERSON_MAX_LENGTH)
    account_id: str = Field(max_length=ACCOUNT_ID_MAX_LENGTH)
    start_date: date
    end_date: date
    # The last day a renewal signature earns the early-renewal discount (004:4442).
    early_renewal_last_day: date
    on_prepaid_plan: bool
    at_risk: bool
    credit_amount_cents: int = Field(sa_type=sa.BigInteger)
    annual_spend_cents: int = Field(sa_type=sa.BigInteger)
    updated_at: datetime = utc_column()


def project_renewal(snapshot: LifecycleSnapshot) -> dict[str, Any]:
    data = RenewalData.model_validate(snapshot.data)
    policy = RenewalPolicy.model_validate(snapshot.policy)
    return {
        "workflow_id": snapshot.workflow_id,
        "seq": snapshot.seq,
        "state": snapshot.state,
        "owner": data.owner,
        "account_id": data.account.id,
        "start_date": data.start_date,
        "end_date": data.end_date,
        "early_renewal_last_day": early_renewal_last_day(data.end_date, policy.discounts),
        "on_prepaid_plan": data.on_prepaid_plan,
        "at_risk": data.at_risk,
        "credit_amount_cents": to_cents(data.credit_amount),
        "annual_spend_cents": to_cents(data.annual_spend),
        "updated_at": snapshot.updated_at,
    }


READ_MODEL = ReadModel(RenewalRow, project_renewal)


class RenewalOrder(enum.StrEnum):
    END_DATE_ASC = "END_DATE_ASC"
    END_DATE_DESC = "END_DATE_DESC"
    UPDATED_AT_DESC = "UPDATED_AT_DESC"
    ANNUAL_SPEND_DESC = "ANNUAL_SPEND_DESC"


ORDER_KEYS: dict[RenewalOrder, tuple[Mapped[Any], bool]] = {
    RenewalOrder.END_DATE_ASC: (col(RenewalRow.end_date), False),
    RenewalOrder.END_DATE_DESC: (col(RenewalRow.end_date), True),
    RenewalOrder.UPDATED_AT_DESC: (col(RenewalRow.updated_at), True),
    RenewalOrder.ANNUAL_SPEND_DESC: (col(RenewalRow.annual_spend_cents), True),
}


@dataclass
class RenewalFilter:
    states: list[str] = field(default_factory=list)
    owner: str | None = None
    account_id: str | None = None
    ending_before: date | None = None
    ending_after: date | None = None
    at_risk: bool | None = None
    # Judged on ``today``: a renewal signed today would earn the early-renewal discount.
    early_window_open: bool | None = None
    today: date | None = None


def _early_window_open(today: date) -> sa.ColumnElement[bool]:
    """The SQL form of ``workflows.renewal.early_window_open``."""
    return sa.and_(
        col(RenewalRow.state).in_([str(s) for s in UNDECIDED]),
        col(RenewalRow.on_prepaid_plan).is_(True),
        col(RenewalRow.early_renewal_last_day) >= today,
    )


def _conditions(f: RenewalFilter) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if f.states:
        conditions.append(col(RenewalRow.state).in_(f.states))
    if f.owner is not None:
        conditions.append(col(RenewalRow.owner) == f.owner)
    if f.account_id is not None:
        conditions.append(col(RenewalRow.account_id) == f.account_id)
    if f.ending_before is not None:
        conditions.append(col(RenewalRow.end_date) < f.ending_before)
    if f.ending_after is not None:
        conditions.append(col(RenewalRow.end_date) > f.ending_after)
    if f.at_risk is not None:
        conditions.append(col(RenewalRow.at_risk).is_(f.at_risk))
    if f.early_window_open is not None:
        if f.today is None:
            raise ValueError("the early-window filter needs today's date")
        window = _early_window_open(f.today)
        conditions.append(window if f.early_window_open else sa.not_(window))
    return conditions


async def list_renewals(
    session: AsyncSession,
    f: RenewalFilter,
    order: RenewalOrder,
    *,
    first: int,
    after: str | None,
    max_page_size: int,
) -> Page[LifecycleRow]:
    """Renewals matching ``f`` in ``order``, one keyset page at a time."""
    column, descending = ORDER_KEYS[order]
    return await lifecycle_page(
        session,
        RenewalRow,
        _conditions(f),
        column,
        descending,
        first=first,
        after=after,
        max_page_size=max_page_size,
    )
