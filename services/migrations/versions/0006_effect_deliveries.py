"""effect deliveries: one row per effect and channel

Revision ID: deliveries_0001
Revises: 0001
Create Date: 2026-11-22 12:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import services.models

revision: str = "deliveries_0001"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "effect_deliveries",
        sa.Column("effect_id", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("delivered_at", services.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("effect_id", "channel"),
    )


def downgrade() -> None:
    op.drop_table("effect_deliveries")
