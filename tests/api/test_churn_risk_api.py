"""Churn risks over GraphQL against a real worker: flags and signals by account (one open churn
risk per account), each step, each typed refusal that changes nothing, the renewal's at-risk
flag set and cleared; and the signed signal webhook."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from services.api import create_app
from services.settings import Settings
from tests.api.documents import REFUSALS, mutation
from tests.conftest import Api, Stack, serve
from tests.workflows.helpers import eventually

CHANGED = """
  ... on ChurnRiskChanged {
    churnRisk { id state version owner flagReasons flaggedAt recoveryCallDueAt consecutivePoorWeeks
                account { id name } reasons { reason note recordedBy }
                usageReadings { usage baseline seasonal }
                recoveryPlan { scenario strategy actions } statusNotes { note } }
    transition { seq trigger fromState toState actor reason }
  }
"""


def unguarded(name: str, input_type: str) -> str:
    """A mutation whose trigger has no guard: its result union has no GuardFailed."""
    refusals = REFUSALS.replace("... on GuardFailed { unmet { guard message } }", "")
    return f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ __typename {CHANGED} {refusals} }} }}"


FLAG = mutation("flagChurnRisk", "FlagChurnRiskInput", CHANGED)
USAGE = unguarded("recordUsageReading", "UsageReadingInput")
HEALTH = unguarded("recordHealthReading", "HealthReadingInput")
SIGNAL = unguarded("recordChurnSignal", "ChurnSignalInput")
CALL = unguarded("recordChurnRecoveryCall", "ChurnRecoveryCallInput")
PLAN = unguarded("recordChurnRecoveryPlan", "ChurnRecoveryPlanInput")
NOTE = unguarded("recordChurnStatusNote", "ChurnStatusNoteInput")
RECOVERED = mutation("markChurnRiskRecovered", "ChurnRiskReasonInput", CHANGED)
CHURNED = mutation("recordChurn", "ChurnRiskReasonInput", CHANGED)
START_RENEWAL = mutation("startRenewal", "StartRenewalInput", "... on RenewalChanged { renewal { contractId atRisk } }")

ACCOUNT_RISKS = """query($account: String!) { churnRisks(filter: {accountId: $account}) {
  totalCount nodes { id state version flagReasons } } }"""
RENEWAL = """query($id: ID!) { renewal(contractId: $id) { ... on Renewal {
  atRisk atRiskChurnRisks atRiskFlag { reason } } } }"""

TODAY = datetime.now(UTC).date()


def account(account_id: str) -> dict[str, str]:
    return {"id": account_id, "name": "ACME"}


async def call(api: Api, query: str, variables: dict[str, Any], *, role: str = "operator") -> dict[str, Any]:
    data = await api.gql(query, {"input": variables}, role=role)
    return next(iter(data.values()))


async def risks(api: Api, account_id: str) -> dict[str, Any]:
    return (await api.gql(ACCOUNT_RISKS, {"account": account_id}, role="viewer"))["churnRisks"]


async def refused(
    api: Api, account_id: str, query: str, variables: dict[str, Any], typename: str, *, role: str = "operator"
) -> dict[str, Any]:
    """Send a request that must be refused with ``typename`` and must change nothing."""
    before = await risks(api, account_id)
    result = await call(api, query, variables, role=role)
    assert result["__typename"] == typename, result
    assert await risks(api, account_id) == before
    return result


def usage(account_id: str, value: Any, baseline: Any = "1000", **fields: Any) -> dict[str, Any]:
    return {
        "account": account(account_id),
        "usage": value,
        "baseline": baseline,
        "measuredOn": TODAY.isoformat(),
        **fields,
    }


async def walk_to_recovery(api: Api, churn_risk_id: str) -> None:
    held = await call(api, CALL, {"id": churn_risk_id, "heldOn": TODAY.isoformat(), "notes": "Listened."})
    assert held["churnRisk"]["state"] == "RECOVERY_CALL_HELD", held
    planned = await call(
        api, PLAN, {"id": churn_risk_id, "scenario": "BUILDS_INTERNALLY_OR_SWITCHES", "actions": "Replay demo."}
    )
    assert planned["churnRisk"]["state"] == "IN_RECOVERY"
    assert planned["churnRisk"]["recoveryPlan"]["strategy"].startswith("Drive multi-product adoption")


# ---- flags by account ------------------------------------------------------------------------


async def test_a_flag_opens_the_accounts_churn_risk_and_a_second_adds_its_reason(api: Api, entity_id: str):
    first = await call(
        api, FLAG, {"account": account(entity_id), "flagReason": "CHAMPION_LEFT", "note": "Dana left in May."}
    )
    assert first["__typename"] == "ChurnRiskChanged", first
    risk = first["churnRisk"]
    assert risk["id"] == f"{entity_id}/1" and risk["state"] == "FLAGGED"
    assert risk["owner"] == "otto@example.com" and risk["flagReasons"] == ["CHAMPION_LEFT"]
    assert risk["reasons"] == [
        {"reason": "CHAMPION_LEFT", "note": "Dana left in May.", "recordedBy": "otto@example.com"}
    ]
    due = datetime.fromisoformat(risk["recoveryCallDueAt"]) - datetime.fromisoformat(risk["flaggedAt"])
    assert due == timedelta(hours=48)

    second = await call(api, FLAG, {"account": account(entity_id), "flagReason": "DATA_EXPORT_REQUESTED"})
    assert second["churnRisk"]["id"] == f"{entity_id}/1"
    assert second["churnRisk"]["flagReasons"] == ["CHAMPION_LEFT", "DATA_EXPORT_REQUESTED"]
    assert second["transition"]["trigger"] == "add_reason" and second["transition"]["toState"] == "FLAGGED"
    assert (await risks(api, entity_id))["totalCount"] == 1


async def test_two_first_flags_at_once_share_one_churn_risk(api: Api, entity_id: str):
    results = await asyncio.gather(
        call(api, FLAG, {"account": account(entity_id), "flagReason": "CHAMPION_LEFT"}),
        call(api, FLAG, {"account": account(entity_id), "flagReason": "EVALUATING_ALTERNATIVES"}),
    )
    assert {r["__typename"] for r in results} == {"ChurnRiskChanged"}, results
    found = await risks(api, entity_id)
    assert found["totalCount"] == 1
    assert sorted(found["nodes"][0]["flagReasons"]) == ["CHAMPION_LEFT", "EVALUATING_ALTERNATIVES"]


async def test_a_retried_flag_with_its_idempotency_key_applies_once(api: Api, entity_id: str):
    request = {"account": account(entity_id), "flagReason": "CHAMPION_LEFT", "idempotencyKey": "flag-1"}
    first = await call(api, FLAG, request)
    again = await call(api, FLAG, request)
    assert again["transition"] == first["transition"]
    assert (await risks(api, entity_id))["nodes"][0]["version"] == first["churnRisk"]["version"]


async def test_the_same_reason_again_is_refused_and_changes_nothing(api: Api, entity_id: str):
    await call(api, FLAG, {"account": account(entity_id), "flagReason": "CHAMPION_LEFT"})
    again = await refused(
        api, entity_id, FLAG, {"account": account(entity_id), "flagReason": "CHAMPION_LEFT"}, "GuardFailed"
    )
    assert again["unmet"] == [{"guard": "new_reason", "message": "The account is already at risk for CHAMPION_LEFT."}]


async def test_an_unknown_flag_reason_is_a_typed_error_and_opens_nothing(api: Api, entity_id: str):
    response = await api.post(FLAG, {"input": {"account": account(entity_id), "flagReason": "BAD_VIBES"}})
    errors = response.json()["errors"]
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT" and "BAD_VIBES" in errors[0]["message"]
    assert (await risks(api, entity_id))["totalCount"] == 0


async def test_viewers_and_bad_accounts_open_nothing(api: Api, entity_id: str):
    forbidden = await refused(
        api, entity_id, FLAG, {"account": account(entity_id), "flagReason": "CHAMPION_LEFT"}, "Forbidden", role="viewer"
    )
    assert forbidden["requiredRole"] == "OPERATOR"
    bad = await call(api, FLAG, {"account": {"id": "has space", "name": "X"}, "flagReason": "CHAMPION_LEFT"})
    assert bad["__typename"] == "ValidationError" and bad["fields"][0]["field"] == "account.id"
    assert (await risks(api, "has space"))["totalCount"] == 0


# ---- readings and signals --------------------------------------------------------------------


async def test_a_usage_drop_opens_a_flagged_churn_risk_a_small_one_a_watched_one(api: Api, entity_id: str):
    calm = await call(api, USAGE, usage(entity_id, "900"))
    assert calm["churnRisk"]["state"] == "WATCHING" and calm["churnRisk"]["flagReasons"] == []
    seasonal = await call(api, USAGE, usage(entity_id, "100", seasonal=True))
    assert seasonal["churnRisk"]["state"] == "WATCHING"
    dropped = await call(api, USAGE, usage(entity_id, "650"))
    assert dropped["churnRisk"]["state"] == "FLAGGED" and dropped["churnRisk"]["flagReasons"] == ["USAGE_DROP"]
    assert dropped["churnRisk"]["id"] == f"{entity_id}/1" and len(dropped["churnRisk"]["usageReadings"]) == 3


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"usage": "-1"}, "usage"),
        ({"baseline": "0"}, "baseline"),
        ({"measuredOn": (TODAY + timedelta(days=2)).isoformat()}, "measuredOn"),
    ],
)
async def test_a_bad_reading_is_refused_and_opens_nothing(api: Api, entity_id: str, fields, field):
    result = await refused(api, entity_id, USAGE, {**usage(entity_id, "10"), **fields}, "ValidationError")
    assert [f["field"] for f in result["fields"]] == [field]


async def test_a_reading_without_a_number_is_refused_and_opens_nothing(api: Api, entity_id: str):
    reading = usage(entity_id, "10")
    del reading["usage"]
    response = await api.post(USAGE, {"input": reading})
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    not_a_number = await call(api, USAGE, usage(entity_id, "ten"))
    assert not_a_number["__typename"] == "ValidationError" and not_a_number["fields"][0]["field"] == "usage"
    assert (await risks(api, entity_id))["totalCount"] == 0


async def test_a_bad_reading_on_an_open_churn_risk_changes_nothing(api: Api, entity_id: str):
    await call(api, FLAG, {"account": account(entity_id), "flagReason": "CHAMPION_LEFT"})
    await refused(api, entity_id, USAGE, usage(entity_id, "-5"), "ValidationError")


async def test_health_and_other_signals_by_account(api: Api, entity_id: str):
    poor = await call(api, HEALTH, {"account": account(entity_id), "weekOf": TODAY.isoformat(), "rating": "POOR"})
    assert poor["churnRisk"]["state"] == "WATCHING" and poor["churnRisk"]["consecutivePoorWeeks"] == 1
    renewal_far = await call(
        api,
        SIGNAL,
        {
            "account": account(entity_id),
            "signal": "RENEWAL_NEGATIVE_ENGAGEMENT",
            "renewalEndsOn": (TODAY + timedelta(days=200)).isoformat(),
        },
    )
    assert renewal_far["churnRisk"]["state"] == "WATCHING"
    missing = await refused(
        api,
        entity_id,
        SIGNAL,
        {"account": account(entity_id), "signal": "RENEWAL_NEGATIVE_ENGAGEMENT"},
        "ValidationError",
    )
    assert "renewal_ends_on is required" in missing["fields"][0]["message"]
    export = await call(api, SIGNAL, {"account": account(entity_id), "signal": "DATA_EXPORT_REQUESTED"})
    assert export["churnRisk"]["state"] == "FLAGGED" and export["churnRisk"]["flagReasons"] == ["DATA_EXPORT_REQUESTED"]


# ---- the path, and the renewal's flag ------------------------------------------------------------


async def test_while_open_the_renewal_is_at_risk_and_recovery_clears_only_its_flag(api: Api, entity_id: str):
    contract = f"{entity_id}-c"
    started = await call(
        api,
        START_RENEWAL,
        {
            "contractId": contract,
            "account": account(entity_id),
            "startDate": TODAY.isoformat(),
            "creditAmount": "60000",
            "annualSpend": "45000",
        },
    )
    assert started["renewal"]["atRisk"] is False
    flagged = await call(api, USAGE, usage(entity_id, "500"))
    risk_id = flagged["churnRisk"]["id"]

    async def renewal() -> dict[str, Any]:
        return (await api.gql(RENEWAL, {"id": contract}, role="viewer"))["renewal"]

    marked = await eventually(lambda: _when(renewal(), lambda r: r["atRiskChurnRisks"] == [risk_id]))
    assert marked["atRisk"] is True
    operator_flag = mutation("markRenewalAtRisk", "MarkRenewalAtRiskInput", "__typename")
    await call(api, operator_flag, {"contractId": contract, "reason": "Budget cut"})

    await walk_to_recovery(api, risk_id)
    note = await call(api, NOTE, {"id": risk_id, "note": "Replay adopted by two teams."})
    assert note["churnRisk"]["statusNotes"] == [{"note": "Replay adopted by two teams."}]
    unreasoned = await call(api, RECOVERED, {"id": risk_id})
    assert unreasoned["__typename"] == "GuardFailed"
    done = await call(api, RECOVERED, {"id": risk_id, "reason": "Usage back above baseline."})
    assert done["churnRisk"]["state"] == "RECOVERED"
    cleared = await eventually(lambda: _when(renewal(), lambda r: r["atRiskChurnRisks"] == []))
    assert cleared["atRisk"] is True and cleared["atRiskFlag"] == {"reason": "Budget cut"}

    # Recovered, it is closed: the next flag opens the account's next churn risk.
    again = await call(api, FLAG, {"account": account(entity_id), "flagReason": "EVALUATING_ALTERNATIVES"})
    assert again["churnRisk"]["id"] == f"{entity_id}/2"
    closed = await call(api, CALL, {"id": risk_id, "heldOn": TODAY.isoformat()})
    assert closed["__typename"] == "InvalidTransition"


async def _when(value: Any, check: Any) -> Any:
    got = await value
    return got if check(got) else None


async def test_churned_and_steps_out_of_order(api: Api, entity_id: str):
    flagged = await call(api, FLAG, {"account": account(entity_id), "flagReason": "EVALUATING_ALTERNATIVES"})
    risk_id = flagged["churnRisk"]["id"]
    early = await call(api, PLAN, {"id": risk_id, "scenario": "CHAMPION_LEAVES", "actions": "x"})
    assert early["__typename"] == "InvalidTransition" and early["state"] == "FLAGGED"
    future = await call(api, CALL, {"id": risk_id, "heldOn": (TODAY + timedelta(days=3)).isoformat()})
    assert future["__typename"] == "ValidationError" and future["fields"][0]["field"] == "heldOn"
    churned = await call(api, CHURNED, {"id": risk_id, "reason": "Moved to an in-house stack."})
    assert churned["churnRisk"]["state"] == "CHURNED"
    query = """query($id: ID!) { churnRisk(id: $id) { ... on ChurnRisk { terminal effects { name recipients } } } }"""
    found = (await api.gql(query, {"id": risk_id}, role="viewer"))["churnRisk"]
    assert found["terminal"] is True
    retro = next(e for e in found["effects"] if e["name"] == "churn_retro_due")
    assert "channel:customer-churn" in retro["recipients"]
    missing = await call(api, NOTE, {"id": f"{entity_id}/9", "note": "x"})
    assert missing["__typename"] == "NotFound"


# ---- the signed signal webhook -----------------------------------------------------------------

SECRET = "whsec_signals_0123456789abcdef"
PATH = "/signals/events"


def signature(payload: bytes, secret: str = SECRET, timestamp: int | None = None) -> str:
    """Stripe's scheme, written out independently of the code under test."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def signal_event(event_type: str, account_id: str, event_id: str | None = None, **data: Any) -> bytes:
    body = {
        "id": event_id or f"sig_{uuid.uuid4().hex[:16]}",
        "type": event_type,
        "created": int(time.time()),
        "data": {"account": account(account_id), "owner": "csm@example.com", **data},
    }
    return json.dumps(body).encode()


