"""Text for people, rendered from templates with the pinned policy and the instance.

A lifecycle keeps its messages beside its spec as ``Message`` templates (``str.format``
fields) and one function computing every value a template may name from the context.
No number from the policy is written into the text: a duration overridden per
deployment or per instance changes what people are told, too.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from workflows.engine.spec import Context, DataT, EffectSpec, PolicyT, notice


@dataclass(frozen=True)
class Message:
    subject: str
    body: str

    def render(self, values: Mapping[str, object]) -> dict[str, str]:
        return {"subject": self.subject.format_map(values), "body": self.body.format_map(values)}


def send(
    name: str,
    description: str,
    message: Message,
    *,
    to: Callable[[Context[DataT, PolicyT]], Sequence[str]],
    values: Callable[[Context[DataT, PolicyT]], Mapping[str, object]],
    when: Callable[[Context[DataT, PolicyT]], bool] | None = None,
    extra: Callable[[Context[DataT, PolicyT]], Mapping[str, Any]] = lambda ctx: {},
    superseded_by_next_step: bool = False,
) -> EffectSpec[DataT, PolicyT]:
    """A ``notice`` whose subject and body are ``message`` rendered with ``values(ctx)``."""
    return notice(
        name,
        description,
        to=to,
        content=lambda ctx: {**message.render(values(ctx)), **extra(ctx)},
        when=when,
        superseded_by_next_step=superseded_by_next_step,
    )


def duration(span: timedelta) -> str:
    """A policy duration in words: "7 days", "1 day", "36 hours", "90 minutes"."""
    seconds = int(span.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"


def day(moment: datetime) -> str:
    """The date of ``moment`` as messages write it: "2027-03-09"."""
    return moment.date().isoformat()


def in_words(value: enum.StrEnum) -> str:
    """A member of an enum as people read it: ``SESSION_REPLAY`` -> "session replay"."""
    return value.replace("_", " ").lower()


def months(count: int) -> str:
    return f"{count} month{'' if count == 1 else 's'}"


def calendar_days_until(now: datetime, moment: datetime) -> int:
    return (moment.date() - now.date()).days


def when(now: datetime, moment: datetime) -> str:
    """When ``moment`` comes, as told at ``now``: "today", "tomorrow", "on 2027-03-09"."""
    return _in_days(now, moment, tomorrow="tomorrow", later=lambda days: f"on {moment.date().isoformat()}")


def within(now: datetime, moment: datetime) -> str:
    """The span until ``moment`` in calendar days: "in the next 7 calendar days", "by tomorrow", "today"."""
    return _in_days(now, moment, tomorrow="by tomorrow", later=lambda days: f"in the next {days} calendar days")


def _in_days(now: datetime, moment: datetime, *, tomorrow: str, later: Callable[[int], str]) -> str:
    days = calendar_days_until(now, moment)
    if days <= 0:
        return "today"
    return tomorrow if days == 1 else later(days)
