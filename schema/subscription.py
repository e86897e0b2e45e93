"""Live updates: the ``lifecycleChanged`` subscription, over graphql-transport-ws."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry
from graphql import GraphQLError

from schema.common import GenericLifecycle, Transition
from schema.context import Info, SubscriptionContext
from services.change_feed import ChangeMatch, SubscriberDropped
from workflows.engine.errors import NotFound
from workflows.engine.spec import Role
from workflows.registry import SPECS

# The WebSocket close code for a subscriber dropped for reading too slowly ("try again
# later"); the close reason says to resume with afterSequence.
SLOW_SUBSCRIBER_CLOSE_CODE = 1013


@strawberry.type(description="A change to a lifecycle, as the read model has it.")
class LifecycleChangeEvent:
    sequence: int = strawberry.field(
        description="The change feed's monotonic sequence: pass the last one received as afterSequence to resume."
    )
    lifecycle: GenericLifecycle = strawberry.field(
        description="The lifecycle as the read model has it when the change is delivered."
    )
    transition: Transition | None = strawberry.field(
        description="The transition that made the change; null if it was not a transition "
        "(a timer that only sent effects)."
    )


@strawberry.type
class LifecycleSubscription:
    @strawberry.subscription(
        description="Every change to a lifecycle matching the arguments (all optional, ANDed), in sequence order."
    )
    async def lifecycle_changed(
        self,
        info: Info,
        kind: str | None = None,
        id: strawberry.ID | None = None,
        account_id: strawberry.ID | None = None,
        owner: str | None = None,
        after_sequence: Annotated[
            int | None,
            strawberry.argument(
                description="Resume after this sequence: the changes since then come first, from the change feed."
            ),
        ] = None,
    ) -> AsyncGenerator[LifecycleChangeEvent, None]:
        context = info.context
        if not isinstance(context, SubscriptionContext):
            raise GraphQLError(
                "Subscriptions are served over WebSocket (graphql-transport-ws) at /graphql.",
                extensions={"code": "BAD_REQUEST"},
            )
        context.require(Role.VIEWER, "Subscribing")
        if kind is not None and kind not in SPECS:
            raise NotFound(f"There is no lifecycle kind {kind!r}; there are: {', '.join(SPECS)}.")
        match = ChangeMatch(kind=kind, entity_id=id, account_id=account_id, owner=owner)

        def dropped(reason: str) -> None:
            context.close(SLOW_SUBSCRIBER_CLOSE_CODE, reason)

        async with context.changes.subscribe(match, after_sequence, dropped) as changes:
            try:
                async for change in changes:
                    context.authorize_event()
                    yield LifecycleChangeEvent(
                        sequence=change.sequence,
                        lifecycle=GenericLifecycle(source=change.snapshot),
                        transition=Transition.of(change.transition) if change.transition is not None else None,
                    )
            except SubscriberDropped as drop:
                raise GraphQLError(str(drop), extensions={"code": "SLOW_SUBSCRIBER"}) from drop
