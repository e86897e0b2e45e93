"""End to end on the dev stack (``./dev up``): a signed usage reading showing a drop opens a
churn risk and marks the account's renewal at risk; the recovery clears it."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.launcher import LaunchedStack

pytestmark = pytest.mark.e2e

START = """mutation($input: StartRenewalInput!) { startRenewal(input: $input) {
  __typename ... on RenewalChanged { renewal { atRisk } } } }"""
RENEWAL = """query($id: ID!) { renewal(contractId: $id) { ... on Renewal { atRisk atRiskChurnRisks } } }"""
RISKS = """query($account: String!) { churnRisks(filter: {accountId: $account}) { nodes { id state flagReasons } } }"""
CALL = """mutation($input: ChurnRecoveryCallInput!) { recordChurnRecoveryCall(input: $input) { __typename } }"""
PLAN = """mutation($input: ChurnRecoveryPlanInput!) { recordChurnRecoveryPlan(input: $input) { __typename } }"""
RECOVERED = """mutation($input: ChurnRiskReasonInput!) { markChurnRiskRecovered(input: $input) {
  __typename ... on ChurnRiskChanged { churnRisk { state } } } }"""


def until(check: Callable[[], Any], within: float = 60) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"not met within {within}s: {value!r}"
        time.sleep(0.3)


def signed(payload: bytes, secret: str) -> str:
    t = int(time.time())
    return f"t={t},v1={hmac.new(secret.encode(), f'{t}.'.encode() + payload, hashlib.sha256).hexdigest()}"


def test_a_usage_drop_flags_the_account_marks_its_renewal_and_recovery_clears_it(dev_stack: LaunchedStack):
    today = datetime.now(UTC).date().isoformat()
    # An account of its own on the shared stack: its first churn risk is <account>/1.
    account = f"acme-{uuid.uuid4().hex[:8]}"
    contract, risk = f"{account}-2026", f"{account}/1"
    started = dev_stack.gql(
        START,
        {
            "input": {
                "contractId": contract,
                "account": {"id": account, "name": "ACME"},
                "startDate": today,
                "creditAmount": "60000",
                "annualSpend": "45000",
            }
        },
    )
    assert started["startRenewal"]["renewal"]["atRisk"] is False

    secret = (dev_stack.data_dir / "dev-signal-webhook-secret").read_text().strip()
    event = {
        "id": f"sig_e2e_{account}",
        "type": "usage.reading",
        "created": int(time.time()),
        "data": {
            "account": {"id": account, "name": "ACME"},
            "owner": "csm@example.com",
            "usage": "420",
            "baseline": "1000",
            "measured_on": today,
        },
    }
    payload = json.dumps(event).encode()
    response = dev_stack.http.post(
        f"{dev_stack.url}/signals/events",
        content=payload,
        headers={"content-type": "application/json", "stripe-signature": signed(payload, secret)},
    )
    assert response.status_code == 200 and response.json()["outcome"] == "processed", response.text

    risks = dev_stack.gql(RISKS, {"account": account}, role="viewer")["churnRisks"]["nodes"]
    assert risks == [{"id": risk, "state": "FLAGGED", "flagReasons": ["USAGE_DROP"]}]

    def renewal() -> dict[str, Any]:
        return dev_stack.gql(RENEWAL, {"id": contract}, role="viewer")["renewal"]

    until(lambda: renewal()["atRiskChurnRisks"] == [risk] or None)
    assert renewal()["atRisk"] is True

    assert dev_stack.gql(CALL, {"input": {"id": risk, "heldOn": today}})["recordChurnRecoveryCall"] == {
        "__typename": "ChurnRiskChanged"
    }
    plan = {"id": risk, "scenario": "CANNOT_EXTRACT_VALUE", "actions": "Two dashboard workshops"}
    assert dev_stack.gql(PLAN, {"input": plan})["recordChurnRecoveryPlan"]["__typename"] == "ChurnRiskChanged"
    done = dev_stack.gql(RECOVERED, {"input": {"id": risk, "reason": "Usage back to baseline"}})
    assert done["markChurnRiskRecovered"]["churnRisk"]["state"] == "RECOVERED"
    until(lambda: renewal() == {"atRisk": False, "atRiskChurnRisks": []} or None)
