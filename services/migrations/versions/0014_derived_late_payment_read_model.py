"""the late-payment read model as derived from its exposure: an index per sort order and filter, state up to 60

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 12:04:41.941073
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("late_payments", schema=None) as batch_op:
        batch_op.alter_column(
            "state",
            existing_type=sa.VARCHAR(length=40),
            type_=sqlmodel.sql.sqltypes.AutoString(length=60),
            existing_nullable=False,
        )
        batch_op.drop_index(batch_op.f("ix_late_payments_account"))
        batch_op.drop_index(batch_op.f("ix_late_payments_deadline"))
        batch_op.drop_index(batch_op.f("ix_late_payments_owner_deadline"))
        batch_op.drop_index(batch_op.f("ix_late_payments_state_deadline"))
        batch_op.create_index(
            "ix_late_payments_account_id_deadline_order", ["account_id", "deadline_order", "workflow_id"], unique=False
        )
        batch_op.create_index("ix_late_payments_deadline_order", ["deadline_order", "workflow_id"], unique=False)
        batch_op.create_index(
            "ix_late_payments_owner_deadline_order", ["owner", "deadline_order", "workflow_id"], unique=False
        )
        batch_op.create_index(
            "ix_late_payments_state_deadline_order", ["state", "deadline_order", "workflow_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("late_payments", schema=None) as batch_op:
        batch_op.drop_index("ix_late_payments_state_deadline_order")
        batch_op.drop_index("ix_late_payments_owner_deadline_order")
        batch_op.drop_index("ix_late_payments_deadline_order")
        batch_op.drop_index("ix_late_payments_account_id_deadline_order")
        batch_op.create_index(
            batch_op.f("ix_late_payments_state_deadline"), ["state", "deadline_order", "workflow_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_late_payments_owner_deadline"), ["owner", "deadline_order", "workflow_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_late_payments_deadline"), ["deadline_order", "workflow_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_late_payments_account"), ["account_id", "deadline_order", "workflow_id"], unique=False
        )
        batch_op.alter_column(
            "state",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=60),
            type_=sa.VARCHAR(length=40),
            existing_nullable=False,
        )
