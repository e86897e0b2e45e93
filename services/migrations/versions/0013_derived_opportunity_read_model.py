"""the opportunity read model as derived from its exposure: an index per sort order and filter, owner optional

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 12:03:14.310552
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("opportunities", schema=None) as batch_op:
        batch_op.alter_column("owner", existing_type=sa.VARCHAR(length=200), nullable=True)
        batch_op.drop_index(batch_op.f("ix_opportunities_account_close"))
        batch_op.drop_index(batch_op.f("ix_opportunities_close"))
        batch_op.drop_index(batch_op.f("ix_opportunities_forecast"))
        batch_op.drop_index(batch_op.f("ix_opportunities_owner_close"))
        batch_op.drop_index(batch_op.f("ix_opportunities_record_type"))
        batch_op.drop_index(batch_op.f("ix_opportunities_stage_close"))
        batch_op.create_index(
            "ix_opportunities_account_id_close_date", ["account_id", "close_date", "workflow_id"], unique=False
        )
        batch_op.create_index("ix_opportunities_close_date", ["close_date", "workflow_id"], unique=False)
        batch_op.create_index(
            "ix_opportunities_forecast_category_close_date",
            ["forecast_category", "close_date", "workflow_id"],
            unique=False,
        )
        batch_op.create_index("ix_opportunities_owner_close_date", ["owner", "close_date", "workflow_id"], unique=False)
        batch_op.create_index(
            "ix_opportunities_record_type_close_date", ["record_type", "close_date", "workflow_id"], unique=False
        )
        batch_op.create_index("ix_opportunities_stage_close_date", ["stage", "close_date", "workflow_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("opportunities", schema=None) as batch_op:
        batch_op.drop_index("ix_opportunities_stage_close_date")
        batch_op.drop_index("ix_opportunities_record_type_close_date")
        batch_op.drop_index("ix_opportunities_owner_close_date")
        batch_op.drop_index("ix_opportunities_forecast_category_close_date")
        batch_op.drop_index("ix_opportunities_close_date")
        batch_op.drop_index("ix_opportunities_account_id_close_date")
        batch_op.create_index(
            batch_op.f("ix_opportunities_stage_close"), ["stage", "close_date", "workflow_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_opportunities_record_type"), ["record_type", "close_date", "workflow_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_opportunities_owner_close"), ["owner", "close_date", "workflow_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_opportunities_forecast"), ["forecast_category", "close_date", "workflow_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_opportunities_close"), ["close_date", "workflow_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_opportunities_account_close"), ["account_id", "close_date", "workflow_id"], unique=False
        )
        batch_op.alter_column("owner", existing_type=sa.VARCHAR(length=200), nullable=False)
