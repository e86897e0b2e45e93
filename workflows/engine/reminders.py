"""Reminders: timers that send one message and change nothing else.

A reminder is described once: what its timer says it does (on the reference page, in
the deadlines, as the reason of its firing) is also the description of the message it
sends. The same values render the lifecycle's other messages (``send``), those its
transitions and states send.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic

from workflows.engine.messages import Message, send
from workflows.engine.spec import Context, DataT, EffectSpec, PolicyT, TimerSpec


@dataclass(frozen=True)
class Reminders(Generic[DataT, PolicyT]):
    """Makes a lifecycle's reminder timers; every message is rendered with its ``values``.

    ``states`` and ``to``, when given, are what a reminder declaring none runs in and is sent to.
    """

    values: Callable[[Context[DataT, PolicyT]], Mapping[str, object]]
    states: tuple[str, ...] = ()
    to: Callable[[Context[DataT, PolicyT]], Sequence[str]] | None = None

    def __call__(
        self,
        name: str,
        description: str,
        message: Message,
        *,
        due: Callable[[Context[DataT, PolicyT]], datetime | None],
        states: tuple[str, ...] = (),
        to: Callable[[Context[DataT, PolicyT]], Sequence[str]] | None = None,
        source_ref: str = "",
        effect: str = "",
    ) -> TimerSpec[DataT, PolicyT]:
        """While in ``states``, at ``due``: send ``message`` to ``to``, as the effect ``effect`` (default: ``name``)."""
        recipients = to or self.to
        if recipients is None or not (states or self.states):
            raise ValueError(f"reminder {name}: say whom it goes to and in which states it runs")
        sent = self.send(effect or name, description, message, to=recipients)
        return TimerSpec(
            name=name,
            states=states or self.states,
            due=due,
            description=description,
            effects=(sent,),
            source_ref=source_ref,
        )

    def send(
        self,
        name: str,
        description: str,
        message: Message,
        *,
        to: Callable[[Context[DataT, PolicyT]], Sequence[str]],
        when: Callable[[Context[DataT, PolicyT]], bool] | None = None,
        superseded_by_next_step: bool = False,
    ) -> EffectSpec[DataT, PolicyT]:
        """The effect ``name``: ``message`` rendered with the lifecycle's values, sent to ``to`` (if ``when``)."""
        return send(
            name,
            description,
            message,
            to=to,
            values=self.values,
            when=when,
            superseded_by_next_step=superseded_by_next_step,
        )
