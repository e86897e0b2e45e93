"""The trial read model: typed columns to filter and sort trials quickly."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
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
from workflows.engine.values import ACCOUNT_ID_MAX_LENGTH, PERSON_MAX_LENGTH, WORKFLOW_ID_MAX_LENGTH


class TrialRow(SQLModel, table=True):
    __tablename__ = "trials"
    __table_args__ = (
        sa.Index("ix_trials_state_expires", "state", "expires_at", "workflow_id"),
        sa.Index("ix_trials_owner_expires", "owner", "expires_at", "workflow_id"),
        sa.Index("ix_trials_organization_expires", "organization_id", "expires_at", "workflow_id"),
        sa.Index("ix_trials_expires", "expires_at", "workflow_id"),
        sa.Index("ix_trials_updated", "updated_at", "workflow_id"),
    )

    workflow_id: str = Field(primary_key=True, max_length=WORKFLOW_ID_MAX_LENGTH)
    seq: int
    state: str = Field(max_length=60)
    owner: str = Field(max_length=PERSON_MAX_LENGTH)
    organization_id: str = Field(max_length=ACCOUNT_ID_MAX_LENGTH)
    target: str = Field(max_length=20)
    existing_paid_subscription: bool
    subscription_missing_at_expiry: bool
    expected_arr_cents: int = Field(sa_type=sa.BigInteger)
    expires_at: datetime = utc_column()
    updated_at: datetime = utc_column()


def project_trial(snapshot: LifecycleSnapshot) -> dict[str, Any]:
    data = snapshot.data
    return {
        "workflow_id": snapshot.workflow_id,
        "seq": snapshot.seq,
        "state": snapshot.state,
        "owner": data["owner"],
        "organization_id": data["organization"]["id"],
        "target": data["target"],
        "existing_paid_subscription": data["existing_paid_subscription"],
        "subscription_missing_at_expiry": data["subscription_missing_at_expiry"],
        "expected_arr_cents": int((Decimal(str(data["expected_arr"])) * 100).to_integral_value()),
        "expires_at": datetime.fromisoformat(data["expires_at"]),
        "updated_at": snapshot.updated_at,
    }


READ_MODEL = ReadModel(TrialRow, project_trial)


class TrialOrder(enum.StrEnum):
    EXPIRES_AT_ASC = "EXPIRES_AT_ASC"
    EXPIRES_AT_DESC = "EXPIRES_AT_DESC"
    UPDATED_AT_DESC = "UPDATED_AT_DESC"


ORDER_KEYS: dict[TrialOrder, tuple[Mapped[Any], bool]] = {
    TrialOrder.EXPIRES_AT_ASC: (col(TrialRow.expires_at), False),
    TrialOrder.EXPIRES_AT_DESC: (col(TrialRow.expires_at), True),
    TrialOrder.UPDATED_AT_DESC: (col(TrialRow.updated_at), True),
}


@dataclass
class TrialFilter:
    states: list[str] = field(default_factory=list)
    owner: str | None = None
    organization_id: str | None = None
    targets: list[str] = field(default_factory=list)
    expiring_after: datetime | None = None
    expiring_before: datetime | None = None
    existing_paid_subscription: bool | None = None
    subscription_missing_at_expiry: bool | None = None


def _conditions(f: TrialFilter) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if f.states:
        conditions.append(col(TrialRow.state).in_(f.states))
    if f.owner is not None:
        conditions.append(col(TrialRow.owner) == f.owner)
    if f.organization_id is not None:
        conditions.append(col(TrialRow.organization_id) == f.organization_id)
    if f.targets:
        conditions.append(col(TrialRow.target).in_(f.targets))
    if f.expiring_after is not None:
        conditions.append(col(TrialRow.expires_at) >= f.expiring_after)
    if f.expiring_before is not None:
        conditions.append(col(TrialRow.expires_at) < f.expiring_before)
    if f.existing_paid_subscription is not None:
        conditions.append(col(TrialRow.existing_paid_subscription) == f.existing_paid_subscription)
    if f.subscription_missing_at_expiry is not None:
        conditions.append(col(TrialRow.subscription_missing_at_expiry) == f.subscription_missing_at_expiry)
    return conditions


async def list_trials(
    session: AsyncSession,
    f: TrialFilter,
    order: TrialOrder,
    *,
    first: int,
    after: str | None,
    max_page_size: int,
) -> Page[LifecycleRow]:
    """One page of trials matching ``f``, with the total count."""
    column, descending = ORDER_KEYS[order]
    return await lifecycle_page(
        session,
        TrialRow,
        _conditions(f),
        column,
        descending,
        first=first,
        after=after,
        max_page_size=max_page_size,
    )
