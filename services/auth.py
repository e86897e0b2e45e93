"""Bearer tokens to principals. Tokens are compared in constant time and never logged."""

from __future__ import annotations

import hmac

from services.lifecycles import Principal
from services.settings import Settings


def authenticate(authorization: str | None, settings: Settings) -> Principal | None:
    """The principal a ``Authorization: Bearer <token>`` header names, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    presented = token.strip().encode()
    found: Principal | None = None
    # Compare against every token, whatever matched, so timing says nothing about which.
    for secret, grant in settings.api_tokens.items():
        if hmac.compare_digest(presented, secret.get_secret_value().encode()):
            found = Principal(actor=grant.actor, role=grant.role)
    return found
