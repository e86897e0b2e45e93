"""late payments: the typed read model of unpaid invoices

Revision ID: late_payment_0001
Revises: 0001
Create Date: 2026-11-22 11:26:59.416496
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import services.models


revision: str = 'late_payment_0001'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('late_payments',
    sa.Column('workflow_id', sqlmodel.sql.sqltypes.AutoString(length=250), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('account_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('owed_cents', sa.BigInteger(), nullable=False),
    sa.Column('access_suspended', sa.Boolean(), nullable=False),
    sa.Column('collection_method', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('day_zero', services.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deadline_order', services.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', services.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('workflow_id')
    )
    with op.batch_alter_table('late_payments', schema=None) as batch_op:
        batch_op.create_index('ix_late_payments_account', ['account_id', 'deadline_order', 'workflow_id'], unique=False)
        batch_op.create_index('ix_late_payments_amount', ['amount_cents', 'workflow_id'], unique=False)
        batch_op.create_index('ix_late_payments_deadline', ['deadline_order', 'workflow_id'], unique=False)
        batch_op.create_index('ix_late_payments_owner_deadline', ['owner', 'deadline_order', 'workflow_id'], unique=False)
        batch_op.create_index('ix_late_payments_state_deadline', ['state', 'deadline_order', 'workflow_id'], unique=False)
        batch_op.create_index('ix_late_payments_updated', ['updated_at', 'workflow_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('late_payments', schema=None) as batch_op:
        batch_op.drop_index('ix_late_payments_updated')
        batch_op.drop_index('ix_late_payments_state_deadline')
        batch_op.drop_index('ix_late_payments_owner_deadline')
        batch_op.drop_index('ix_late_payments_deadline')
        batch_op.drop_index('ix_late_payments_amount')
        batch_op.drop_index('ix_late_payments_account')

    op.drop_table('late_payments')
