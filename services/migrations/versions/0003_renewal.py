"""renewals: the typed read model of contract renewals

Revision ID: renewal_0001
Revises: 0001
Create Date: 2026-11-22 11:34:24.069429
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import services.models


revision: str = 'renewal_0001'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('renewals',
    sa.Column('workflow_id', sqlmodel.sql.sqltypes.AutoString(length=250), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('account_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=False),
    sa.Column('early_renewal_last_day', sa.Date(), nullable=False),
    sa.Column('on_prepaid_plan', sa.Boolean(), nullable=False),
    sa.Column('at_risk', sa.Boolean(), nullable=False),
    sa.Column('credit_amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('annual_spend_cents', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', services.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('workflow_id')
    )
    with op.batch_alter_table('renewals', schema=None) as batch_op:
        batch_op.create_index('ix_renewals_account_end', ['account_id', 'end_date', 'workflow_id'], unique=False)
        batch_op.create_index('ix_renewals_annual_spend', ['annual_spend_cents', 'workflow_id'], unique=False)
        batch_op.create_index('ix_renewals_at_risk_end', ['at_risk', 'end_date', 'workflow_id'], unique=False)
        batch_op.create_index('ix_renewals_early_renewal', ['early_renewal_last_day', 'workflow_id'], unique=False)
        batch_op.create_index('ix_renewals_end', ['end_date', 'workflow_id'], unique=False)
        batch_op.create_index('ix_renewals_owner_end', ['owner', 'end_date', 'workflow_id'], unique=False)
        batch_op.create_index('ix_renewals_state_end', ['state', 'end_date', 'workflow_id'], unique=False)
        batch_op.create_index('ix_renewals_updated', ['updated_at', 'workflow_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('renewals', schema=None) as batch_op:
        batch_op.drop_index('ix_renewals_updated')
        batch_op.drop_index('ix_renewals_state_end')
        batch_op.drop_index('ix_renewals_owner_end')
        batch_op.drop_index('ix_renewals_end')
        batch_op.drop_index('ix_renewals_early_renewal')
        batch_op.drop_index('ix_renewals_at_risk_end')
        batch_op.drop_index('ix_renewals_annual_spend')
        batch_op.drop_index('ix_renewals_account_end')

    op.drop_table('renewals')
