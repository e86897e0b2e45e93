"""Checklists ticked off one item at a time, each with who recorded it, when and a note.

A kind names its items with an enum and declares, once, each item's label and the
handbook line it comes from. The ``Checklist`` then gives what every such checklist
needs: the state's exit criteria, the trigger recording an item (the last one may move
the lifecycle on), its params model, and the status of every item as the API shows it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import replace
from datetime import datetime
from types import GenericAlias
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, Field, create_model

from workflows.engine.common import stamped
from workflows.engine.messages import day
from workflows.engine.spec import ChecklistItem, Context, DataT, Params, PolicyT, TransitionSpec

ItemT = TypeVar("ItemT", bound=enum.Enum)


class Recorded(BaseModel):
    """Who recorded a checklist item done, when, and what they noted."""

    recorded_by: str
    recorded_at: datetime
    note: str | None = None


class Checklist(Generic[ItemT, DataT, PolicyT]):
    """The items of ``items`` (item -> (label, source)), recorded in ``records(data)``.

    The params model (``<Item>Params``) names the item ``key`` and takes an optional
    note; the status model (``<Item>Status``) is the item, its label and source, whether
    it is done, and its record.
    """

    def __init__(
        self,
        items: Mapping[ItemT, tuple[str, str]],
        *,
        records: Callable[[DataT], MutableMapping[ItemT, Recorded]],
        key: str,
        status_doc: str,
    ) -> None:
        self.items = {item: ChecklistItem(item.value, label, source) for item, (label, source) in items.items()}
        self.records = records
        self.key = key
        item_type = type(next(iter(items)))
        params: dict[str, Any] = {key: (item_type, ...), "note": (Annotated[str, Field(max_length=2000)] | None, None)}
        self.params: type[Params] = create_model(f"{item_type.__name__}Params", __base__=Params, **params)
        status: dict[str, Any] = {
            key: (item_type, ...),
            "label": (str, ...),
            "source": (str, ...),
            "done": (bool, ...),
            "recorded_by": (str | None, ...),
            "recorded_at": (datetime | None, ...),
            "note": (str | None, ...),
        }
        self.status = create_model(f"{item_type.__name__}Status", __doc__=status_doc, **status)

    @property
    def criteria(self) -> tuple[ChecklistItem, ...]:
        """The items as a state's exit criteria."""
        return tuple(self.items.values())

    @property
    def labels(self) -> str:
        return "; ".join(item.label for item in self.items.values())

    def complete(self, data: DataT) -> bool:
        return set(self.records(data)) == set(self.items)

    def record(
        self,
        trigger: str,
        *,
        sources: tuple[str, ...],
        description: str,
        then: str,
        last_description: str,
        source_ref: str = "",
    ) -> tuple[TransitionSpec[DataT, PolicyT], TransitionSpec[DataT, PolicyT]]:
        """``trigger`` records one item done; recording the last one moves the lifecycle to ``then``."""

        def item(ctx: Context[DataT, PolicyT, Any]) -> ItemT:
            chosen: ItemT = getattr(ctx.params, self.key)
            return chosen

        def completes(ctx: Context[DataT, PolicyT, Any]) -> bool:
            return set(self.items) - set(self.records(ctx.data)) <= {item(ctx)}

        def validate(ctx: Context[DataT, PolicyT, Any]) -> dict[str, str]:
            # Recording an item twice is refused, so two people recording it apply it once.
            done = self.records(ctx.data).get(item(ctx))
            if done is not None:
                return {self.key: f"is already recorded done by {done.recorded_by} on {day(done.recorded_at)}"}
            return {}

        def apply(ctx: Context[DataT, PolicyT, Any]) -> None:
            self.records(ctx.data)[item(ctx)] = stamped(Recorded, ctx)

        one = TransitionSpec[DataT, PolicyT, Any](
            trigger=trigger,
            sources=sources,
            dest=None,
            description=description,
            params=self.params,
            when=lambda ctx: not completes(ctx),
            validate=validate,
            apply=apply,
            source_ref=source_ref,
        )
        return one, replace(one, dest=then, description=last_description, when=completes)

    def statuses(self, *, doc: str, shown: Callable[[DataT], bool]) -> Callable[[DataT], list[BaseModel]]:
        """The API's computed field: every item with its record, when ``shown(data)``, else none."""

        def statuses(data: DataT) -> list[BaseModel]:
            if not shown(data):
                return []
            records = self.records(data)
            return [
                self.status(
                    **{self.key: item},
                    label=entry.label,
                    source=entry.source,
                    done=(record := records.get(item)) is not None,
                    recorded_by=record.recorded_by if record else None,
                    recorded_at=record.recorded_at if record else None,
                    note=record.note if record else None,
                )
                for item, entry in self.items.items()
            ]

        # The API types and describes a computed field from its function's annotation and docstring.
        statuses.__annotations__ = {"data": Any, "return": GenericAlias(list, (self.status,))}
        statuses.__doc__ = doc
        return statuses
