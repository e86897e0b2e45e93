"""idempotency keys the service makes (a fan-out's effect id and target) fit their column

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 09:30:00
"""

from collections.abc import Sequence

import sqlmodel
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("lifecycle_transitions") as batch:
        batch.alter_column(
            "idempotency_key",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=200),
            type_=sqlmodel.sql.sqltypes.AutoString(length=1000),
            existing_nullable=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("lifecycle_transitions") as batch:
        batch.alter_column(
            "idempotency_key",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=1000),
            type_=sqlmodel.sql.sqltypes.AutoString(length=200),
            existing_nullable=True,
        )
