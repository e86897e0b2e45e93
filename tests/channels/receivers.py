"""Real receivers on loopback for delivery tests: an SMTP server and a webhook endpoint."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from services.channels import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, verify
from tests.postgres import free_port


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[tuple[int, list[Message]]]:
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, inbox.messages
    finally:
        controller.stop()


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every request; per path it can fail with a status a number of times, or hang once."""

    port: int
    secrets: dict[str, str]
    requests: list[Request] = field(default_factory=list)
    fail: dict[str, list[int]] = field(default_factory=dict)
    hang_once: dict[str, float] = field(default_factory=dict)
    hanging: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def on(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def accepted(self, path: str) -> dict[str, Request]:
        """What a receiver that checks signatures and drops repeats would act on, by idempotency key."""
        out: dict[str, Request] = {}
        for r in self.on(path):
            secret = self.secrets.get(path)
            if secret is not None and not verify(secret, r.headers.get(SIGNATURE_HEADER, ""), r.body):
                continue
            out.setdefault(r.headers[IDEMPOTENCY_HEADER], r)
        return out


@contextmanager
def webhook_receiver(secrets: dict[str, str] | None = None) -> Iterator[Receiver]:
    receiver = Receiver(port=free_port(), secrets=secrets or {})

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.requests.append(Request(self.path, {k: v for k, v in self.headers.items()}, body))
            hang = receiver.hang_once.pop(self.path, None)
            if hang is not None:
                receiver.hanging.set()
                time.sleep(hang)
            failures = receiver.fail.get(self.path)
            status = failures.pop(0) if failures else 200
            try:
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:
                pass  # the caller is gone (a killed worker)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", receiver.port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
