"""Ids the service makes for kinds numbered per account (``Exposure.account_numbered`` and
``Exposure.per_account``): ``<account id>/<n>``, n counting the account's instances of the
kind, one open at a time.

The read model knows the account's instances; two openings racing past the check compute
the same id, so Temporal refuses the second. A ``lifecycle.start`` delivery retried after
it opened one finds that one open and opens nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.models import LifecycleRow
from workflows.engine.errors import AlreadyExists
from workflows.registry import SPECS


@dataclass(frozen=True)
class AccountInstances:
    """An account's instances of one kind: the open one (if any, with its state) and how many it ever had."""

    open_id: str | None
    open_state: str | None
    count: int

    @property
    def next_id_suffix(self) -> int:
        return self.count + 1


async def account_instances(session: AsyncSession, kind: str, account_id: str) -> AccountInstances:
    rows = (
        await session.execute(
            sa.select(col(LifecycleRow.entity_id), col(LifecycleRow.state), col(LifecycleRow.terminal)).where(
                col(LifecycleRow.kind) == kind, col(LifecycleRow.account_id) == account_id
            )
        )
    ).all()
    still_open = sorted((entity_id, state) for entity_id, state, terminal in rows if not terminal)
    open_id, open_state = still_open[0] if still_open else (None, None)
    return AccountInstances(open_id=open_id, open_state=open_state, count=len(rows))


async def next_account_numbered_id(session: AsyncSession, kind: str, account_id: str) -> str:
    """``<account id>/<n>`` for the account's next instance of ``kind``; AlreadyExists while one is open."""
    instances = await account_instances(session, kind, account_id)
    if instances.open_id is not None:
        title = SPECS[kind].title
        raise AlreadyExists(
            f"{title} {instances.open_id} of account {account_id!r} is still open ({instances.open_state})."
        )
    return f"{account_id}/{instances.next_id_suffix}"
