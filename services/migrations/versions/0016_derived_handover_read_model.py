"""the handover read model as derived from its exposure: an index per sort order and filter, outgoing owner optional

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 12:04:17.859922
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("handovers", schema=None) as batch_op:
        batch_op.alter_column("outgoing_owner", existing_type=sa.VARCHAR(length=200), nullable=True)
        batch_op.drop_index(batch_op.f("ix_handovers_account_completed"))
        batch_op.drop_index(batch_op.f("ix_handovers_account_opened"))
        batch_op.drop_index(batch_op.f("ix_handovers_follow_up_due"))
        batch_op.drop_index(batch_op.f("ix_handovers_incoming_opened"))
        batch_op.drop_index(batch_op.f("ix_handovers_opened"))
        batch_op.drop_index(batch_op.f("ix_handovers_outgoing_opened"))
        batch_op.drop_index(batch_op.f("ix_handovers_region_opened"))
        batch_op.drop_index(batch_op.f("ix_handovers_state_opened"))
        batch_op.create_index(
            "ix_handovers_account_id_opened_at", ["account_id", "opened_at", "workflow_id"], unique=False
        )
        batch_op.create_index(
            "ix_handovers_follow_up_due_at_opened_at", ["follow_up_due_at", "opened_at", "workflow_id"], unique=False
        )
        batch_op.create_index(
            "ix_handovers_incoming_owner_opened_at", ["incoming_owner", "opened_at", "workflow_id"], unique=False
        )
        batch_op.create_index("ix_handovers_opened_at", ["opened_at", "workflow_id"], unique=False)
        batch_op.create_index(
            "ix_handovers_outgoing_owner_opened_at", ["outgoing_owner", "opened_at", "workflow_id"], unique=False
        )
        batch_op.create_index("ix_handovers_region_opened_at", ["region", "opened_at", "workflow_id"], unique=False)
        batch_op.create_index("ix_handovers_state_opened_at", ["state", "opened_at", "workflow_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("handovers", schema=None) as batch_op:
        batch_op.drop_index("ix_handovers_state_opened_at")
        batch_op.drop_index("ix_handovers_region_opened_at")
        batch_op.drop_index("ix_handovers_outgoing_owner_opened_at")
        batch_op.drop_index("ix_handovers_opened_at")
        batch_op.drop_index("ix_handovers_incoming_owner_opened_at")
        batch_op.drop_index("ix_handovers_follow_up_due_at_opened_at")
        batch_op.drop_index("ix_handovers_account_id_opened_at")
        batch_op.create_index(
            batch_op.f("ix_handovers_state_opened"), ["state", "opened_at", "workflow_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_handovers_region_opened"), ["region", "opened_at", "workflow_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_handovers_outgoing_opened"), ["outgoing_owner", "opened_at", "workflow_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_handovers_opened"), ["opened_at", "workflow_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_handovers_incoming_opened"), ["incoming_owner", "opened_at", "workflow_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_handovers_follow_up_due"), ["follow_up_due_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_handovers_account_opened"), ["account_id", "opened_at", "workflow_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_handovers_account_completed"), ["account_id", "completed_at"], unique=False
        )
        batch_op.alter_column("outgoing_owner", existing_type=sa.VARCHAR(length=200), nullable=False)
