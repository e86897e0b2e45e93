"""``lifecycle.fire``: one lifecycle's effect firing a trigger on every open lifecycle of its account."""

from __future__ import annotations

from datetime import UTC, datetime

from services.effects import EffectDispatcher, LifecycleFanOut
from services.models import EffectRow
from tests.conftest import OPERATOR, Stack
from tests.workflows.helpers import transitions
from workflows.engine.types import workflow_id_for

DEAL = {"name": "Deal", "owner": "old@example.com", "close_date": "2027-03-31", "amount": "1000"}


async def test_a_trigger_reaches_every_open_lifecycle_of_the_account_once(local_stack: Stack, entity_id: str):
    g = local_stack.gateway
    ids = {name: f"{entity_id}-{name}" for name in ("a", "b", "lost", "other")}
    for name, account in (("a", "acme"), ("b", "acme"), ("lost", "acme"), ("other", "globex")):
        await g.open(
            "opportunity", ids[name], {**DEAL, "account": {"id": account, "name": account}}, principal=OPERATOR
        )
    await g.transition("opportunity", ids["lost"], "close_lost", {"loss_reason": "PRICING"}, principal=OPERATOR)
    await g.transition(
        "opportunity",
        ids["b"],
        "change_owner",
        {"new_owner": "new@example.com"},
        principal=OPERATOR,
        reason="already moved",
    )

    effect = EffectRow(
        id="handover/acme/1#7.1",
        workflow_id="handover/acme/1",
        seq=7,
        kind="handover",
        entity_id="acme/1",
        type="lifecycle.fire",
        name="owners_follow",
        recipients=[],
        created_at=datetime.now(UTC),
        payload={
            "account_id": "acme",
            "kinds": ["opportunity"],
            "exclude": [],
            "trigger": "change_owner",
            "params": {"new_owner": "new@example.com"},
            "actor": "lead@example.com",
            "reason": "handover acme/1 completed",
        },
    )
    async with local_stack.sessions.begin() as session:
        session.add(effect)
    fan_out = LifecycleFanOut(g, local_stack.sessions)
    # The worker dies after sending but before marking the effect delivered: the retry
    # sends everything again, and the idempotency keys make it change nothing more.
    await fan_out.send(effect)
    dispatcher = EffectDispatcher(local_stack.sessions, {"lifecycle.fire": fan_out}, lambda effect_type: [])
    await dispatcher.deliver(effect.id, attempt=2)

    changes = {
        name: [
            (t.trigger, t.actor, t.reason)
            for t in await transitions(local_stack.sessions, workflow_id_for("opportunity", ident))
            if t.trigger == "change_owner"
        ]
        for name, ident in ids.items()
    }
    assert changes == {
        "a": [("change_owner", "lead@example.com", "handover acme/1 completed")],
        "b": [("change_owner", "otto@example.com", "already moved")],
        "lost": [],
        "other": [],
    }
