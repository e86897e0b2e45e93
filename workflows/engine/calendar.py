"""Calendar arithmetic the handbook's rules are written in (months, calendar days)."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time


def add_months(day: date, months: int) -> date:
    """``day`` plus calendar months, clamped to the month's last day (Jan 31 + 1 = Feb 28)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def add_months_dt(moment: datetime, months: int) -> datetime:
    return datetime.combine(add_months(moment.date(), months), moment.timetz())


def start_of_day(day: date) -> datetime:
    """Midnight UTC at the start of ``day``: when a date-only deadline begins."""
    return datetime.combine(day, time(0, 0), tzinfo=UTC)
