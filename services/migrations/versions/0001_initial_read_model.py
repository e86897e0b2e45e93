"""read model: lifecycles, transitions, outbox, opportunities

Revision ID: 0001
Revises:
Create Date: 2026-11-22 10:31:46.860336
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import services.models


revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('lifecycle_transitions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workflow_id', sqlmodel.sql.sqltypes.AutoString(length=250), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.Column('entity_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('trigger', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('from_state', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('to_state', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('at', services.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('idempotency_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('workflow_id', 'seq', name='uq_lifecycle_transitions_workflow_seq')
    )
    with op.batch_alter_table('lifecycle_transitions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lifecycle_transitions_at'), ['at'], unique=False)

    op.create_table('lifecycles',
    sa.Column('workflow_id', sqlmodel.sql.sqltypes.AutoString(length=250), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.Column('entity_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('terminal', sa.Boolean(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('account_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('account_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('summary', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('opened_at', services.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('state_entered_at', services.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', services.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', services.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('next_deadline', services.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('policy', sa.JSON(), nullable=False),
    sa.Column('deadlines', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('workflow_id')
    )
    with op.batch_alter_table('lifecycles', schema=None) as batch_op:
        batch_op.create_index('ix_lifecycles_account_kind', ['account_id', 'kind'], unique=False)
        batch_op.create_index('ix_lifecycles_kind_state', ['kind', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_lifecycles_next_deadline'), ['next_deadline'], unique=False)
        batch_op.create_index('ix_lifecycles_owner_kind', ['owner', 'kind'], unique=False)

    op.create_table('opportunities',
    sa.Column('workflow_id', sqlmodel.sql.sqltypes.AutoString(length=250), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('stage', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('pipeline', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('record_type', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('plan_type', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('forecast_category', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('account_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('arr_cents', sa.BigInteger(), nullable=False),
    sa.Column('close_date', sa.Date(), nullable=False),
    sa.Column('updated_at', services.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('workflow_id')
    )
    with op.batch_alter_table('opportunities', schema=None) as batch_op:
        batch_op.create_index('ix_opportunities_account_close', ['account_id', 'close_date', 'workflow_id'], unique=False)
        batch_op.create_index('ix_opportunities_amount', ['amount_cents', 'workflow_id'], unique=False)
        batch_op.create_index('ix_opportunities_close', ['close_date', 'workflow_id'], unique=False)
        batch_op.create_index('ix_opportunities_forecast', ['forecast_category', 'close_date', 'workflow_id'], unique=False)
        batch_op.create_index('ix_opportunities_owner_close', ['owner', 'close_date', 'workflow_id'], unique=False)
        batch_op.create_index('ix_opportunities_record_type', ['record_type', 'close_date', 'workflow_id'], unique=False)
        batch_op.create_index('ix_opportunities_stage_close', ['stage', 'close_date', 'workflow_id'], unique=False)
        batch_op.create_index('ix_opportunities_updated', ['updated_at', 'workflow_id'], unique=False)

    op.create_table('outbox_effects',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('workflow_id', sqlmodel.sql.sqltypes.AutoString(length=250), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.Column('entity_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('type', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('recipients', sa.JSON(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', services.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('delivered_at', services.models.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('outbox_effects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_effects_status'), ['status'], unique=False)
        batch_op.create_index('ix_outbox_effects_workflow_seq', ['workflow_id', 'seq'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('outbox_effects', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_effects_workflow_seq')
        batch_op.drop_index(batch_op.f('ix_outbox_effects_status'))

    op.drop_table('outbox_effects')
    with op.batch_alter_table('opportunities', schema=None) as batch_op:
        batch_op.drop_index('ix_opportunities_updated')
        batch_op.drop_index('ix_opportunities_stage_close')
        batch_op.drop_index('ix_opportunities_record_type')
        batch_op.drop_index('ix_opportunities_owner_close')
        batch_op.drop_index('ix_opportunities_forecast')
        batch_op.drop_index('ix_opportunities_close')
        batch_op.drop_index('ix_opportunities_amount')
        batch_op.drop_index('ix_opportunities_account_close')

    op.drop_table('opportunities')
    with op.batch_alter_table('lifecycles', schema=None) as batch_op:
        batch_op.drop_index('ix_lifecycles_owner_kind')
        batch_op.drop_index(batch_op.f('ix_lifecycles_next_deadline'))
        batch_op.drop_index('ix_lifecycles_kind_state')
        batch_op.drop_index('ix_lifecycles_account_kind')

    op.drop_table('lifecycles')
    with op.batch_alter_table('lifecycle_transitions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lifecycle_transitions_at'))

    op.drop_table('lifecycle_transitions')
