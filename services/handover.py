"""The handover read model: typed columns for its lists, its cross-lifecycle facts, and the
account view (an account's owner, open lifecycles and handover history).

An account's current owner lives in the ``handovers`` table: the incoming owner of the
account's latest COMPLETED handover. Before any handover completes it is the outgoing
owner named by the latest handover request; with no handover at all it is unknown.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from services.models import LifecycleRow, ReadModel, utc_column
from services.pagination import Page, SortKey, paginate
from services.read_model import lifecycle_page
from workflows.engine.errors import AlreadyExists
from workflows.engine.types import LifecycleSnapshot
from workflows.engine.values import ACCOUNT_ID_MAX_LENGTH, PERSON_MAX_LENGTH, WORKFLOW_ID_MAX_LENGTH
from workflows.handover import (
    KIND,
    LATE_PAYMENT_KIND,
    OPEN_LATE_PAYMENTS,
    HandoverData,
    HandoverPolicy,
    HandoverState,
    follow_up_due,
)


class HandoverRow(SQLModel, table=True):
    __tablename__ = "handovers"
    __table_args__ = (
        sa.Index("ix_handovers_opened", "opened_at", "workflow_id"),
        sa.Index("ix_handovers_updated", "updated_at", "workflow_id"),
        sa.Index("ix_handovers_account_opened", "account_id", "opened_at", "workflow_id"),
        sa.Index("ix_handovers_account_completed", "account_id", "completed_at"),
        sa.Index("ix_handovers_state_opened", "state", "opened_at", "workflow_id"),
        sa.Index("ix_handovers_outgoing_opened", "outgoing_owner", "opened_at", "workflow_id"),
        sa.Index("ix_handovers_incoming_opened", "incoming_owner", "opened_at", "workflow_id"),
        sa.Index("ix_handovers_region_opened", "region", "opened_at", "workflow_id"),
        sa.Index("ix_handovers_follow_up_due", "follow_up_due_at"),
    )

    workflow_id: str = Field(primary_key=True, max_length=WORKFLOW_ID_MAX_LENGTH)
    seq: int
    account_id: str = Field(max_length=ACCOUNT_ID_MAX_LENGTH)
    state: str = Field(max_length=60)
    reason: str = Field(max_length=60)
    outgoing_owner: str = Field(max_length=PERSON_MAX_LENGTH)
    incoming_owner: str | None = Field(default=None, max_length=PERSON_MAX_LENGTH)
    team: str | None = Field(default=None, max_length=10)
    region: str | None = Field(default=None, max_length=10)
    # When the incoming owner's follow-ups are due, while any is missing.
    follow_up_due_at: datetime | None = utc_column(nullable=True)
    opened_at: datetime = utc_column()
    completed_at: datetime | None = utc_column(nullable=True)
    updated_at: datetime = utc_column()


def project_handover(snapshot: LifecycleSnapshot) -> dict[str, Any]:
    data = HandoverData.model_validate(snapshot.data)
    return {
        "workflow_id": snapshot.workflow_id,
        "seq": snapshot.seq,
        "account_id": data.account.id,
        "state": snapshot.state,
        "reason": data.reason,
        "outgoing_owner": data.owner,
        "incoming_owner": data.incoming_owner,
        "team": data.team,
        "region": data.region,
        "follow_up_due_at": follow_up_due(data, HandoverPolicy.model_validate(snapshot.policy)),
        "opened_at": snapshot.opened_at,
        "completed_at": snapshot.closed_at if snapshot.state == HandoverState.COMPLETED else None,
        "updated_at": snapshot.updated_at,
    }


READ_MODEL = ReadModel(HandoverRow, project_handover)


async def open_late_payments(session: AsyncSession, snapshot: LifecycleSnapshot) -> dict[str, Any]:
    """The account's open late-payment lifecycles: unpaid invoices block the handover (004:2413)."""
    rows = await session.execute(
        sa.select(col(LifecycleRow.workflow_id), col(LifecycleRow.state), col(LifecycleRow.summary))
        .where(
            col(LifecycleRow.kind) == LATE_PAYMENT_KIND,
            col(LifecycleRow.account_id) == snapshot.account_id,
            col(LifecycleRow.terminal).is_(False),
        )
        .order_by(col(LifecycleRow.workflow_id))
    )
    return {
        OPEN_LATE_PAYMENTS: [
            {"workflow_id": workflow_id, "state": state, "summary": summary} for workflow_id, state, summary in rows
        ]
    }


# Facts the handover's guards read (services/facts.py), by trigger.
FACTS = {"mark_ready": open_late_payments}


