"""Billing events in Stripe's format: signed ones act once, in order; anything else changes nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

from services.api import create_app
from services.settings import Settings
from tests.conftest import Api, Stack, serve

SECRET = "whsec_test_0123456789abcdef"
PATH = "/billing/stripe/events"
STATE = """query($id: ID!) { latePayment(invoiceId: $id) { __typename ... on LatePayment {
  state failedAttempts owed version collectionMethod paymentLink contactEmails account { id name } } } }"""


def stripe_signature(payload: bytes, secret: str = SECRET, timestamp: int | None = None) -> str:
    """Stripe's scheme, written out independently of the code under test."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def event(
    kind: str, invoice_id: str, *, created: int | None = None, event_id: str | None = None, **invoice: Any
) -> bytes:
    body = {
        "id": event_id or f"evt_{uuid.uuid4().hex[:16]}",
        "object": "event",
        "type": kind,
        "created": created or int(time.time()),
        "data": {
            "object": {
                "id": invoice_id,
                "object": "invoice",
                "customer": "cus_acme",
                "customer_email": "ap@acme.test",
                "amount_due": 420000,
                "amount_remaining": 420000,
                "currency": "usd",
                "collection_method": "charge_automatically",
                "attempt_count": 1,
                "hosted_invoice_url": "https://invoice.stripe.com/i/acme",
                "metadata": {"account_id": "acme", "account_name": "ACME", "owner": "csm@example.com"},
                **invoice,
            }
        },
    }
    return json.dumps(body).encode()


@pytest.fixture
async def billing(local_stack: Stack) -> AsyncIterator[Api]:
    settings: Settings = local_stack.settings.model_copy(update={"stripe_webhook_secret": SecretStr(SECRET)})
    async with serve(create_app(settings, client=local_stack.client)) as http:
        yield Api(http, local_stack)


async def post(api: Api, payload: bytes, signature: str | None = "sign") -> Any:
    headers = {"content-type": "application/json"}
    if signature == "sign":
        headers["stripe-signature"] = stripe_signature(payload)
    elif signature is not None:
        headers["stripe-signature"] = signature
    return await api.http.post(PATH, content=payload, headers=headers)


async def state(api: Api, invoice_id: str) -> dict[str, Any]:
    return (await api.gql(STATE, {"id": invoice_id}, role="viewer"))["latePayment"]


async def test_a_failed_payment_opens_then_records_attempts_once_each(billing: Api, entity_id: str):
    first = event("invoice.payment_failed", entity_id)
    response = await post(billing, first)
    assert response.status_code == 200 and response.json()["outcome"] == "processed"
    opened = await state(billing, entity_id)
    assert opened == {
        "__typename": "LatePayment",
        "state": "OVERDUE",
        "failedAttempts": 1,
        "owed": "4200.00",
        "version": 1,
        "collectionMethod": "CARD",
        "paymentLink": "https://invoice.stripe.com/i/acme",
        "contactEmails": ["ap@acme.test"],
        "account": {"id": "acme", "name": "ACME"},
    }
    again = await post(billing, first)  # the provider delivers the same event twice
    assert again.json()["outcome"] == "duplicate"
    second = event("invoice.payment_failed", entity_id, attempt_count=2)
    assert (await post(billing, second)).json()["outcome"] == "processed"
    assert (await post(billing, second)).json()["outcome"] == "duplicate"
    after = await state(billing, entity_id)
    assert (after["failedAttempts"], after["version"]) == (2, 2)


async def test_paid_settles_and_an_older_event_arriving_late_is_ignored(billing: Api, entity_id: str):
    now = int(time.time())
    failed = event("invoice.payment_failed", entity_id, created=now - 100)
    await post(billing, failed)
    retried_late = event("invoice.payment_failed", entity_id, created=now - 50, attempt_count=2)
    paid = event("invoice.paid", entity_id, created=now, amount_remaining=0, charge="ch_1")
    assert (await post(billing, paid)).json()["outcome"] == "processed"
    assert (await state(billing, entity_id))["state"] == "PAID"
    late = await post(billing, retried_late)
    assert late.json()["outcome"] == "stale"
    assert (await state(billing, entity_id))["version"] == 2


async def test_a_paid_event_for_an_invoice_that_never_was_late_is_ignored(billing: Api, entity_id: str):
    response = await post(billing, event("invoice.paid", entity_id))
    assert response.json()["outcome"] == "ignored"
    assert (await state(billing, entity_id))["__typename"] == "NotFound"


async def test_voided_voids(billing: Api, entity_id: str):
    await post(billing, event("invoice.payment_failed", entity_id))
    assert (await post(billing, event("invoice.voided", entity_id))).json()["outcome"] == "processed"
    assert (await state(billing, entity_id))["state"] == "VOIDED"
    refused = await post(billing, event("invoice.paid", entity_id))
    assert refused.json()["outcome"] == "refused" and "InvalidTransition" in refused.json()["detail"]


async def test_an_overdue_invoice_on_terms_opens_with_its_due_date(billing: Api, entity_id: str):
    due = int(time.time()) - 3 * 86400
    response = await post(billing, event("invoice.overdue", entity_id, collection_method="send_invoice", due_date=due))
    assert response.json()["outcome"] == "processed"
    assert (await state(billing, entity_id))["collectionMethod"] == "INVOICE"
    not_late = await post(
        billing,
        event("invoice.overdue", f"{entity_id}-2", collection_method="send_invoice", due_date=int(time.time()) + 86400),
    )
    assert not_late.json()["outcome"] == "refused"
    assert (await state(billing, f"{entity_id}-2"))["__typename"] == "NotFound"


