"""Trial scenarios recorded for the replay tests (see tests/replay/record.py).

Every trial opens before time is skipped: the API dates a trial by its own clock, and
the test server's clock only matches it until the first skip.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from services.lifecycles import LifecycleGateway
from tests.replay.record import OPERATOR, Scenario
from workflows.engine.types import workflow_id_for

TRIAL = {
    "organization": {"id": "org-acme", "name": "ACME"},
    "owner": "tae@example.com",
    "target": "ENTERPRISE",
    "expected_arr": "75000",
    "contact_emails": ["cto@acme.test"],
}
STEPS = ("REMOVE_SUBSCRIPTION_ID", "SET_PRODUCTS_FREE", "CANCEL_SUBSCRIPTION")


async def trial_extended(g: LifecycleGateway, env: WorkflowEnvironment) -> list[str]:
    """A 28-day trial: activity, nudges, an extension, a pause, every notice, the expiry."""
    await g.open("trial", "extended", TRIAL, principal=OPERATOR)
    await env.sleep(timedelta(days=2))
    await g.transition("trial", "extended", "record_customer_activity", {"note": "SDK live"}, principal=OPERATOR)
    await env.sleep(timedelta(days=10))
    await g.transition(
        "trial",
        "extended",
        "extend",
        {"days": 7, "give_back": "procurement in parallel"},
        principal=OPERATOR,
        reason="security review",
    )
    await g.transition("trial", "extended", "pause", principal=OPERATOR, reason="their launch week")
    await env.sleep(timedelta(days=4))
    await g.transition("trial", "extended", "resume", principal=OPERATOR)
    await env.sleep(timedelta(days=20))
    return [workflow_id_for("trial", "extended")]


async def trial_existing_payers(g: LifecycleGateway, env: WorkflowEnvironment) -> list[str]:
    """Existing payers: RevOps' steps (one recorded twice), a confirmed subscription and a conversion;
    an unconfirmed one expiring flagged; a cancellation before activation."""
    payer = {**TRIAL, "existing_paid_subscription": True, "expected_arr": "30000"}
    for entity_id in ("converted", "flagged", "cancelled"):
        await g.open("trial", entity_id, payer, principal=OPERATOR)
    for entity_id in ("converted", "flagged"):
        for step in STEPS:
            await g.transition(
                "trial",
                entity_id,
                "record_provisioning_step",
                {"step": step},
                principal=OPERATOR,
                idempotency_key=f"{entity_id}-{step}",
            )
    await g.transition(
        "trial",
        "flagged",
        "record_provisioning_step",
        {"step": STEPS[0]},
        principal=OPERATOR,
        idempotency_key=f"flagged-{STEPS[0]}",
    )
    await g.transition("trial", "cancelled", "record_provisioning_step", {"step": STEPS[2]}, principal=OPERATOR)
    await g.transition("trial", "cancelled", "cancel", principal=OPERATOR, reason="deal fell through")
    await env.sleep(timedelta(days=3))
    await g.transition(
        "trial", "converted", "confirm_new_subscription", {"subscription_id": "sub_new"}, principal=OPERATOR
    )
    await g.transition("trial", "converted", "convert", {"subscription_id": "sub_new"}, principal=OPERATOR)
    await env.sleep(timedelta(days=12))
    return [workflow_id_for("trial", entity_id) for entity_id in ("converted", "flagged", "cancelled")]


SCENARIOS: dict[str, Scenario] = {
    "trial-extended": trial_extended,
    "trial-existing-payers": trial_existing_payers,
}
