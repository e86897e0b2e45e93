"""Opportunity scenarios recorded for the replay tests (see tests/replay/record.py)."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from services.lifecycles import LifecycleGateway
from tests.replay.record import ADMIN, OPERATOR, Scenario
from workflows.engine.errors import IdempotencyKeyReused
from workflows.engine.types import workflow_id_for

DEAL = {
    "name": "ACME analytics",
    "account": {"id": "acme", "name": "ACME"},
    "owner": "tae@example.com",
    "close_date": "2027-03-31",
    "amount": "60000",
}


async def opportunity_pipeline(g: LifecycleGateway, env: WorkflowEnvironment) -> list[str]:
    """Criteria, advance, move back, waiver, skip, contract, Closed Won of an annual deal."""
    await g.open("opportunity", "pipeline", {**DEAL, "plan_type": "ANNUAL"}, principal=OPERATOR)
    for criterion in ("quantified_pain", "cost_of_inaction", "problem_acknowledged"):
        await g.transition(
            "opportunity",
            "pipeline",
            "record_criterion",
            {"stage": "PROBLEM_AGREEMENT", "criterion": criterion, "evidence": "call"},
            principal=OPERATOR,
        )
    await g.transition("opportunity", "pipeline", "advance", principal=OPERATOR)
    await g.transition(
        "opportunity", "pipeline", "move_back", {"to": "PROBLEM_AGREEMENT"}, principal=OPERATOR, reason="champion left"
    )
    await g.transition("opportunity", "pipeline", "advance", principal=OPERATOR)
    for stage, items in (
        ("SOLUTION_AGREEMENT", ("active_usage_or_trial", "documented_decision", "economic_buyer", "champion")),
        (
            "PRIORITY_AGREEMENT",
            ("budget_confirmed", "decision_process", "priority_quote", "champion_tested", "compelling_event"),
        ),
        ("COMMERCIAL_AGREEMENT", ("price_in_writing", "commercial_terms")),
    ):
        for item in items:
            await g.transition(
                "opportunity",
                "pipeline",
                "record_criterion",
                {"stage": stage, "criterion": item, "evidence": "notes"},
                principal=OPERATOR,
            )
    await g.transition(
        "opportunity",
        "pipeline",
        "waive_criterion",
        {"stage": "COMMERCIAL_AGREEMENT", "criterion": "paper_process"},
        principal=ADMIN,
        reason="standard paper",
    )
    await g.transition("opportunity", "pipeline", "advance", {"to": "VENDOR_APPROVAL"}, principal=OPERATOR)
    await g.transition(
        "opportunity",
        "pipeline",
        "record_criterion",
        {"stage": "VENDOR_APPROVAL", "criterion": "contract_signed", "evidence": "PandaDoc"},
        principal=OPERATOR,
    )
    await g.transition("opportunity", "pipeline", "close_won", principal=OPERATOR)
    await env.sleep(timedelta(minutes=5))
    return [workflow_id_for("opportunity", "pipeline"), workflow_id_for("opportunity", "pipeline-renewal-1")]


async def opportunity_silence(g: LifecycleGateway, env: WorkflowEnvironment) -> list[str]:
    """The silence ladder: a nudge, a reply, two nudges and the timer's Closed Lost."""
    await g.open("opportunity", "silence", DEAL, principal=OPERATOR)
    await env.sleep(timedelta(days=15))
    await g.transition("opportunity", "silence", "record_customer_reply", {"note": "busy"}, principal=OPERATOR)
    await g.transition(
        "opportunity",
        "silence",
        "update_fields",
        {"next_step": {"text": "Pricing call", "due_date": "2000-01-01"}},
        principal=OPERATOR,
    )
    await env.sleep(timedelta(days=25))
    return [workflow_id_for("opportunity", "silence")]


async def opportunity_patch_baseline(g: LifecycleGateway, env: WorkflowEnvironment) -> list[str]:
    """The silence ladder in a run that records one marker for the baseline's patches."""
    await g.open("opportunity", "baseline", DEAL, principal=OPERATOR)
    await env.sleep(timedelta(days=15))
    await g.transition("opportunity", "baseline", "record_customer_reply", {"note": "busy"}, principal=OPERATOR)
    await env.sleep(timedelta(days=25))
    return [workflow_id_for("opportunity", "baseline")]


