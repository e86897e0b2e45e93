"""the trial read model as derived from its exposure: an index per sort order and filter, owner optional

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 11:50:42.219619
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("trials", schema=None) as batch_op:
        batch_op.alter_column("owner", existing_type=sa.VARCHAR(length=200), nullable=True)
        batch_op.drop_index(batch_op.f("ix_trials_expires"))
        batch_op.drop_index(batch_op.f("ix_trials_organization_expires"))
        batch_op.drop_index(batch_op.f("ix_trials_owner_expires"))
        batch_op.drop_index(batch_op.f("ix_trials_state_expires"))
        batch_op.create_index("ix_trials_expires_at", ["expires_at", "workflow_id"], unique=False)
        batch_op.create_index(
            "ix_trials_organization_id_expires_at", ["organization_id", "expires_at", "workflow_id"], unique=False
        )
        batch_op.create_index("ix_trials_owner_expires_at", ["owner", "expires_at", "workflow_id"], unique=False)
        batch_op.create_index("ix_trials_state_expires_at", ["state", "expires_at", "workflow_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("trials", schema=None) as batch_op:
        batch_op.drop_index("ix_trials_state_expires_at")
        batch_op.drop_index("ix_trials_owner_expires_at")
        batch_op.drop_index("ix_trials_organization_id_expires_at")
        batch_op.drop_index("ix_trials_expires_at")
        batch_op.create_index(
            batch_op.f("ix_trials_state_expires"), ["state", "expires_at", "workflow_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_trials_owner_expires"), ["owner", "expires_at", "workflow_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_trials_organization_expires"), ["organization_id", "expires_at", "workflow_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_trials_expires"), ["expires_at", "workflow_id"], unique=False)
        batch_op.alter_column("owner", existing_type=sa.VARCHAR(length=200), nullable=False)
