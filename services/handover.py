"""What the handover's read model has beyond its derived table (``services/derived.py``): the
facts its guards read, its ids, and the account view (an account's owner, open lifecycles and
handover history).

An account's current owner lives in the ``handovers`` table: the incoming owner of the
account's latest COMPLETED handover. Before any handover completes it is the outgoing
owner named by the latest handover request; with no handover at all it is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.derived import DERIVED
from services.models import LifecycleRow
from services.numbering import next_account_numbered_id
from services.pagination import Page, PageQuery, SortKey, read_page
from workflows.engine.types import LifecycleSnapshot
from workflows.handover import (
    ACCOUNT_ONBOARDING,
    KIND,
    LATE_PAYMENT_KIND,
    ONBOARDING_KIND,
    OPEN_LATE_PAYMENTS,
)

HANDOVERS = DERIVED[KIND]
# The derived table's columns, for the account view's queries.
COLUMNS = sa.inspect(HANDOVERS.table).local_table.c
# The completed exposure (the spec fills in what the declaration leaves out).
ACCOUNT_ID = next(c for c in HANDOVERS.exposure.columns if c.name == "account_id")


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


async def account_onboarding(session: AsyncSession, snapshot: LifecycleSnapshot) -> dict[str, Any]:
    """The account's latest onboarding lifecycle, if it has one: it says whether onboarding is complete."""
    latest = (
        await session.execute(
            sa.select(col(LifecycleRow.workflow_id), col(LifecycleRow.state))
            .where(col(LifecycleRow.kind) == ONBOARDING_KIND, col(LifecycleRow.account_id) == snapshot.account_id)
            .order_by(col(LifecycleRow.opened_at).desc(), col(LifecycleRow.workflow_id).desc())
            .limit(1)
        )
    ).one_or_none()
    return {ACCOUNT_ONBOARDING: {"workflow_id": latest[0], "state": latest[1]} if latest else None}


async def readiness_facts(session: AsyncSession, snapshot: LifecycleSnapshot) -> dict[str, Any]:
    """What READY's guards read beyond the handover: open late payments, the account's onboarding."""
    return {**await open_late_payments(session, snapshot), **await account_onboarding(session, snapshot)}


# Facts the handover's guards read (services/facts.py), by trigger.
FACTS = {"mark_ready": readiness_facts}


async def next_handover_id(session: AsyncSession, account_id: str) -> str:
    """``<account id>/<n>`` for the account's next handover; AlreadyExists while one is open."""
    return await next_account_numbered_id(session, KIND, account_id)


async def account_handovers(
    session: AsyncSession, account_id: str, *, first: int, after: str | None, max_page_size: int
) -> Page[sa.Row[Any]]:
    """The account's handovers, newest first."""
    return await session.run_sync(
        HANDOVERS.read_page,
        [(ACCOUNT_ID, account_id)],
        "OPENED_AT_DESC",
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
    c = COLUMNS
    completed = (
        await session.execute(
            sa.select(c.incoming_owner, c.completed_at, c.workflow_id)
            .where(c.account_id == account_id, c.completed_at.is_not(None))
            .order_by(c.completed_at.desc())
            .limit(1)
        )
    ).one_or_none()
    if completed is not None and completed.incoming_owner is not None:
        return AccountOwner(completed.incoming_owner, completed.completed_at, completed.workflow_id)
    requested = (
        await session.execute(
            sa.select(c.outgoing_owner, c.workflow_id)
            .where(c.account_id == account_id)
            .order_by(c.opened_at.desc())
            .limit(1)
        )
    ).one_or_none()
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
    page = await session.run_sync(
        read_page,
        PageQuery.of(statement, [SortKey(col(LifecycleRow.opened_at)), SortKey(col(LifecycleRow.workflow_id))]),
        key_of=lambda row: (row[0].opened_at, row[0].workflow_id),
        first=first,
        after=after,
        max_page_size=max_page_size,
    )
    page.items = [row[0] for row in page.items]
    return page
