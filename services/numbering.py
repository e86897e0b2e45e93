"""Ids the service makes for kinds numbered per account (``Exposure.account_numbered``):
``<account id>/<n>``, n counting the account's instances of the kind, one open at a time.

The read model knows the account's instances; two openings racing past the check compute
the same id, so Temporal refuses the second. A ``lifecycle.start`` delivery retried after
it opened one finds that one open and opens nothing more.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.models import LifecycleRow
from workflows.engine.errors import AlreadyExists
from workflows.registry import SPECS


async def next_account_numbered_id(session: AsyncSession, kind: str, account_id: str) -> str:
    """``<account id>/<n>`` for the account's next instance of ``kind``; AlreadyExists while one is open."""
    rows = (
        await session.execute(
            sa.select(col(LifecycleRow.entity_id), col(LifecycleRow.state), col(LifecycleRow.terminal)).where(
                col(LifecycleRow.kind) == kind, col(LifecycleRow.account_id) == account_id
            )
        )
    ).all()
    still_open = [(entity_id, state) for entity_id, state, terminal in rows if not terminal]
    if still_open:
        entity_id, state = still_open[0]
        title = SPECS[kind].title
        raise AlreadyExists(f"{title} {entity_id} of account {account_id!r} is still open ({state}).")
    return f"{account_id}/{len(rows) + 1}"
