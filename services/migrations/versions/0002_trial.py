"""trials: the typed read model of trials

Revision ID: trial_0001
Revises: 0001
Create Date: 2026-11-22 11:32:10.223927
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import services.models


revision: str = 'trial_0001'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('trials',
    sa.Column('workflow_id', sqlmodel.sql.sqltypes.AutoString(length=250), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('organization_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('target', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('existing_paid_subscription', sa.Boolean(), nullable=False),
    sa.Column('subscription_missing_at_expiry', sa.Boolean(), nullable=False),
    sa.Column('expected_arr_cents', sa.BigInteger(), nullable=False),
    sa.Column('expires_at', services.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', services.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('workflow_id')
    )
    with op.batch_alter_table('trials', schema=None) as batch_op:
        batch_op.create_index('ix_trials_expires', ['expires_at', 'workflow_id'], unique=False)
        batch_op.create_index('ix_trials_organization_expires', ['organization_id', 'expires_at', 'workflow_id'], unique=False)
        batch_op.create_index('ix_trials_owner_expires', ['owner', 'expires_at', 'workflow_id'], unique=False)
        batch_op.create_index('ix_trials_state_expires', ['state', 'expires_at', 'workflow_id'], unique=False)
        batch_op.create_index('ix_trials_updated', ['updated_at', 'workflow_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('trials', schema=None) as batch_op:
        batch_op.drop_index('ix_trials_updated')
        batch_op.drop_index('ix_trials_state_expires')
        batch_op.drop_index('ix_trials_owner_expires')
        batch_op.drop_index('ix_trials_organization_expires')
        batch_op.drop_index('ix_trials_expires')

    op.drop_table('trials')
