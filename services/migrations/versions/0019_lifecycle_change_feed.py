"""lifecycle change feed: the sequence of changes the API's subscriptions read (services/change_feed.py)

Revision ID: 0019
Revises: 0016
Create Date: 2026-11-30 14:53:18.847628
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import services.models


revision: str = "0019"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lifecycle_changes",
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("workflow_id", sqlmodel.sql.sqltypes.AutoString(length=250), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("entity_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("account_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("transition_seq", sa.Integer(), nullable=True),
        sa.Column("at", services.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sequence"),
        sa.UniqueConstraint("workflow_id", "transition_seq", name="uq_lifecycle_changes_workflow_transition"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("lifecycle_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lifecycle_changes_at"), ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("lifecycle_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lifecycle_changes_at"))

    op.drop_table("lifecycle_changes")
