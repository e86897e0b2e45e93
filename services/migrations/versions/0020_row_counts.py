"""row counts: each list table's rows counted by triggers, for an unfiltered list's total (services/row_counts.py)

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30 23:31:18.897932
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from services import row_counts

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The list tables as of this migration (services.row_counts.counted_tables() then); a
# kind added later gets its counter in the migration creating its table.
LIST_TABLES = ("churn_risks", "handovers", "late_payments", "onboardings", "opportunities", "renewals", "trials")


def upgrade() -> None:
    op.create_table(
        "row_counts",
        sa.Column("table_name", sqlmodel.sql.sqltypes.AutoString(length=63), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("table_name", "slot"),
    )
    # Each counter starts from the rows its table holds now.
    for table_name in LIST_TABLES:
        op.create_row_counter(table_name)


def downgrade() -> None:
    for table_name in LIST_TABLES:
        op.drop_row_counter(table_name)
    row_counts.drop_functions(op.get_bind())
    op.drop_table("row_counts")
