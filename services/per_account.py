"""Kinds kept to one open instance per account (``Exposure.per_account``): triggers fired by account.

The account's open instance gets the trigger; with none open, the account's next instance
(``<account id>/<n>``) is opened first. The request is judged against that would-be instance
before it opens (the spec's own ``decide``), so a refused request opens nothing. Two
requests racing to open compute the same id: Temporal refuses the second opening, which
then fires on the instance the first one opened.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from services.lifecycles import LifecycleGateway, Principal
from services.numbering import account_instances
from workflows.engine.errors import AlreadyExists
from workflows.engine.instance import LifecycleInstance, require_role
from workflows.engine.types import TransitionResult
from workflows.registry import SPECS


async def fire_for_account(
    gateway: LifecycleGateway,
    kind: str,
    account: dict[str, Any],
    owner: str | None,
    trigger: str,
    params: dict[str, Any],
    *,
    principal: Principal,
    reason: str | None = None,
    idempotency_key: str | None = None,
    system_key: str | None = None,
) -> TransitionResult:
    """Fire ``trigger`` on the account's open instance of ``kind``, opening the next one if none is open."""
    spec = SPECS[kind]
    require_role(spec, trigger, principal.role)
    account_id = str(account.get("id", ""))
    assert gateway.sessions is not None, "per-account kinds read the read model"
    async with gateway.sessions() as session:
        instances = await account_instances(session, kind, account_id)
    open_id = instances.open_id
    if open_id is None:
        entity_id = f"{account_id}/{instances.next_id_suffix}"
        data = {"account": account, "owner": owner or principal.actor}
        now = datetime.now(UTC)
        would_be = LifecycleInstance.open(
            spec, entity_id, data, gateway.settings.policy_for(kind, None), now, principal.actor
        )
        would_be.decide(trigger, params, actor=principal.actor, role=principal.role, reason=reason, now=now)
        # A concurrent request may have opened it: the trigger then goes to that instance.
        with contextlib.suppress(AlreadyExists):
            await gateway.open(kind, entity_id, data, principal=principal, reason=reason)
        open_id = entity_id
    return await gateway.transition(
        kind,
        open_id,
        trigger,
        params,
        principal=principal,
        reason=reason,
        idempotency_key=idempotency_key,
        system_key=system_key,
    )
