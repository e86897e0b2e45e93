"""lifecycles by last change: the generic list's order and the CLI's watch

Revision ID: lifecycles_updated_0001
Revises: 0008
Create Date: 2026-11-30 09:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "lifecycles_updated_0001"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("lifecycles", schema=None) as batch_op:
        batch_op.create_index("ix_lifecycles_updated", ["updated_at", "workflow_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("lifecycles", schema=None) as batch_op:
        batch_op.drop_index("ix_lifecycles_updated")
