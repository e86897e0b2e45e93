"""The read model's generic tables: one row per lifecycle, the audit log, the outbox.

Temporal is the source of truth; these tables exist so lists, filters and counts
never have to load workflows. Every write carries the lifecycle's sequence number
and never replaces a newer row with an older one (``services/projection.py``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

if TYPE_CHECKING:
    from workflows.engine.types import LifecycleSnapshot
from workflows.engine.values import (
    ACCOUNT_ID_MAX_LENGTH,
    ENTITY_ID_COLUMN_LENGTH,
    IDEMPOTENCY_KEY_COLUMN_LENGTH,
    NAME_MAX_LENGTH,
    PERSON_MAX_LENGTH,
    REASON_MAX_LENGTH,
    WORKFLOW_ID_MAX_LENGTH,
)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive text)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; give a timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_column(*, index: bool = False, nullable: bool = False) -> Any:
    return Field(sa_column=sa.Column(UTCDateTime(), index=index, nullable=nullable))


def json_column(*, nullable: bool = False) -> Any:
    return Field(sa_column=sa.Column(sa.JSON(), nullable=nullable))


class LifecycleRow(SQLModel, table=True):
    __tablename__ = "lifecycles"
    __table_args__ = (
        sa.Index("ix_lifecycles_kind_state", "kind", "state"),
        sa.Index("ix_lifecycles_account_kind", "account_id", "kind"),
        sa.Index("ix_lifecycles_owner_kind", "owner", "kind"),
        # The generic list's order and the CLI's watch (changes since a moment).
        sa.Index("ix_lifecycles_updated", "updated_at", "workflow_id"),
    )

    workflow_id: str = Field(primary_key=True, max_length=WORKFLOW_ID_MAX_LENGTH)
    kind: str = Field(max_length=50)
    entity_id: str = Field(max_length=ENTITY_ID_COLUMN_LENGTH)
    state: str = Field(max_length=60)
    terminal: bool = False
    seq: int
    owner: str | None = Field(default=None, max_length=PERSON_MAX_LENGTH)
    account_id: str | None = Field(default=None, max_length=ACCOUNT_ID_MAX_LENGTH)
    account_name: str | None = Field(default=None, max_length=NAME_MAX_LENGTH)
    summary: str = Field(default="", max_length=500)
    opened_at: datetime = utc_column()
    state_entered_at: datetime = utc_column()
    updated_at: datetime = utc_column()
    closed_at: datetime | None = utc_column(nullable=True)
    next_deadline: datetime | None = utc_column(index=True, nullable=True)
    data: dict[str, Any] = json_column()
    policy: dict[str, Any] = json_column()
    deadlines: list[dict[str, Any]] = json_column()


class RowCount(SQLModel, table=True):
    """A share of how many rows a list table holds, kept by its triggers (services/row_counts.py).

    A table's count is the sum of its slots: concurrent writers add to different slots,
    so they do not queue on one row.
    """

    __tablename__ = "row_counts"

    table_name: str = Field(primary_key=True, max_length=63)
    slot: int = Field(primary_key=True)
    row_count: int = Field(sa_type=sa.BigInteger)


class OfTransition(SQLModel):
    """The columns naming the transition a row comes from: its lifecycle's workflow, kind and id, and its seq."""

    workflow_id: str = Field(max_length=WORKFLOW_ID_MAX_LENGTH)
    seq: int
    kind: str = Field(max_length=50)
    entity_id: str = Field(max_length=ENTITY_ID_COLUMN_LENGTH)


class TransitionRow(OfTransition, table=True):
    __tablename__ = "lifecycle_transitions"
    __table_args__ = (sa.UniqueConstraint("workflow_id", "seq", name="uq_lifecycle_transitions_workflow_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    trigger: str = Field(max_length=60)
    from_state: str = Field(max_length=60)
    to_state: str = Field(max_length=60)
    actor: str = Field(max_length=PERSON_MAX_LENGTH)
    reason: str | None = Field(default=None, max_length=REASON_MAX_LENGTH)
    at: datetime = utc_column(index=True)
    params: dict[str, Any] = json_column()
    idempotency_key: str | None = Field(default=None, max_length=IDEMPOTENCY_KEY_COLUMN_LENGTH)


class ChangeRow(SQLModel, table=True):
    """The change feed: one row per change the projection wrote, in commit order, for the
    API's subscriptions (services/change_feed.py); pruned after the retention period."""

    __tablename__ = "lifecycle_changes"
    __table_args__ = (
        # A retried projection appends a transition's change once.
        sa.UniqueConstraint("workflow_id", "transition_seq", name="uq_lifecycle_changes_workflow_transition"),
        # Sequences are never reused, not even the newest one after a prune.
        {"sqlite_autoincrement": True},
    )

    sequence: int | None = Field(default=None, primary_key=True)
    workflow_id: str = Field(max_length=WORKFLOW_ID_MAX_LENGTH)
    kind: str = Field(max_length=50)
    entity_id: str = Field(max_length=ENTITY_ID_COLUMN_LENGTH)
    account_id: str | None = Field(default=None, max_length=ACCOUNT_ID_MAX_LENGTH)
    owner: str | None = Field(default=None, max_length=PERSON_MAX_LENGTH)
    # Null for a change that is not a transition (a timer that only sent effects).
    transition_seq: int | None = None
    at: datetime = utc_column(index=True)


class EffectStatus(enum.StrEnum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"
    # Decided, then not sent: a notice superseded by the step it announced (``skipped_reason``).
    SKIPPED = "SKIPPED"


class EffectRow(OfTransition, table=True):
    """The outbox: every side effect a transition decided, with its delivery state."""

    __tablename__ = "outbox_effects"
    __table_args__ = (sa.Index("ix_outbox_effects_workflow_seq", "workflow_id", "seq"),)

    id: str = Field(primary_key=True, max_length=300)
    type: str = Field(max_length=60)
    name: str = Field(max_length=100)
    recipients: list[str] = json_column()
    payload: dict[str, Any] = json_column()
    created_at: datetime = utc_column()
    status: EffectStatus = Field(
        default=EffectStatus.PENDING, sa_column=sa.Column(sa.String(20), nullable=False, index=True)
    )
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=2000)
    skipped_reason: str | None = Field(default=None, max_length=500)
    delivered_at: datetime | None = utc_column(nullable=True)


class EffectDeliveryRow(SQLModel, table=True):
    """One effect's delivery through one channel: an effect goes to each routed channel once."""

    __tablename__ = "effect_deliveries"

    effect_id: str = Field(primary_key=True, max_length=300)
    channel: str = Field(primary_key=True, max_length=100)
    status: EffectStatus = Field(default=EffectStatus.PENDING, sa_column=sa.Column(sa.String(20), nullable=False))
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=2000)
    delivered_at: datetime | None = utc_column(nullable=True)


@dataclass(frozen=True)
class ReadModel:
    """A kind's typed table beside ``lifecycles``, and how a snapshot becomes its row,
    as ``services/derived.py`` builds them from the kind's exposure.

    The table has a ``workflow_id`` primary key and a ``seq`` column.
    """

    table: type[SQLModel]
    project: Callable[[LifecycleSnapshot], dict[str, Any]]
