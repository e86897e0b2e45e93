"""What every resolver receives: the caller, the gateway to Temporal, the read model."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa
import strawberry
from starlette.websockets import WebSocket

from schema.loaders import Loaders
from services.auth import authenticate
from services.change_feed import ChangeFeed
from services.db import Reader, Sessions
from services.lifecycles import LifecycleGateway, Principal
from services.settings import Settings
from workflows.engine.errors import Forbidden
from workflows.engine.spec import Role

# Closing a WebSocket waits for the client to read what was sent before; a client that
# reads nothing is left to the keepalive pings after this long.
CLOSE_TIMEOUT_SECONDS = 10.0

T = TypeVar("T")


@dataclass
class Context:
    principal: Principal
    gateway: LifecycleGateway
    sessions: Sessions
    settings: Settings
    reader: Reader
    # Made per request: batches what the nodes of a list load (schema/loaders.py).
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.sessions, self.settings.max_page_size)

    async def read(self, read: Callable[[sa.Connection], T]) -> T:
        """A read of the read model without the ORM (a list's page), run whole where the
        database's driver costs it least (``services.db.Reader``)."""
        return await self.reader.run(read)

    def require(self, role: Role, what: str) -> None:
        if self.principal.role < role:
            raise Forbidden(f"{what} needs the {role.name.lower()} role.", required_role=role.name)


@dataclass
class SubscriptionContext(Context):
    """A WebSocket connection's (graphql-transport-ws): its caller is known once its
    ``connection_init`` is accepted (``connect``), from the bearer token in the payload's
    ``Authorization`` or, without one, the upgrade request's header."""

    principal: Principal = field(init=False)
    changes: ChangeFeed
    websocket: WebSocket
    # Set by strawberry from the connection_init message.
    connection_params: dict[str, Any] = field(default_factory=dict)
    authorization: str | None = None
    _closing: set[asyncio.Task[None]] = field(default_factory=set)

    def connect(self) -> bool:
        """Whether the connection's token names a caller who may read (viewer and up)."""
        given = self.connection_params.get("Authorization", self.connection_params.get("authorization"))
        authorization = given if isinstance(given, str) else self.websocket.headers.get("authorization")
        principal = authenticate(authorization, self.settings)
        if principal is None or principal.role < Role.VIEWER:
            return False
        self.principal, self.authorization = principal, authorization
        return True

    def authorize_event(self) -> None:
        """Checked again before each event: the token must still name a reader."""
        principal = authenticate(self.authorization, self.settings)
        if principal is None or principal != self.principal:
            raise Forbidden("The connection's token is no longer accepted.", required_role=Role.VIEWER.name)
        self.require(Role.VIEWER, "Subscribing")
        # An event's fields load afresh, not from what an earlier event cached.
        self.loaders = Loaders(self.sessions, self.settings.max_page_size)

    def close(self, code: int, reason: str) -> None:
        """Close the connection without waiting for it (called where no await is possible)."""

        async def closing() -> None:
            with contextlib.suppress(RuntimeError, TimeoutError):
                async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
                    await self.websocket.close(code=code, reason=reason)

        task = asyncio.get_running_loop().create_task(closing())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


Info = strawberry.Info[Context, None]
