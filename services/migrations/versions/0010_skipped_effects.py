"""outbox: the reason an effect was recorded but not sent

Revision ID: 0010
Revises: lifecycles_updated_0001
Create Date: 2026-11-30 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | tuple[str, ...] | None = "lifecycles_updated_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_effects") as batch:
        batch.add_column(sa.Column("skipped_reason", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox_effects") as batch:
        batch.drop_column("skipped_reason")
