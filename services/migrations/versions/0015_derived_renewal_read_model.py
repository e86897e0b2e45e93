"""the renewal read model as derived from its exposure: an index per sort order and filter, owner optional

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 12:03:17.882896
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("renewals", schema=None) as batch_op:
        batch_op.alter_column("owner", existing_type=sa.VARCHAR(length=200), nullable=True)
        batch_op.drop_index(batch_op.f("ix_renewals_account_end"))
        batch_op.drop_index(batch_op.f("ix_renewals_at_risk_end"))
        batch_op.drop_index(batch_op.f("ix_renewals_early_renewal"))
        batch_op.drop_index(batch_op.f("ix_renewals_end"))
        batch_op.drop_index(batch_op.f("ix_renewals_owner_end"))
        batch_op.drop_index(batch_op.f("ix_renewals_state_end"))
        batch_op.create_index(
            "ix_renewals_account_id_end_date", ["account_id", "end_date", "workflow_id"], unique=False
        )
        batch_op.create_index("ix_renewals_at_risk_end_date", ["at_risk", "end_date", "workflow_id"], unique=False)
        batch_op.create_index(
            "ix_renewals_early_renewal_last_day_end_date",
            ["early_renewal_last_day", "end_date", "workflow_id"],
            unique=False,
        )
        batch_op.create_index("ix_renewals_end_date", ["end_date", "workflow_id"], unique=False)
        batch_op.create_index("ix_renewals_owner_end_date", ["owner", "end_date", "workflow_id"], unique=False)
        batch_op.create_index("ix_renewals_state_end_date", ["state", "end_date", "workflow_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("renewals", schema=None) as batch_op:
        batch_op.drop_index("ix_renewals_state_end_date")
        batch_op.drop_index("ix_renewals_owner_end_date")
        batch_op.drop_index("ix_renewals_end_date")
        batch_op.drop_index("ix_renewals_early_renewal_last_day_end_date")
        batch_op.drop_index("ix_renewals_at_risk_end_date")
        batch_op.drop_index("ix_renewals_account_id_end_date")
        batch_op.create_index(batch_op.f("ix_renewals_state_end"), ["state", "end_date", "workflow_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_renewals_owner_end"), ["owner", "end_date", "workflow_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_renewals_end"), ["end_date", "workflow_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_renewals_early_renewal"), ["early_renewal_last_day", "workflow_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_renewals_at_risk_end"), ["at_risk", "end_date", "workflow_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_renewals_account_end"), ["account_id", "end_date", "workflow_id"], unique=False
        )
        batch_op.alter_column("owner", existing_type=sa.VARCHAR(length=200), nullable=False)
