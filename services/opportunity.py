"""The opportunity read model: typed columns to filter and sort deals quickly."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped
from sqlmodel import Field, SQLModel, col

from services.models import LifecycleRow, ReadModel, utc_column
from services.pagination import Page
from services.read_model import lifecycle_page
from workflows.engine.types import LifecycleSnapshot
from workflows.engine.values import ACCOUNT_ID_MAX_LENGTH, NAME_MAX_LENGTH, PERSON_MAX_LENGTH, WORKFLOW_ID_MAX_LENGTH


def to_cents(value: Any) -> int:
    return int((Decimal(str(value)) * 100).to_integral_value())


class OpportunityRow(SQLModel, table=True):
    __tablename__ = "opportunities"
    __table_args__ = (
        sa.Index("ix_opportunities_stage_close", "stage", "close_date", "workflow_id"),
        sa.Index("ix_opportunities_owner_close", "owner", "close_date", "workflow_id"),
        sa.Index("ix_opportunities_account_close", "account_id", "close_date", "workflow_id"),
        sa.Index("ix_opportunities_close", "close_date", "workflow_id"),
        sa.Index("ix_opportunities_updated", "updated_at", "workflow_id"),
        sa.Index("ix_opportunities_amount", "amount_cents", "workflow_id"),
        sa.Index("ix_opportunities_forecast", "forecast_category", "close_date", "workflow_id"),
        sa.Index("ix_opportunities_record_type", "record_type", "close_date", "workflow_id"),
    )

    workflow_id: str = Field(primary_key=True, max_length=WORKFLOW_ID_MAX_LENGTH)
    seq: int
    name: str = Field(max_length=NAME_MAX_LENGTH)
    stage: str = Field(max_length=60)
    pipeline: str = Field(max_length=30)
    record_type: str = Field(max_length=60)
    plan_type: str = Field(max_length=20)
    forecast_category: str = Field(max_length=20)
    owner: str = Field(max_length=PERSON_MAX_LENGTH)
    account_id: str = Field(max_length=ACCOUNT_ID_MAX_LENGTH)
    amount_cents: int = Field(sa_type=sa.BigInteger)
    arr_cents: int = Field(sa_type=sa.BigInteger)
    close_date: date
    updated_at: datetime = utc_column()


def project_opportunity(snapshot: LifecycleSnapshot) -> dict[str, Any]:
    data = snapshot.data
    return {
        "workflow_id": snapshot.workflow_id,
        "seq": snapshot.seq,
        "name": data["name"],
        "stage": snapshot.state,
        "pipeline": data["pipeline"],
        "record_type": data["record_type"],
        "plan_type": data["plan_type"],
        "forecast_category": data["forecast_category"],
        "owner": data["owner"],
        "account_id": data["account"]["id"],
        "amount_cents": to_cents(data["amount"]),
        "arr_cents": to_cents(data["arr_discounted"]),
        "close_date": date.fromisoformat(data["close_date"]),
        "updated_at": snapshot.updated_at,
    }


READ_MODEL = ReadModel(OpportunityRow, project_opportunity)


class OpportunityOrder(enum.StrEnum):
    CLOSE_DATE_ASC = "CLOSE_DATE_ASC"
    CLOSE_DATE_DESC = "CLOSE_DATE_DESC"
    UPDATED_AT_DESC = "UPDATED_AT_DESC"
    AMOUNT_DESC = "AMOUNT_DESC"


ORDER_KEYS: dict[OpportunityOrder, tuple[Mapped[Any], bool]] = {
    OpportunityOrder.CLOSE_DATE_ASC: (col(OpportunityRow.close_date), False),
    OpportunityOrder.CLOSE_DATE_DESC: (col(OpportunityRow.close_date), True),
    OpportunityOrder.UPDATED_AT_DESC: (col(OpportunityRow.updated_at), True),
    OpportunityOrder.AMOUNT_DESC: (col(OpportunityRow.amount_cents), True),
}


@dataclass
class OpportunityFilter:
    stages: list[str] = field(default_factory=list)
    owner: str | None = None
    account_id: str | None = None
    record_types: list[str] = field(default_factory=list)
    forecast_categories: list[str] = field(default_factory=list)
    close_date_from: date | None = None
    close_date_to: date | None = None


def _conditions(f: OpportunityFilter) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if f.stages:
        conditions.append(col(OpportunityRow.stage).in_(f.stages))
    if f.owner is not None:
        conditions.append(col(OpportunityRow.owner) == f.owner)
    if f.account_id is not None:
        conditions.append(col(OpportunityRow.account_id) == f.account_id)
    if f.record_types:
        conditions.append(col(OpportunityRow.record_type).in_(f.record_types))
    if f.forecast_categories:
        conditions.append(col(OpportunityRow.forecast_category).in_(f.forecast_categories))
    if f.close_date_from is not None:
        conditions.append(col(OpportunityRow.close_date) >= f.close_date_from)
    if f.close_date_to is not None:
        conditions.append(col(OpportunityRow.close_date) <= f.close_date_to)
    return conditions


async def list_opportunities(
    session: AsyncSession,
    f: OpportunityFilter,
    order: OpportunityOrder,
    *,
    first: int,
    after: str | None,
    max_page_size: int,
) -> Page[LifecycleRow]:
    column, descending = ORDER_KEYS[order]
    return await lifecycle_page(
        session,
        OpportunityRow,
        _conditions(f),
        column,
        descending,
        first=first,
        after=after,
        max_page_size=max_page_size,
    )
