"""Records of who did what, when and why, filled by convention (``workflows/engine/common.py: stamped``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel

from workflows.engine.common import stamped, take_params
from workflows.engine.messages import Message
from workflows.engine.reminders import Reminders
from workflows.engine.spec import Context, Params

NOW = datetime(2026, 3, 1, tzinfo=UTC)


class Hold(BaseModel):
    """A parcel held at customs: who held it, until when and why."""

    until: datetime
    held_at: datetime
    released_at: datetime | None = None
    days: int
    released_by: str | None = None
    reason: str
    held_by: str


class HoldParams(Params):
    days: int


class Box(BaseModel):
    days: int = 0
    label: str = "unchanged"


class BoxPolicy(BaseModel):
    pass


def context(params: BaseModel | None, reason: str | None = "customs") -> Context[Box, BoxPolicy, BaseModel]:
    return Context(
        kind="box",
        entity_id="b1",
        state="WAITING",
        data=Box(),
        policy=BoxPolicy(),
        now=NOW,
        opened_at=NOW,
        state_entered_at=NOW,
        seq=1,
        actor="ann",
        reason=reason,
        params=params,
    )


def test_a_record_takes_the_actor_the_moment_the_reason_and_the_params_by_name():
    hold = stamped(Hold, context(HoldParams(days=3)), until=NOW + timedelta(days=3))
    assert hold == Hold(held_by="ann", held_at=NOW, reason="customs", days=3, until=NOW + timedelta(days=3))


def test_values_given_win_and_optional_moments_stay_unset():
    hold = stamped(Hold, context(HoldParams(days=3), reason=None), held_by="bo", until=NOW, days=1)
    assert (hold.held_by, hold.reason, hold.days, hold.released_by, hold.released_at) == ("bo", "", 1, None, None)


class Delivery(BaseModel):
    """A record whose who and when are named plainly."""

    days: int
    by: str
    at: datetime


def test_a_record_named_plainly_by_and_at_takes_the_actor_and_the_moment():
    assert stamped(Delivery, context(HoldParams(days=2))) == Delivery(days=2, by="ann", at=NOW)


def test_a_record_missing_what_no_convention_fills_is_refused():
    with pytest.raises(ValueError, match="until"):
        stamped(Hold, context(HoldParams(days=3)))


def test_take_params_sets_only_the_fields_the_params_name():
    ctx = context(HoldParams(days=4))
    take_params(ctx)
    assert ctx.data == Box(days=4, label="unchanged")


def test_a_reminder_says_whom_it_goes_to_and_when_it_runs_unless_its_kind_does():
    remind = Reminders[Box, BoxPolicy](lambda ctx: {})
    with pytest.raises(ValueError, match="nudge"):
        remind("nudge", "Nudge.", Message(subject="s", body="b"), due=lambda ctx: NOW)
    defaults = Reminders[Box, BoxPolicy](lambda ctx: {}, states=("WAITING",), to=lambda ctx: ["ann"])
    timer = defaults("nudge", "Nudge.", Message(subject="s", body="b"), due=lambda ctx: NOW)
    assert (timer.states, [e.recipients(context(None)) for e in timer.effects]) == (("WAITING",), [["ann"]])