@pytest.fixture
async def signals(local_stack: Stack) -> AsyncIterator[Api]:
    settings: Settings = local_stack.settings.model_copy(update={"signal_webhook_secret": SecretStr(SECRET)})
    async with serve(create_app(settings, client=local_stack.client)) as http:
        yield Api(http, local_stack)


async def post(api: Api, payload: bytes, header: str | None = "sign") -> Any:
    headers = {"content-type": "application/json"}
    if header == "sign":
        headers["stripe-signature"] = signature(payload)
    elif header is not None:
        headers["stripe-signature"] = header
    return await api.http.post(PATH, content=payload, headers=headers)


async def test_a_signed_usage_reading_flags_the_account_once(signals: Api, entity_id: str):
    payload = signal_event(
        "usage.reading", entity_id, usage="400", baseline="1000", measured_on=TODAY.isoformat(), event_id="sig_1"
    )
    response = await post(signals, payload)
    assert response.status_code == 200 and response.json()["outcome"] == "processed", response.text
    opened = await risks(signals, entity_id)
    assert opened["nodes"] == [
        {"id": f"{entity_id}/1", "state": "FLAGGED", "version": 2, "flagReasons": ["USAGE_DROP"]}
    ]
    replayed = await post(signals, payload)
    assert replayed.status_code == 200 and replayed.json()["outcome"] == "duplicate"
    assert await risks(signals, entity_id) == opened
    health = signal_event("health.reading", entity_id, week_of=TODAY.isoformat(), rating="POOR")
    assert (await post(signals, health)).json()["outcome"] == "processed"
    query = """query($id: ID!) { churnRisk(id: $id) { ... on ChurnRisk { owner healthReadings { rating } } } }"""
    found = (await signals.gql(query, {"id": f"{entity_id}/1"}, role="viewer"))["churnRisk"]
    assert found == {"owner": "csm@example.com", "healthReadings": [{"rating": "POOR"}]}


