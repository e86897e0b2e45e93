"""handovers: the typed read model of account handovers

Revision ID: handover_0001
Revises: 0001
Create Date: 2026-11-22 11:30:01.999709
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import services.models


revision: str = 'handover_0001'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('handovers',
    sa.Column('workflow_id', sqlmodel.sql.sqltypes.AutoString(length=250), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('account_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('outgoing_owner', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('incoming_owner', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('team', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
    sa.Column('region', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
    sa.Column('follow_up_due_at', services.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('opened_at', services.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('completed_at', services.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', services.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('workflow_id')
    )
    with op.batch_alter_table('handovers', schema=None) as batch_op:
        batch_op.create_index('ix_handovers_account_completed', ['account_id', 'completed_at'], unique=False)
        batch_op.create_index('ix_handovers_account_opened', ['account_id', 'opened_at', 'workflow_id'], unique=False)
        batch_op.create_index('ix_handovers_follow_up_due', ['follow_up_due_at'], unique=False)
        batch_op.create_index('ix_handovers_incoming_opened', ['incoming_owner', 'opened_at', 'workflow_id'], unique=False)
        batch_op.create_index('ix_handovers_opened', ['opened_at', 'workflow_id'], unique=False)
        batch_op.create_index('ix_handovers_outgoing_opened', ['outgoing_owner', 'opened_at', 'workflow_id'], unique=False)
        batch_op.create_index('ix_handovers_region_opened', ['region', 'opened_at', 'workflow_id'], unique=False)
        batch_op.create_index('ix_handovers_state_opened', ['state', 'opened_at', 'workflow_id'], unique=False)
        batch_op.create_index('ix_handovers_updated', ['updated_at', 'workflow_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('handovers', schema=None) as batch_op:
        batch_op.drop_index('ix_handovers_updated')
        batch_op.drop_index('ix_handovers_state_opened')
        batch_op.drop_index('ix_handovers_region_opened')
        batch_op.drop_index('ix_handovers_outgoing_opened')
        batch_op.drop_index('ix_handovers_opened')
        batch_op.drop_index('ix_handovers_incoming_opened')
        batch_op.drop_index('ix_handovers_follow_up_due')
        batch_op.drop_index('ix_handovers_account_opened')
        batch_op.drop_index('ix_handovers_account_completed')

    op.drop_table('handovers')