async def next_handover_id(session: AsyncSession, account_id: str) -> str:
    """``<account id>/<n>`` for the account's next handover; AlreadyExists while one is open.

    Two requests racing past this check compute the same id, so Temporal refuses the second.
    """
    rows = (
        await session.execute(
            sa.select(col(LifecycleRow.entity_id), col(LifecycleRow.state), col(LifecycleRow.terminal)).where(
                col(LifecycleRow.kind) == KIND, col(LifecycleRow.account_id) == account_id
            )
        )
    ).all()
    still_open = [(entity_id, state) for entity_id, state, terminal in rows if not terminal]
    if still_open:
        entity_id, state = still_open[0]
        raise AlreadyExists(f"Handover {entity_id} of account {account_id!r} is still open ({state}).")
    return f"{account_id}/{len(rows) + 1}"


class HandoverOrder(enum.StrEnum):
    OPENED_AT_DESC = "OPENED_AT_DESC"
    UPDATED_AT_DESC = "UPDATED_AT_DESC"


ORDER_KEYS: dict[HandoverOrder, Any] = {
    HandoverOrder.OPENED_AT_DESC: col(HandoverRow.opened_at),
    HandoverOrder.UPDATED_AT_DESC: col(HandoverRow.updated_at),
}


@dataclass
class HandoverFilter:
    states: list[str] = field(default_factory=list)
    account_id: str | None = None
    outgoing_owner: str | None = None
    incoming_owner: str | None = None
    regions: list[str] = field(default_factory=list)
    # True: follow-ups past due and still missing; False: everything else.
    overdue_follow_up: bool | None = None


def _conditions(f: HandoverFilter, now: datetime) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if f.states:
        conditions.append(col(HandoverRow.state).in_(f.states))
    if f.account_id is not None:
        conditions.append(col(HandoverRow.account_id) == f.account_id)
    if f.outgoing_owner is not None:
        conditions.append(col(HandoverRow.outgoing_owner) == f.outgoing_owner)
    if f.incoming_owner is not None:
        conditions.append(col(HandoverRow.incoming_owner) == f.incoming_owner)
    if f.regions:
        conditions.append(col(HandoverRow.region).in_(f.regions))
    if f.overdue_follow_up is not None:
        overdue = col(HandoverRow.follow_up_due_at) <= now
        conditions.append(
            overdue if f.overdue_follow_up else sa.or_(col(HandoverRow.follow_up_due_at).is_(None), ~overdue)
        )
    return conditions


async def list_handovers(
    session: AsyncSession,
    f: HandoverFilter,
    order: HandoverOrder,
    *,
    now: datetime,
    first: int,
    after: str | None,
    max_page_size: int,
) -> Page[LifecycleRow]:
    """One page of handovers matching ``f``, newest first."""
    column = ORDER_KEYS[order]
    return await lifecycle_page(
        session,
        HandoverRow,
        _conditions(f, now),
        column,
        True,
        first=first,
        after=after,
        max_page_size=max_page_size,
    )


@dataclass(frozen=True)
class AccountOwner:
    owner: str
    # When a completed handover made them the owner; None when only a request names them.
    since: datetime | None
    handover_workflow_id: str


async def account_owner(session: AsyncSession, account_id: str) -> AccountOwner | None:
    """The account's current owner as the handovers know it (see the module docstring)."""
    completed = (
        await session.execute(
            sa.select(HandoverRow)
            .where(col(HandoverRow.account_id) == account_id, col(HandoverRow.completed_at).is_not(None))
            .order_by(col(HandoverRow.completed_at).desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if completed is not None and completed.incoming_owner is not None:
        return AccountOwner(completed.incoming_owner, completed.completed_at, completed.workflow_id)
    requested = (
        await session.execute(
            sa.select(HandoverRow)
            .where(col(HandoverRow.account_id) == account_id)
            .order_by(col(HandoverRow.opened_at).desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if requested is not None:
        return AccountOwner(requested.outgoing_owner, None, requested.workflow_id)
    return None


async def account_name(session: AsyncSession, account_id: str) -> str | None:
    """The account's name as its most recently updated lifecycle has it; None for an unknown account."""
    return (
        await session.execute(
            sa.select(col(LifecycleRow.account_name))
            .where(col(LifecycleRow.account_id) == account_id)
            .order_by(col(LifecycleRow.updated_at).desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def open_lifecycles(
    session: AsyncSession, account_id: str, *, first: int, after: str | None, max_page_size: int
) -> Page[LifecycleRow]:
    """The account's open lifecycles of every kind, oldest first."""
    statement = sa.select(LifecycleRow).where(
        col(LifecycleRow.account_id) == account_id, col(LifecycleRow.terminal).is_(False)
    )
    page = await paginate(
        session,
        statement,
        [SortKey(col(LifecycleRow.opened_at)), SortKey(col(LifecycleRow.workflow_id))],
        key_of=lambda row: (row[0].opened_at, row[0].workflow_id),
        first=first,
        after=after,
        max_page_size=max_page_size,
    )
    page.items = [row[0] for row in page.items]
    return page
