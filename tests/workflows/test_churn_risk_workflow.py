"""The churn-risk lifecycle on the time-skipping test server: the 48-hour escalation, the
4-week health rule, the weekly review."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from temporalio.testing import WorkflowEnvironment

from services.per_account import fire_for_account
from tests.conftest import OPERATOR, Stack
from tests.workflows.helpers import effects, lifecycle
from workflows.engine.types import TransitionResult, workflow_id_for

KIND = "churn-risk"


async def signal(
    stack: Stack, account_id: str, trigger: str, params: dict[str, Any], **kwargs: Any
) -> TransitionResult:
    return await fire_for_account(
        stack.gateway,
        KIND,
        {"id": account_id, "name": "ACME"},
        "csm@example.com",
        trigger,
        params,
        principal=OPERATOR,
        **kwargs,
    )


async def sleep_until(env: WorkflowEnvironment, moment: datetime) -> None:
    await env.sleep(max(moment - await env.get_current_time(), timedelta(0)))


async def effect_names(stack: Stack, workflow_id: str) -> list[str]:
    return [e.name for e in await effects(stack.sessions, workflow_id)]


async def test_the_team_lead_hears_48_hours_after_the_flag_without_a_recovery_call(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment, entity_id: str
):
    env = time_skipping_env
    flagged = await signal(ts_stack, entity_id, "add_reason", {"flag_reason": "CHAMPION_LEFT"})
    assert flagged.snapshot.entity_id == f"{entity_id}/1" and flagged.snapshot.state == "FLAGGED"
    workflow_id = workflow_id_for(KIND, flagged.snapshot.entity_id)
    flagged_at = datetime.fromisoformat(flagged.snapshot.data["flagged_at"])
    told = await effects(ts_stack.sessions, workflow_id)
    assert [(e.name, e.recipients) for e in told if e.name == "recovery_call_due"] == [
        ("recovery_call_due", ["csm@example.com"])
    ]
    await sleep_until(env, flagged_at + timedelta(hours=47))
    assert "recovery_call_overdue" not in await effect_names(ts_stack, workflow_id)
    await sleep_until(env, flagged_at + timedelta(hours=48, minutes=5))
    overdue = [e for e in await effects(ts_stack.sessions, workflow_id) if e.name == "recovery_call_overdue"]
    assert len(overdue) == 1 and overdue[0].recipients == ["role:team_lead"]
    assert overdue[0].created_at - flagged_at < timedelta(hours=48, minutes=1)
    # Once: a week later nothing more is sent, and the call can still be recorded.
    await sleep_until(env, flagged_at + timedelta(days=7))
    assert (await effect_names(ts_stack, workflow_id)).count("recovery_call_overdue") == 1
    held = await signal(ts_stack, entity_id, "record_recovery_call", {"held_on": date.today().isoformat()})
    assert held.snapshot.state == "RECOVERY_CALL_HELD"


async def test_four_consecutive_poor_weeks_open_then_flag_the_account(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment, entity_id: str
):
    env = time_skipping_env
    workflow_id = workflow_id_for(KIND, f"{entity_id}/1")
    for week in range(4):
        today = (await env.get_current_time()).date()
        result = await signal(ts_stack, entity_id, "record_health", {"week_of": today.isoformat(), "rating": "POOR"})
        expected = "FLAGGED" if week == 3 else "WATCHING"
        assert (result.snapshot.entity_id, result.snapshot.state) == (f"{entity_id}/1", expected)
        if week < 3:
            await env.sleep(timedelta(days=7))
    row = await lifecycle(ts_stack.sessions, workflow_id)
    assert row is not None and row.state == "FLAGGED"
    assert result.snapshot.data["reasons"][0]["reason"] == "POOR_HEALTH"
    assert "flag_posted" in await effect_names(ts_stack, workflow_id)


async def test_a_gap_in_poor_weeks_starts_the_run_again(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment, entity_id: str
):
    env = time_skipping_env
    for week in range(5):
        today = (await env.get_current_time()).date()
        if week != 2:  # no score that week
            result = await signal(
                ts_stack, entity_id, "record_health", {"week_of": today.isoformat(), "rating": "POOR"}
            )
        await env.sleep(timedelta(days=7))
    assert result.snapshot.state == "WATCHING"
    assert result.snapshot.data["health_readings"][-1]["rating"] == "POOR"


async def test_the_weekly_review_asks_the_owner_for_a_status_note_each_week(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment, entity_id: str
):
    env = time_skipping_env
    await signal(ts_stack, entity_id, "add_reason", {"flag_reason": "EVALUATING_ALTERNATIVES"})
    await signal(ts_stack, entity_id, "record_recovery_call", {"held_on": date.today().isoformat()})
    planned = await signal(
        ts_stack, entity_id, "record_recovery_plan", {"scenario": "CANNOT_EXTRACT_VALUE", "actions": "Workshops."}
    )
    workflow_id = workflow_id_for(KIND, planned.snapshot.entity_id)
    start = planned.snapshot.state_entered_at
    await sleep_until(env, start + timedelta(days=6, hours=23))
    assert "status_note_requested" not in await effect_names(ts_stack, workflow_id)
    await sleep_until(env, start + timedelta(days=14, minutes=5))
    requests = [e for e in await effects(ts_stack.sessions, workflow_id) if e.name == "status_note_requested"]
    assert [e.recipients for e in requests] == [["csm@example.com"], ["csm@example.com"]]
    assert "every 7 days" in requests[0].payload["body"] and "workshops" in requests[0].payload["body"].lower()
