"""End to end on the stack ``./dev up`` runs: a won deal opens the customer's onboarding; onboarding
it, three months after the credit purchase, completes it and opens the TAE's handover, whose
readiness reads the onboarding."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.launcher import LaunchedStack

pytestmark = pytest.mark.e2e

SKILLS = ("ACTIONS", "COHORTS", "DATA_TAXONOMY", "NOTEBOOKS", "ACTIVITY_LOG", "INTERNAL_AND_TEST_USER_FILTERING")
CHANGED = "__typename ... on OnboardingChanged { onboarding { state } } ... on Error { message }"


def until(check: Callable[[], Any], what: str, stack: LaunchedStack, within: float = 60) -> Any:
    deadline = time.monotonic() + within
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {within}s\n{stack.log()}")
        time.sleep(0.5)
    return value


def step(stack: LaunchedStack, name: str, input_type: str, variables: dict[str, Any]) -> str:
    data = stack.gql(
        f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {CHANGED} }} }}", {"input": variables}
    )
    result = data[name]
    assert result["__typename"] == "OnboardingChanged", result
    return str(result["onboarding"]["state"])


def test_a_won_deal_opens_the_onboarding_and_its_completion_opens_the_handover(dev_stack: LaunchedStack):
    # Bought four months ago: once onboarded, the three months after the credit purchase are over.
    bought = (datetime.now(UTC) - timedelta(days=122)).date().isoformat()
    # An account of its own on the shared stack: its first onboarding and handover are <account>/1.
    account = f"wayne-{uuid.uuid4().hex[:8]}"
    deal, oid = f"{account}-1", f"{account}/1"
    opened = dev_stack.gql(
        """mutation($input: OpenOpportunityInput!) { openOpportunity(input: $input) { __typename } }""",
        {
            "input": {
                "id": deal,
                "name": "Wayne analytics",
                "account": {"id": account, "name": "Wayne Enterprises"},
                "owner": "tae@example.com",
                "closeDate": bought,
                "contractStartDate": bought,
                "amount": "1500",
            }
        },
    )
    assert opened["openOpportunity"]["__typename"] == "OpportunityChanged"
    won = dev_stack.gql(
        """mutation($input: CloseOpportunityWonInput!) { closeOpportunityWon(input: $input) { __typename } }""",
        {"input": {"id": deal}},
    )
    assert won["closeOpportunityWon"]["__typename"] == "OpportunityChanged", won

    onboarding_query = f"""query {{ onboarding(id: "{oid}") {{ __typename ... on Onboarding {{
        state owner track opportunityId creditPurchasedOn }} }} }}"""
    onboarding = until(
        lambda: (o := dev_stack.gql(onboarding_query)["onboarding"])["__typename"] == "Onboarding" and o,
        "the onboarding",
        dev_stack,
    )
    assert onboarding == {
        "__typename": "Onboarding",
        "state": "PLAN_PENDING",
        "owner": "tae@example.com",
        "track": "SALES_LED",
        "opportunityId": deal,
        "creditPurchasedOn": bought,
    }

    products = ["PRODUCT_ANALYTICS", "SESSION_REPLAY"]
    assert step(dev_stack, "sendOnboardingPlan", "SendOnboardingPlanInput", {"id": oid, "paidProducts": products}) == (
        "IN_PROGRESS"
    )
    for skill in SKILLS:
        step(
            dev_stack, "recordOnboardingSkill", "OnboardingSkillInput", {"id": oid, "skill": skill, "evidence": "shown"}
        )
    for product in products:
        step(
            dev_stack,
            "recordOnboardingProduct",
            "OnboardingProductInput",
            {"id": oid, "product": product, "evidence": "live"},
        )
    step(dev_stack, "recordOnboardingHealthCheck", "OnboardingHealthCheckInput", {"id": oid, "evidence": "done"})
    step(dev_stack, "markOnboarded", "OnboardingStepInput", {"id": oid})

    until(
        lambda: dev_stack.gql(onboarding_query)["onboarding"]["state"] == "COMPLETED",
        "the onboarding completed",
        dev_stack,
    )
    handover_query = f"""query {{ handover(id: "{oid}") {{ __typename ... on Handover {{
        state outgoingOwner outgoingRole reason suggestedTeam onboardedProducts
        readiness {{ key met }} }} }} }}"""
    handover = until(
        lambda: (h := dev_stack.gql(handover_query)["handover"])["__typename"] == "Handover" and h,
        "the handover",
        dev_stack,
    )
    assert (handover["state"], handover["outgoingOwner"], handover["outgoingRole"], handover["reason"]) == (
        "REQUESTED",
        "tae@example.com",
        "TAE",
        "ONBOARDED",
    )
    assert handover["suggestedTeam"] == "TAM" and handover["onboardedProducts"] == products
    readiness = {item["key"]: item["met"] for item in handover["readiness"]}
    assert readiness["onboarding_complete"] is True
