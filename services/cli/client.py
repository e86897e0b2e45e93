"""The CLI's side of the public GraphQL API: where it is, which token, and what each
failure means as an exit code.

Only the API is spoken here (``reconcile`` aside, which needs the database and
Temporal themselves): the CLI can do nothing a token's role could not do over HTTP.
"""

from __future__ import annotations

import enum
import json
import os
from pathlib import Path
from typing import Any

import httpx

DEFAULT_API_URL = "http://127.0.0.1:8000"
# Where ``./dev up`` keeps its state and development tokens (services.settings.DEFAULT_DATA_DIR;
# not imported, so the CLI starts without loading the service's settings and specs).
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / ".lifecycles"


class Exit(enum.IntEnum):
    """Exit codes, one per kind of outcome a script may want to tell apart."""

    OK = 0
    ERROR = 1
    USAGE = 2
    REFUSED = 3
    FORBIDDEN = 4
    NOT_FOUND = 5
    UNAVAILABLE = 6


EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 unexpected error (reconcile: differences remain); 2 bad usage; "
    "3 refused (invalid transition, unmet guard, invalid input, already exists); "
    "4 forbidden (the role may not, or no token was accepted); 5 not found; "
    "6 unavailable (the API or Temporal did not answer: retry, with the same --key for fire)."
)

# The API's error codes (a refusal's type name, or a code of its own) as exit codes.
CODES = {
    "InvalidTransition": Exit.REFUSED,
    "GuardFailed": Exit.REFUSED,
    "ValidationError": Exit.REFUSED,
    "AlreadyExists": Exit.REFUSED,
    "BAD_USER_INPUT": Exit.REFUSED,
    "Forbidden": Exit.FORBIDDEN,
    "NotFound": Exit.NOT_FOUND,
    "UNAVAILABLE": Exit.UNAVAILABLE,
}


class Failure(Exception):
    """Why a command could not do what it was asked, and the exit code that says so."""

    def __init__(self, exit_code: Exit, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.message = message
        self.kind = kind or exit_code.name.lower()


def find_token(role: str, data_dir: Path) -> str:
    """``LIFECYCLES_TOKEN``, else the development token of ``role`` that ``./dev up`` wrote."""
    token = os.environ.get("LIFECYCLES_TOKEN", "").strip()
    if token:
        return token
    path = data_dir / "dev-tokens.json"
    try:
        tokens: dict[str, dict[str, str]] = json.loads(path.read_text())
    except FileNotFoundError:
        raise Failure(
            Exit.FORBIDDEN,
            f"No token: set LIFECYCLES_TOKEN, or run ./dev up, which writes development tokens to {path}.",
        ) from None
    except (OSError, ValueError) as exc:
        raise Failure(Exit.FORBIDDEN, f"Cannot read the development tokens in {path}: {exc}") from None
    for candidate, grant in tokens.items():
        if isinstance(grant, dict) and grant.get("role") == role:
            return candidate
    raise Failure(Exit.FORBIDDEN, f"{path} holds no {role} token.")


class Api:
    """GraphQL over HTTP with a bearer token; every failure becomes a ``Failure``."""

    def __init__(self, url: str, token: str, timeout: float) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.http = httpx.Client(
            base_url=self.url, timeout=timeout, headers={"authorization": f"Bearer {token}"}, trust_env=False
        )

    def close(self) -> None:
        self.http.close()

    def execute(self, document: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = self.http.post("/graphql", json={"query": document, "variables": variables or {}})
        except httpx.TimeoutException:
            raise Failure(Exit.UNAVAILABLE, f"The API at {self.url} did not answer within {self.timeout:g}s.") from None
        except httpx.TransportError as exc:
            raise Failure(
                Exit.UNAVAILABLE, f"Cannot reach the API at {self.url}: {exc or type(exc).__name__}."
            ) from None
        if response.status_code == 401:
            raise Failure(Exit.FORBIDDEN, "The API did not accept the token.", "unauthenticated")
        if response.status_code >= 500:
            raise Failure(Exit.UNAVAILABLE, f"The API at {self.url} answered HTTP {response.status_code}.")
        try:
            body = response.json()
        except ValueError:
            body = None
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors:
            code = (errors[0].get("extensions") or {}).get("code", "")
            message = "; ".join(e.get("message", "") for e in errors)
            raise Failure(CODES.get(code, Exit.ERROR), message, code or None)
        if response.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise Failure(Exit.ERROR, f"Unexpected answer from {self.url}/graphql: HTTP {response.status_code}.")
        data: dict[str, Any] = body["data"]
        return data
