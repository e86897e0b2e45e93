"""End to end on the stack ``./dev up`` runs: a won deal opens the customer's onboarding; onboarding
it, three months after the credit purchase, completes it and opens the TAE's handover, whose
readiness reads the onboarding."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.launcher import LaunchedStack, launched_stack

pytestmark = pytest.mark.e2e

SKILLS = ("ACTIONS", "COHORTS", "DATA_TAXONOMY", "NOTEBOOKS", "ACTIVITY_LOG", "INTERNAL_AND_TEST_USER_FILTERING")
CHANGED = "__typename ... on OnboardingChanged { onboarding { state } } ... on Error { message }"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LaunchedStack]:
    with launched_stack(tmp_path) as s:
        yield s


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


def test_a_won_deal_opens_the_onboarding_and_its_completion_opens_the_handover(stack: LaunchedStack):
    # Bought four months ago: once onboarded, the three months after the credit purchase are over.
    bought = (datetime.now(UTC) - timedelta(days=122)).date().isoformat()
    opened = stack.gql(
        """mutation($input: OpenOpportunityInput!) { openOpportunity(input: $input) { __typename } }""",
        {
            "input": {
                "id": "wayne-1",
                "name": "Wayne analytics",
                "account": {"id": "wayne", "name": "Wayne Enterprises"},
                "owner": "tae@example.com",
                "closeDate": bought,
                "contractStartDate": bought,
                "amount": "1500",
            }
        },
    )
    assert opened["openOpportunity"]["__typename"] == "OpportunityChanged"
    won = stack.gql(
        """mutation($input: CloseOpportunityWonInput!) { closeOpportunityWon(input: $input) { __typename } }""",
        {"input": {"id": "wayne-1"}},
    )
    assert won["closeOpportunityWon"]["__typename"] == "OpportunityChanged", won

    onboarding_query = """query { onboarding(id: "wayne/1") { __typename ... on Onboarding {
        state owner track opportunityId creditPurchasedOn } } }"""
    onboarding = until(
        lambda: (o := stack.gql(onboarding_query)["onboarding"])["__typename"] == "Onboarding" and o,
        "the onboarding",
        stack,
    )
    assert onboarding == {
        "__typename": "Onboarding",
        "state": "PLAN_PENDING",
        "owner": "tae@example.com",
        "track": "SALES_LED",
        "opportunityId": "wayne-1",
        "creditPurchasedOn": bought,
    }

    products = ["PRODUCT_ANALYTICS", "SESSION_REPLAY"]
    oid = "wayne/1"
    assert step(stack, "sendOnboardingPlan", "SendOnboardingPlanInput", {"id": oid, "paidProducts": products}) == (
        "IN_PROGRESS"
    )
    for skill in SKILLS:
        step(stack, "recordOnboardingSkill", "OnboardingSkillInput", {"id": oid, "skill": skill, "evidence": "shown"})
    for product in products:
        step(
            stack,
            "recordOnboardingProduct",
            "OnboardingProductInput",
            {"id": oid, "product": product, "evidence": "live"},
        )
    step(stack, "recordOnboardingHealthCheck", "OnboardingHealthCheckInput", {"id": oid, "evidence": "done"})
    step(stack, "markOnboarded", "OnboardingStepInput", {"id": oid})

    until(lambda: stack.gql(onboarding_query)["onboarding"]["state"] == "COMPLETED", "the onboarding completed", stack)
    handover_query = """query { handover(id: "wayne/1") { __typename ... on Handover {
        state outgoingOwner outgoingRole reason suggestedTeam onboardedProducts
        readiness { key met } } } }"""
    handover = until(
        lambda: (h := stack.gql(handover_query)["handover"])["__typename"] == "Handover" and h,
        "the handover",
        stack,
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
