"""One validated settings object, read from the environment (prefix ``LIFECYCLES_``).

Secrets (API tokens, webhook secrets) come only from here; in production the service
refuses to start without them rather than fall back to anything built in.
"""

from __future__ import annotations

import enum
import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    Field,
    FilePath,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.logs import LogFormat
from workflows.engine.spec import Role
from workflows.engine.values import PERSON_MAX_LENGTH

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_ROOT / ".lifecycles"


class Environment(enum.StrEnum):
    DEV = "dev"
    TEST = "test"
    PRODUCTION = "production"


class TokenGrant(BaseModel):
    """Who a bearer token belongs to and what they may do."""

    actor: Annotated[str, Field(min_length=1, max_length=PERSON_MAX_LENGTH)]
    role: Role

    @field_validator("role", mode="before")
    @classmethod
    def _role_by_name(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return Role[value.upper()]
            except KeyError:
                raise ValueError(f"unknown role {value!r}; use viewer, operator or admin") from None
        return value

    @field_validator("role")
    @classmethod
    def _not_system(cls, value: Role) -> Role:
        if value is Role.SYSTEM:
            raise ValueError("the system role belongs to timers, not to tokens")
        return value


class SmtpSettings(BaseModel):
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 25
    sender: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False
    timeout_seconds: Annotated[float, Field(gt=0)] = 10.0


class WebhookEndpoint(BaseModel):
    """A system that acts on effects (billing, identity, CRM), called with signed requests."""

    url: AnyHttpUrl
    secret: SecretStr
    timeout_seconds: Annotated[float, Field(gt=0)] = 10.0

    @field_validator("secret")
    @classmethod
    def _long_secret(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("webhook secrets must be at least 16 characters long")
        return value


# Effect types the service itself delivers (lifecycles starting and firing each other).
INTERNAL_EFFECT_TYPES = ("lifecycle.start", "lifecycle.fire")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIFECYCLES_", extra="ignore")

    environment: Environment = Environment.DEV

    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    task_queue: str = "lifecycles"
    # TLS to Temporal's frontend: unset, it is on when a certificate or an API key is
    # given. The CA verifies the server (system roots when unset); a client certificate
    # and key (PEM files) make it mutual TLS; the server name overrides the one verified.
    temporal_tls: bool | None = None
    temporal_tls_ca_cert: FilePath | None = None
    temporal_tls_client_cert: FilePath | None = None
    temporal_tls_client_key: FilePath | None = None
    temporal_tls_server_name: str | None = None
    # Sent as "Authorization: Bearer <key>" (Temporal Cloud, or a frontend with an authorizer).
    temporal_api_key: SecretStr | None = None

    database_url: str = f"sqlite+aiosqlite:///{DEFAULT_DATA_DIR / 'readmodel.db'}"

    # JSON: {"<token>": {"actor": "alice@example.com", "role": "operator"}}
    api_tokens: Annotated[dict[SecretStr, TokenGrant], NoDecode] = Field(default_factory=dict)

    # JSON: {"<kind>": {"<policy field>": value}}; applied to lifecycles started from now on.
    policy_overrides: Annotated[dict[str, dict[str, Any]], NoDecode] = Field(default_factory=dict)

    # JSON: {"revops": "revops@example.com", ...}: who a role-addressed effect reaches.
    role_contacts: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)

    # Effect delivery. Channels: "log", "email" (needs smtp), "slack" (needs
    # slack_webhooks), "webhook:<name>" (a webhook_endpoints entry). Routes map an effect
    # type, a "prefix.*" pattern or "*" to channels; the most specific match wins.
    smtp: Annotated[SmtpSettings | None, NoDecode] = None
    # JSON: {"sales-alerts": "https://hooks.slack.com/...", "default": "..."} (secret URLs)
    slack_webhooks: Annotated[dict[str, SecretStr], NoDecode] = Field(default_factory=dict)
    # JSON: {"billing": {"url": "https://...", "secret": "..."}}
    webhook_endpoints: Annotated[dict[str, WebhookEndpoint], NoDecode] = Field(default_factory=dict)
    # JSON: {"notify": ["email", "slack"], "access.*": ["webhook:identity"], "*": ["log"]}
    effect_routes: Annotated[dict[str, list[str]], NoDecode] = Field(default_factory=lambda: {"*": ["log"]})

    # Inbound billing events (Stripe's format and signature scheme).
    stripe_webhook_secret: SecretStr | None = None
    stripe_tolerance_seconds: Annotated[int, Field(ge=1)] = 300
    # Inbound signal events about accounts (usage, health readings): the same signature
    # scheme and tolerance, their own secret (services/signal_events.py).
    signal_webhook_secret: SecretStr | None = None

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # Both default to on, except with environment=production; an explicit value wins.
    graphiql: bool = True
    introspection: bool = True
    # The console's sign-in page offers the development tokens (api_tokens) of each role in
    # one click: for ./dev up only, which turns it on; refused with environment=production.
    console_dev_sign_in: bool = False
    # Where the console links a lifecycle's workflow ("<url>/namespaces/<ns>/workflows/<id>");
    # no link when unset.
    temporal_ui_url: str | None = None
    max_page_size: Annotated[int, Field(ge=1, le=1000)] = 100
    max_query_depth: Annotated[int, Field(ge=2)] = 12
    max_aliases: Annotated[int, Field(ge=1)] = 30
    max_tokens: Annotated[int, Field(ge=100)] = 4000
    # A query's estimated cost: fields that load something, times the page sizes they
    # are nested in (schema/limits.py); above it the query is refused before it runs.
    max_query_cost: Annotated[int, Field(ge=100)] = 20_000
    # Request bodies, counted as received (chunked ones too); larger ones answer 413.
    max_graphql_request_bytes: Annotated[int, Field(ge=1024)] = 256 * 1024
    max_billing_event_bytes: Annotated[int, Field(ge=1024)] = 1_000_000
    # Continue-as-new after this many history events instead of when the server
    # suggests it (thousands); small values exercise continue-as-new in tests.
    continue_as_new_after_events: Annotated[int, Field(ge=20)] | None = None
    # How long a request waits on Temporal before answering "unavailable".
    temporal_rpc_timeout_seconds: Annotated[float, Field(gt=0)] = 20.0
    # On SIGTERM a worker stops polling and gives its running activities (a delivery
    # waiting on a slow receiver) this long to finish before cancelling them.
    worker_shutdown_grace_seconds: Annotated[float, Field(ge=0)] = 30.0
    # How long a workflow task waits for the worker that has the workflow in its cache
    # before the server hands it, with the whole history, to any worker, which replays it
    # from the start. Temporal's default, 10 s, is shorter than the queue of a burst (2,000
    # timers due at once): every firing's task then timed out, came back with the whole
    # history and was replayed (docs/performance.md, "Timer lateness"). A worker that is gone
    # does not hold new tasks this long: the server sends them to the shared queue once the
    # worker has not polled for 10 s; only the tasks already queued for it wait this long.
    worker_sticky_timeout_seconds: Annotated[float, Field(gt=0)] = 60.0
    # Run workflow code in Temporal's sandbox (re-imports and restricts it per run, and
    # checks every payload in it). Off by default: it costs the worker 10-30% more CPU
    # per transition (measured), and determinism is guarded where mistakes are caught: the
    # source check of workflows/, replay of recorded histories, and the test suite, which
    # runs every workflow in the sandbox (docs/architecture.md, "The workflow runner").
    workflow_sandbox: bool = False

    # Subscriptions (services/change_feed.py): how many changes a subscriber may leave
    # unread before it is dropped (more than a poll's worth of the changes it follows:
    # on SQLite the changes since the last poll arrive at once), how long the change feed
    # keeps a change for a reconnecting subscriber to resume from, and how often the
    # reader polls the feed on SQLite (PostgreSQL notifies it instead).
    subscription_queue_size: Annotated[int, Field(ge=1, le=100_000)] = 1000
    change_feed_retention_hours: Annotated[float, Field(gt=0)] = 24.0
    change_feed_poll_seconds: Annotated[float, Field(ge=0.05, le=60)] = 1.0

    # Logs: one JSON object per line, or "text" for people (./dev up).
    log_format: LogFormat = LogFormat.JSON
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Where the worker serves its Prometheus metrics (its own and the Temporal SDK's).
    worker_metrics_address: Annotated[str, Field(pattern=r"^[^:\s]+:\d{1,5}$")] = "127.0.0.1:9464"

    @field_validator(
        "api_tokens",
        "policy_overrides",
        "role_contacts",
        "smtp",
        "slack_webhooks",
        "webhook_endpoints",
        "effect_routes",
        mode="before",
    )
    @classmethod
    def _json(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            if value.strip():
                return json.loads(value)
            return None if info.field_name == "smtp" else {}
        return value

    @field_validator("api_tokens")
    @classmethod
    def _long_tokens(cls, value: dict[SecretStr, TokenGrant]) -> dict[SecretStr, TokenGrant]:
        for token in value:
            if len(token.get_secret_value()) < 16:
                raise ValueError("API tokens must be at least 16 characters long")
        return value

    @model_validator(mode="after")
    def _routes_use_configured_channels(self) -> Settings:
        for pattern, channels in self.effect_routes.items():
            if pattern in INTERNAL_EFFECT_TYPES:
                raise ValueError(f"{pattern} effects are delivered by the service itself; do not route them")
            for name in channels:
                if name == "email" and self.smtp is None:
                    raise ValueError(f"route {pattern!r} uses email but LIFECYCLES_SMTP is not set")
                if name == "slack" and not self.slack_webhooks:
                    raise ValueError(f"route {pattern!r} uses slack but LIFECYCLES_SLACK_WEBHOOKS is not set")
                if name.startswith("webhook:") and name[8:] not in self.webhook_endpoints:
                    raise ValueError(f"route {pattern!r} uses {name} but no such webhook endpoint is configured")
                if name not in ("log", "email", "slack") and not name.startswith("webhook:"):
                    raise ValueError(f"route {pattern!r}: unknown channel {name!r}")
        return self

    def channels_for(self, effect_type: str) -> list[str]:
        """The channels an effect type is delivered to: exact type, longest prefix, then "*"."""
        if effect_type in self.effect_routes:
            return self.effect_routes[effect_type]
        prefixes = [p for p in self.effect_routes if p.endswith(".*") and effect_type.startswith(p[:-1])]
        if prefixes:
            return self.effect_routes[max(prefixes, key=len)]
        return self.effect_routes.get("*", ["log"])

    @field_validator("temporal_tls_ca_cert", "temporal_tls_client_cert", "temporal_tls_client_key")
    @classmethod
    def _pem(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        try:
            content = value.read_bytes()
        except OSError as exc:
            raise ValueError(f"{value} cannot be read: {exc.strerror}") from None
        if b"-----BEGIN " not in content:
            raise ValueError(f"{value} is not a PEM file")
        return value

    @model_validator(mode="after")
    def _temporal_tls_is_whole(self) -> Settings:
        cert, key = self.temporal_tls_client_cert, self.temporal_tls_client_key
        if (cert is None) != (key is None):
            raise ValueError(
                "LIFECYCLES_TEMPORAL_TLS_CLIENT_CERT and LIFECYCLES_TEMPORAL_TLS_CLIENT_KEY go together (mutual TLS)"
            )
        certificates = cert is not None or self.temporal_tls_ca_cert is not None or self.temporal_tls_server_name
        if self.temporal_tls is False and certificates:
            raise ValueError("LIFECYCLES_TEMPORAL_TLS is false but TLS certificates or a server name are set")
        return self

    @model_validator(mode="after")
    def _production_defaults(self) -> Settings:
        # GraphiQL and introspection show the whole schema to anyone: off in production
        # unless asked for explicitly.
        production = self.environment is Environment.PRODUCTION
        for name in ("graphiql", "introspection"):
            if name not in self.model_fields_set:
                setattr(self, name, not production)
        if production and self.console_dev_sign_in:
            raise ValueError("LIFECYCLES_CONSOLE_DEV_SIGN_IN gives tokens away: never in production")
        return self

    @property
    def temporal_uses_tls(self) -> bool:
        if self.temporal_tls is not None:
            return self.temporal_tls
        return (
            bool(self.temporal_tls_ca_cert or self.temporal_tls_client_cert or self.temporal_tls_server_name)
            or self.temporal_api_key is not None
        )

    def require_api_tokens(self) -> None:
        """The API's check (workers and migrations get no tokens: they serve no callers)."""
        if self.environment is Environment.PRODUCTION and not self.api_tokens:
            raise ValueError("LIFECYCLES_API_TOKENS must be set in production")

    @property
    def sqlite_path(self) -> Path | None:
        prefix = "sqlite+aiosqlite:///"
        return Path(self.database_url.removeprefix(prefix)) if self.database_url.startswith(prefix) else None

    def policy_for(self, kind: str, per_instance: dict[str, Any] | None = None) -> dict[str, Any]:
        """Deployment overrides, then the instance's own; the spec fills the rest."""
        return {**self.policy_overrides.get(kind, {}), **(per_instance or {})}


@lru_cache
def get_settings() -> Settings:
    return Settings()
