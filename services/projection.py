"""Writing a lifecycle's changes into the read model, idempotently.

A batch (snapshot + transitions + effects) is written in one transaction. The
lifecycle rows are replaced only by a snapshot with a higher sequence number, so a
retried or reordered write never moves a row backwards; transitions and effects are
keyed (workflow id + seq, effect id) and inserted at most once.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from services.handover import HandoverRow, project_handover
from services.late_payment import LatePaymentRow, project_late_payment
from services.models import EffectRow, EffectStatus, LifecycleRow, TransitionRow
from services.opportunity import OpportunityRow, project_opportunity
from services.renewal import RenewalRow, project_renewal
from services.trial import TrialRow, project_trial
from workflows.engine.types import LifecycleSnapshot, ProjectionBatch

# Per-kind typed tables: kind -> (table, snapshot -> row values). Each must have a
# ``workflow_id`` primary key and a ``seq`` column.
PROJECTORS: dict[str, tuple[type[SQLModel], Callable[[LifecycleSnapshot], dict[str, Any]]]] = {
    "opportunity": (OpportunityRow, project_opportunity),
    "trial": (TrialRow, project_trial),
    "late-payment": (LatePaymentRow, project_late_payment),
    "handover": (HandoverRow, project_handover),
    "renewal": (RenewalRow, project_renewal),
}


def insert_for(session: AsyncSession, table: type[SQLModel]) -> Any:
    """An INSERT with ON CONFLICT support on the session's dialect (SQLite or PostgreSQL)."""
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table.__table__)  # type: ignore[attr-defined]


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind else "sqlite"


# The projection runs inside every transition (a local activity the update waits for),
# so its statements are built once per dialect, table and column set, and executed with
# the row as parameters: building an upsert per call (``excluded`` makes a fresh alias of
# the table each time) cost more than the database write itself (docs/performance.md).
@lru_cache(maxsize=256)
def _upsert_newer_statement(dialect: str, table: type[SQLModel], keys: tuple[str, ...]) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    columns = table.__table__.c  # type: ignore[attr-defined]
    statement = module.insert(table.__table__)  # type: ignore[attr-defined]
    return statement.on_conflict_do_update(
        index_elements=[columns.workflow_id],
        set_={k: statement.excluded[k] for k in keys if k != "workflow_id"},
        where=columns.seq < statement.excluded.seq,
    )


@lru_cache(maxsize=64)
def _insert_once_statement(dialect: str, table: type[SQLModel], unique: tuple[str, ...]) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table.__table__).on_conflict_do_nothing(index_elements=list(unique))  # type: ignore[attr-defined]


@lru_cache(maxsize=4)
def _insert_transitions_statement(dialect: str) -> Any:
    """Transitions inserted at most once, answering the seqs this write added (metrics count only those)."""
    return _insert_once_statement(dialect, TransitionRow, ("workflow_id", "seq")).returning(
        TransitionRow.__table__.c.seq  # type: ignore[attr-defined]
    )


async def _upsert_newer(session: AsyncSession, table: type[SQLModel], values: dict[str, Any]) -> None:
    await session.execute(_upsert_newer_statement(_dialect(session), table, tuple(values)), values)


def lifecycle_values(snapshot: LifecycleSnapshot) -> dict[str, Any]:
    return {
        "workflow_id": snapshot.workflow_id,
        "kind": snapshot.kind,
        "entity_id": snapshot.entity_id,
        "state": snapshot.state,
        "terminal": snapshot.terminal,
        "seq": snapshot.seq,
        "owner": snapshot.owner,
        "account_id": snapshot.account_id,
        "account_name": snapshot.account_name,
        "summary": snapshot.summary[:500],
        "opened_at": snapshot.opened_at,
        "state_entered_at": snapshot.state_entered_at,
        "updated_at": snapshot.updated_at,
        "closed_at": snapshot.closed_at,
        "next_deadline": snapshot.next_deadline,
        "data": snapshot.data,
        "policy": snapshot.policy,
        "deadlines": [d.model_dump(mode="json") for d in snapshot.deadlines],
    }


async def apply_projection(*, session: AsyncSession, batch: ProjectionBatch) -> set[int]:
    """Write the batch; answers the seqs of the transitions it added (none already there)."""
    snapshot = batch.snapshot
    added: set[int] = set()
    await _upsert_newer(session, LifecycleRow, lifecycle_values(snapshot))
    projector = PROJECTORS.get(snapshot.kind)
    if projector is not None:
        table, values = projector
        await _upsert_newer(session, table, values(snapshot))
    if batch.transitions:
        inserted = await session.execute(
            _insert_transitions_statement(_dialect(session)),
            [
                {
                    "workflow_id": snapshot.workflow_id,
                    "seq": t.seq,
                    "kind": snapshot.kind,
                    "entity_id": snapshot.entity_id,
                    "trigger": t.trigger,
                    "from_state": t.from_state,
                    "to_state": t.to_state,
                    "actor": t.actor,
                    "reason": t.reason,
                    "at": t.at,
                    "params": t.params,
                    "idempotency_key": t.idempotency_key,
                }
                for t in batch.transitions
            ],
        )
        added = set(inserted.scalars())
    if batch.effects:
        await session.execute(
            _insert_once_statement(_dialect(session), EffectRow, ("id",)),
            [
                {
                    "id": e.id,
                    "workflow_id": snapshot.workflow_id,
                    "seq": e.seq,
                    "kind": snapshot.kind,
                    "entity_id": snapshot.entity_id,
                    "type": e.type,
                    "name": e.name,
                    "recipients": e.recipients,
                    "payload": e.payload,
                    "created_at": e.at,
                    "status": EffectStatus.PENDING,
                    "attempts": 0,
                }
                for e in batch.effects
            ],
        )
    return added


async def current_seq(session: AsyncSession, workflow_id: str) -> int | None:
    result = await session.execute(sa.select(col(LifecycleRow.seq)).where(col(LifecycleRow.workflow_id) == workflow_id))
    return result.scalar_one_or_none()