async def test_other_event_types_are_acknowledged_and_ignored(billing: Api):
    payload = json.dumps(
        {"id": "evt_cust", "type": "customer.created", "created": int(time.time()), "data": {"object": {"id": "cus_1"}}}
    ).encode()
    assert (await post(billing, payload)).json()["outcome"] == "ignored"


@pytest.mark.parametrize(
    "signature",
    [
        None,  # unsigned
        "t=1,v1=deadbeef",  # garbage
        "forged",  # signed with another secret
        "stale",  # signed ten minutes ago
        "tampered",  # signed, then the body changed
    ],
)
async def test_unsigned_forged_stale_or_tampered_events_change_nothing(billing: Api, entity_id: str, signature):
    payload = event("invoice.payment_failed", entity_id)
    header = {
        "forged": stripe_signature(payload, secret="whsec_someone_else_0123"),
        "stale": stripe_signature(payload, timestamp=int(time.time()) - 600),
        "tampered": stripe_signature(payload),
    }.get(signature, signature)
    body = payload.replace(b"420000", b"1") if signature == "tampered" else payload
    response = await post(billing, body, header)
    assert response.status_code == 400, response.text
    assert (await state(billing, entity_id))["__typename"] == "NotFound"


async def test_a_signed_but_malformed_event_is_refused(billing: Api):
    for payload in (b"not json", b"[]", b'{"type": "invoice.paid"}'):
        response = await post(billing, payload)
        assert response.status_code == 400 and "malformed" in response.json()["error"]


async def test_without_a_secret_the_endpoint_is_off(api: Api):
    response = await api.http.post(PATH, content=b"{}", headers={"stripe-signature": "t=1,v1=x"})
    assert response.status_code == 404


def subscription_deleted(account_id: str, *, event_id: str | None = None) -> bytes:
    body = {
        "id": event_id or f"evt_{uuid.uuid4().hex[:16]}",
        "object": "event",
        "type": "customer.subscription.deleted",
        "created": int(time.time()),
        "data": {
            "object": {
                "id": "sub_1",
                "object": "subscription",
                "customer": f"cus_{account_id}",
                "metadata": {"account_id": account_id},
            }
        },
    }
    return json.dumps(body).encode()


ONBOARDING = """query($id: ID!) { onboarding(id: $id) { __typename
  ... on Onboarding { state version churn { source reason } } } }"""
OPEN_ONBOARDING = """mutation($input: OpenOnboardingInput!) { openOnboarding(input: $input) { __typename
  ... on OnboardingChanged { onboarding { id } } } }"""


CHURN_RISK = """query($id: ID!) { churnRisk(id: $id) { __typename ... on ChurnRisk { state version } } }"""
FLAG = """mutation($input: FlagChurnRiskInput!) { flagChurnRisk(input: $input) { __typename
  ... on ChurnRiskChanged { churnRisk { id } } } }"""


async def test_a_cancelled_subscription_churns_the_accounts_open_onboarding_and_churn_risk_once(
    billing: Api, entity_id: str
):
    flagged = await billing.gql(
        FLAG, {"input": {"account": {"id": entity_id, "name": "ACME"}, "flagReason": "CHAMPION_LEFT"}}
    )
    churn_risk_id = flagged["flagChurnRisk"]["churnRisk"]["id"]
    opened = await billing.gql(
        OPEN_ONBOARDING,
        {
            "input": {
                "account": {"id": entity_id, "name": "ACME"},
                "owner": "tae@example.com",
                "ownerRole": "TAE",
                "track": "SALES_LED",
                "arr": "72000",
                "paidProducts": ["PRODUCT_ANALYTICS"],
            }
        },
    )
    onboarding_id = opened["openOnboarding"]["onboarding"]["id"]

    payload = subscription_deleted(entity_id)
    first = (await post(billing, payload)).json()
    assert first["outcome"] == "processed" and onboarding_id in first["detail"], first
    assert (await billing.gql(CHURN_RISK, {"id": churn_risk_id}, role="viewer"))["churnRisk"]["state"] == "CHURNED"
    churned = (await billing.gql(ONBOARDING, {"id": onboarding_id}, role="viewer"))["onboarding"]
    assert churned["state"] == "CHURNED"
    assert churned["churn"]["source"] == "BILLING" and "Subscription cancelled" in churned["churn"]["reason"]

    risk = (await billing.gql(CHURN_RISK, {"id": churn_risk_id}, role="viewer"))["churnRisk"]
    assert (await post(billing, payload)).json()["outcome"] == "duplicate"
    assert (await billing.gql(ONBOARDING, {"id": onboarding_id}, role="viewer"))["onboarding"] == churned
    assert (await billing.gql(CHURN_RISK, {"id": churn_risk_id}, role="viewer"))["churnRisk"] == risk


async def test_a_cancelled_subscription_without_an_open_onboarding_is_ignored(billing: Api, entity_id: str):
    assert (await post(billing, subscription_deleted(entity_id))).json()["outcome"] == "ignored"
    nameless = json.dumps(
        {
            "id": "evt_anon",
            "type": "customer.subscription.deleted",
            "created": int(time.time()),
            "data": {"object": {"id": "sub_2"}},
        }
    ).encode()
    assert (await post(billing, nameless)).json()["outcome"] == "refused"
