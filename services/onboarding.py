"""What the onboarding's read model answers beyond its derived table: the specialists'
three-month logo retention over the onboardings that started in a period (004:12750)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.derived import DERIVED
from workflows.onboarding import KIND, OnboardingTrack

ONBOARDINGS = sa.inspect(DERIVED[KIND].table).local_table.c


@dataclass(frozen=True)
class Retention:
    started: int  # specialist onboardings won in the period
    retained: int  # still customers three months in
    churned: int  # churned within the three months
    undecided: int  # less than three months in, not churned


async def specialist_retention(session: AsyncSession, won_from: datetime, won_before: datetime) -> Retention:
    """Counts of the specialist track's onboardings won in ``[won_from, won_before)``, by their retention."""
    c = ONBOARDINGS
    rows = (
        await session.execute(
            sa.select(c.retained_three_months, sa.func.count())
            .where(c.track == OnboardingTrack.SPECIALIST.value, c.won_at >= won_from, c.won_at < won_before)
            .group_by(c.retained_three_months)
        )
    ).all()
    counts = {retained: count for retained, count in rows}
    retained, churned, undecided = counts.get(True, 0), counts.get(False, 0), counts.get(None, 0)
    return Retention(started=retained + churned + undecided, retained=retained, churned=churned, undecided=undecided)
