"""One validated settings object, read from the environment (prefix ``LIFECYCLES_``).

Secrets (API tokens, webhook secrets) come only from here; in production the service
refuses to start without them rather than fall back to anything built in.
"""

from __future__ import annotations

import enum
import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from workflows.engine.spec import Role

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_ROOT / ".lifecycles"


class Environment(enum.StrEnum):
    DEV = "dev"
    TEST = "test"
    PRODUCTION = "production"


class TokenGrant(BaseModel):
    """Who a bearer token belongs to and what they may do."""

    actor: Annotated[str, Field(min_length=1, max_length=200)]
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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIFECYCLES_", extra="ignore")

    environment: Environment = Environment.DEV

    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    task_queue: str = "lifecycles"

    database_url: str = f"sqlite+aiosqlite:///{DEFAULT_DATA_DIR / 'readmodel.db'}"

    # JSON: {"<token>": {"actor": "alice@example.com", "role": "operator"}}
    api_tokens: Annotated[dict[SecretStr, TokenGrant], NoDecode] = Field(default_factory=dict)

    # JSON: {"<kind>": {"<policy field>": value}}; applied to lifecycles started from now on.
    policy_overrides: Annotated[dict[str, dict[str, Any]], NoDecode] = Field(default_factory=dict)

    # JSON: {"revops": "revops@example.com", ...}: who a role-addressed effect reaches.
    role_contacts: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    graphiql: bool = True
    introspection: bool = True
    max_page_size: Annotated[int, Field(ge=1, le=1000)] = 100
    max_query_depth: Annotated[int, Field(ge=2)] = 12
    max_aliases: Annotated[int, Field(ge=1)] = 30
    max_tokens: Annotated[int, Field(ge=100)] = 4000
    # Continue-as-new after this many history events instead of when the server
    # suggests it (thousands); small values exercise continue-as-new in tests.
    continue_as_new_after_events: Annotated[int, Field(ge=20)] | None = None
    # How long a request waits on Temporal before answering "unavailable".
    temporal_rpc_timeout_seconds: Annotated[float, Field(gt=0)] = 20.0

    @field_validator("api_tokens", "policy_overrides", "role_contacts", mode="before")
    @classmethod
    def _json(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    @field_validator("api_tokens")
    @classmethod
    def _long_tokens(cls, value: dict[SecretStr, TokenGrant]) -> dict[SecretStr, TokenGrant]:
        for token in value:
            if len(token.get_secret_value()) < 16:
                raise ValueError("API tokens must be at least 16 characters long")
        return value

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> Settings:
        if self.environment is Environment.PRODUCTION and not self.api_tokens:
            raise ValueError("LIFECYCLES_API_TOKENS must be set in production")
        return self

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