@pytest.mark.parametrize("header", [None, "t=1,v1=deadbeef", "forged", "stale", "tampered"])
async def test_unsigned_forged_stale_or_tampered_signals_change_nothing(signals: Api, entity_id: str, header):
    payload = signal_event("usage.reading", entity_id, usage="1", baseline="1000", measured_on=TODAY.isoformat())
    sent = {
        "forged": signature(payload, secret="whsec_someone_else_0123"),
        "stale": signature(payload, timestamp=int(time.time()) - 600),
        "tampered": signature(payload),
    }.get(header, header)
    body = payload.replace(b'"usage": "1"', b'"usage": "2"') if header == "tampered" else payload
    response = await post(signals, body, sent)
    assert response.status_code == 400, response.text
    assert (await risks(signals, entity_id))["totalCount"] == 0


async def test_bad_and_unknown_signals_are_recorded_and_change_nothing(signals: Api, entity_id: str):
    negative = signal_event("usage.reading", entity_id, usage="-3", baseline="1000", measured_on=TODAY.isoformat())
    answer = (await post(signals, negative)).json()
    assert answer["outcome"] == "refused" and "usage" in answer["detail"]
    no_number = signal_event("usage.reading", entity_id, baseline="1000", measured_on=TODAY.isoformat())
    assert (await post(signals, no_number)).json()["outcome"] == "refused"
    unknown = signal_event("mood.reading", entity_id, mood="grumpy")
    assert (await post(signals, unknown)).json()["outcome"] == "ignored"
    assert (await risks(signals, entity_id))["totalCount"] == 0
    for malformed in (b"not json", b'{"type": "usage.reading"}'):
        assert (await post(signals, malformed)).status_code == 400


async def test_without_a_secret_the_signal_endpoint_is_off(api: Api):
    response = await api.http.post(PATH, content=b"{}", headers={"stripe-signature": "t=1,v1=x"})
    assert response.status_code == 404
