"""Policy values in the words people read, so a message states what the pinned policy says."""

from __future__ import annotations

from datetime import timedelta


def duration(span: timedelta) -> str:
    """A policy duration in words: "7 days", "1 day", "36 hours", "90 minutes"."""
    seconds = int(span.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"


def months(count: int) -> str:
    return f"{count} month{'' if count == 1 else 's'}"
