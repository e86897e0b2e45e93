"""one history again: the lifecycle tables, deliveries and billing events were added side by side

Revision ID: 0008
Revises: trial_0001, renewal_0001, handover_0001, late_payment_0001, deliveries_0001, billing_events_0001
Create Date: 2026-11-22 13:10:00
"""

from collections.abc import Sequence

revision: str = "0008"
down_revision: str | tuple[str, ...] | None = (
    "trial_0001",
    "renewal_0001",
    "handover_0001",
    "late_payment_0001",
    "deliveries_0001",
    "billing_events_0001",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
