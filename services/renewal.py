"""The renewal list's filter that no one column answers: whether the early window is open today."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from services.derived import ListFilter
from workflows.renewal import UNDECIDED


def _early_window_open(columns: Any, wanted: bool) -> sa.ColumnElement[bool]:
    """The SQL form of ``workflows.renewal.early_window_open``, judged on today's date."""
    today = datetime.now(UTC).date()
    window = sa.and_(
        columns.state.in_([str(s) for s in UNDECIDED]),
        columns.on_prepaid_plan.is_(True),
        columns.early_renewal_last_day >= today,
    )
    return window if wanted else sa.not_(window)


FILTERS = (
    ListFilter(
        name="earlyWindowOpen",
        type=bool,
        description="A renewal signed today would (true) or would not (false) earn the early-renewal discount.",
        condition=_early_window_open,
    ),
)
