"""Request body limits, enforced on the bytes received rather than on what a client declares.

``BodyLimit`` reads a request's whole body before the application sees any of it,
counting every chunk (a chunked request has no Content-Length; a declared length can
lie), and answers 413 as soon as the count passes the route's limit: the application
does no work for an oversized request and never holds more than the limit in memory.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(frozen=True)
class Limit:
    max_bytes: int
    # GraphQL clients get a GraphQL-shaped error; other routes {"error": ...}.
    graphql: bool = False


class BodyLimit:
    def __init__(self, app: ASGIApp, limits: Mapping[str, Limit]) -> None:
        self.app = app
        self.limits = dict(limits)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limits.get(scope["path"]) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > limit.max_bytes:
            await _too_large(limit, send)
            return
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > limit.max_bytes:
                await _too_large(limit, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _too_large(limit: Limit, send: Send) -> None:
    message = f"The request body is larger than {limit.max_bytes} bytes."
    payload: dict[str, Any] = (
        {"errors": [{"message": message, "extensions": {"code": "REQUEST_TOO_LARGE"}}]}
        if limit.graphql
        else {"error": message}
    )
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The rest of an oversized body is not read: the connection cannot be reused.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