async def opportunity_follow_ups(g: LifecycleGateway, env: WorkflowEnvironment) -> list[str]:
    """Closed Lost, stuck with the current setup: check-ins every six months, then stopped."""
    await g.open("opportunity", "follow-ups", DEAL, principal=OPERATOR)
    await g.transition(
        "opportunity", "follow-ups", "close_lost", {"loss_reason": "STUCK_WITH_CURRENT_SETUP"}, principal=OPERATOR
    )
    await env.sleep(timedelta(days=370))
    await g.transition(
        "opportunity",
        "follow-ups",
        "change_owner",
        {"new_owner": "csm@example.com"},
        principal=OPERATOR,
        reason="territory change",
    )
    await g.transition("opportunity", "follow-ups", "stop_follow_ups", principal=OPERATOR, reason="signed elsewhere")
    await env.sleep(timedelta(minutes=1))
    return [workflow_id_for("opportunity", "follow-ups")]


async def opportunity_continue_as_new(g: LifecycleGateway, env: WorkflowEnvironment) -> list[str]:
    """A run that continues as new, carrying state and idempotency keys."""
    settings = g.settings.model_copy(update={"continue_as_new_after_events": 20})
    gateway = LifecycleGateway(g.client, settings)
    await gateway.open("opportunity", "long", DEAL, principal=OPERATOR)
    for n in range(8):
        await gateway.transition(
            "opportunity",
            "long",
            "record_customer_reply",
            {"note": f"reply {n}"},
            principal=OPERATOR,
            idempotency_key=f"reply-{n}",
        )
    await gateway.transition(
        "opportunity",
        "long",
        "record_customer_reply",
        {"note": "reply 0"},
        principal=OPERATOR,
        idempotency_key="reply-0",
    )
    await env.sleep(timedelta(days=15))
    return [workflow_id_for("opportunity", "long")]


async def opportunity_idempotency(g: LifecycleGateway, env: WorkflowEnvironment) -> list[str]:
    """Caller-scoped keys with fingerprints: retries, a reused key refused, two callers, continue-as-new."""
    settings = g.settings.model_copy(update={"continue_as_new_after_events": 20})
    gateway = LifecycleGateway(g.client, settings)
    await gateway.open("opportunity", "keys", DEAL, principal=OPERATOR)
    reply = {"note": "first reply"}
    for _ in range(2):
        await gateway.transition(
            "opportunity", "keys", "record_customer_reply", reply, principal=OPERATOR, idempotency_key="K"
        )
    with contextlib.suppress(IdempotencyKeyReused):
        await gateway.transition(
            "opportunity", "keys", "record_customer_reply", {"note": "other"}, principal=OPERATOR, idempotency_key="K"
        )
    await gateway.transition(
        "opportunity", "keys", "record_customer_reply", reply, principal=ADMIN, idempotency_key="K"
    )
    for n in range(6):
        await gateway.transition(
            "opportunity",
            "keys",
            "record_customer_reply",
            {"note": f"reply {n}"},
            principal=OPERATOR,
            idempotency_key=f"reply-{n}",
        )
    await gateway.transition(
        "opportunity", "keys", "record_customer_reply", reply, principal=OPERATOR, idempotency_key="K"
    )
    with contextlib.suppress(IdempotencyKeyReused):
        await gateway.transition(
            "opportunity", "keys", "record_customer_reply", {"note": "other"}, principal=OPERATOR, idempotency_key="K"
        )
    await env.sleep(timedelta(days=15))
    return [workflow_id_for("opportunity", "keys")]


SCENARIOS: dict[str, Scenario] = {
    "opportunity-pipeline": opportunity_pipeline,
    "opportunity-silence": opportunity_silence,
    "opportunity-patch-baseline": opportunity_patch_baseline,
    "opportunity-follow-ups": opportunity_follow_ups,
    "opportunity-continue-as-new": opportunity_continue_as_new,
    "opportunity-idempotency": opportunity_idempotency,
}
