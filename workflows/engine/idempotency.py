"""Idempotency keys with Stripe's semantics, shared by the gateway and the workflow.

A key belongs to its caller: the workflow remembers it under (actor, key), so two
callers choosing the same key never meet. With the key the workflow stores the
request's fingerprint (trigger, parameters, reason): the same key with the same
request answers with the transition it applied the first time; the same key with a
different request is refused (``IdempotencyKeyReused``) and changes nothing.

Keys the service makes for itself (a ``lifecycle.fire`` effect reaching its targets,
a billing event) carry ``SYSTEM_KEY_PREFIX``; the API refuses that prefix from callers,
so nobody can pre-empt a system transition by guessing its key.

The Temporal update id is derived from caller, key and fingerprint: Temporal answers a
repeated update id within one run from its own record, which is then always the same
request's answer; a different request under the same key gets a new update id and
reaches the workflow's validator, which refuses it.
"""

from __future__ import annotations

import hashlib
import json
from itertools import islice
from typing import Any

from workflows.engine.types import AppliedKey, LifecycleState

SYSTEM_KEY_PREFIX = "system:"
# Keyed transitions a workflow remembers across continue-as-new (oldest forgotten first);
# within one run Temporal also answers a repeated update id by itself.
KEYS_KEPT = 2000


def fingerprint(trigger: str, params: dict[str, Any], reason: str | None) -> str:
    """A stable hash of what a request asks for (not who asks: the key is already theirs)."""
    canonical = json.dumps([trigger, params, reason], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def scoped(actor: str, key: str) -> str:
    """The name a key is remembered under: unambiguous for any actor and key."""
    return json.dumps([actor, key], separators=(",", ":"))


def update_id(actor: str, key: str, request_fingerprint: str) -> str:
    return hashlib.sha256(f"{scoped(actor, key)}#{request_fingerprint}".encode()).hexdigest()


def recall(state: LifecycleState, actor: str, key: str) -> AppliedKey | None:
    return state.applied_requests.get(scoped(actor, key))


def remember(state: LifecycleState, actor: str, key: str, applied: AppliedKey) -> None:
    state.applied_requests[scoped(actor, key)] = applied
    excess = len(state.applied_requests) - KEYS_KEPT
    if excess > 0:
        for name in list(islice(state.applied_requests, excess)):
            del state.applied_requests[name]
