"""Late payments over GraphQL: each mutation, each refusal, the list with its totals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.documents import mutation
from tests.conftest import Api
from tests.workflows.helpers import eventually

CHANGED = """
  ... on LatePaymentChanged {
    latePayment { invoiceId state owed paid credited accessSuspended failedAttempts automaticCollectionStopped
                  version chaser nextStep { name trigger dueAt } }
    transition { seq trigger actor reason }
  }
"""


OPEN = mutation("openLatePayment", "OpenLatePaymentInput", CHANGED)
FAILED = mutation("recordFailedPayment", "FailedPaymentInput", CHANGED)
PAY = mutation("recordPayment", "RecordPaymentInput", CHANGED)
EXTEND = mutation("grantPaymentExtension", "PaymentExtensionInput", CHANGED)
CREDIT = mutation("applyCreditNote", "CreditNoteInput", CHANGED)
ADVANCE = mutation("recordAdvancePayment", "AdvancePaymentInput", CHANGED)
DECLINE = mutation("declineAdvancePayment", "InvoiceReasonInput", CHANGED)
VOID = mutation("voidInvoice", "InvoiceReasonInput", CHANGED)

STATE = """query($id: ID!) { latePayment(invoiceId: $id) { __typename ... on LatePayment {
  state version owed history { totalCount } effects { id } } } }"""

YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()


def invoice(invoice_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "invoiceId": invoice_id,
        "account": {"id": "acme", "name": "ACME"},
        "owner": "csm@example.com",
        "amount": "4200.00",
        "currency": "EUR",
        "dueDate": YESTERDAY,
        "contactEmails": ["ap@acme.test"],
        **fields,
    }


async def call(api: Api, query: str, variables: dict[str, Any], *, role: str = "operator") -> dict[str, Any]:
    return next(iter((await api.gql(query, {"input": variables}, role=role)).values()))


async def state(api: Api, invoice_id: str) -> dict[str, Any]:
    return (await api.gql(STATE, {"id": invoice_id}, role="viewer"))["latePayment"]


async def refused(
    api: Api, invoice_id: str, query: str, variables: dict[str, Any], typename: str, *, role: str = "operator"
) -> dict[str, Any]:
    before = await state(api, invoice_id)
    result = await call(api, query, variables, role=role)
    assert result["__typename"] == typename, result
    assert await state(api, invoice_id) == before
    return result


async def opened(api: Api, invoice_id: str, **fields: Any) -> dict[str, Any]:
    result = await call(api, OPEN, invoice(invoice_id, **fields))
    assert result["__typename"] == "LatePaymentChanged", result
    return result["latePayment"]


async def test_opening_shows_the_next_step(api: Api, entity_id: str):
    late = await opened(api, entity_id)
    assert late["state"] == "OVERDUE" and late["owed"] == "4200.00" and late["version"] == 1
    assert late["nextStep"]["name"] == "suspension_warning"
    assert late["nextStep"]["dueAt"].startswith((datetime.now(UTC) + timedelta(days=6)).date().isoformat())
    again = await refused(api, entity_id, OPEN, invoice(entity_id), "AlreadyExists")
    assert entity_id in again["message"]


async def test_an_unowned_invoice_is_chased_by_the_revenue_lead(api: Api, entity_id: str):
    late = await opened(api, entity_id, owner=None)
    assert late["chaser"] == "role:revenue_lead"
    shown = await api.gql(
        "query($id: ID!) { latePayment(invoiceId: $id) { ... on LatePayment { owner } } }", {"id": entity_id}
    )
    assert shown["latePayment"] == {"owner": None}


SHOWN = """query($id: ID!) { latePayment(invoiceId: $id) { ... on LatePayment {
  dayZero paid credited owed advanceRequired previousOwners
  payments { amount taxWithheld reference advance at }
  creditNotes { amount creditNoteId at }
  extensions { until reason grantedBy at } } } }"""


async def test_an_invoice_shows_its_payments_credit_notes_and_extensions(api: Api, entity_id: str):
    late = await opened(api, entity_id)
    paid = await call(
        api,
        PAY,
        {"invoiceId": entity_id, "amount": "1000", "taxWithheld": "200", "reference": "wire 1", "reason": "AP"},
    )
    assert paid["transition"]["reason"] == "AP"
    await call(api, CREDIT, {"invoiceId": entity_id, "amount": "500", "creditNoteId": "cn_1"})
    until = datetime.fromisoformat(late["nextStep"]["dueAt"]) + timedelta(days=2)
    await call(api, EXTEND, {"invoiceId": entity_id, "reason": "AP batch", "until": until.isoformat()})
    shown = (await api.gql(SHOWN, {"id": entity_id}, role="viewer"))["latePayment"]
    day_after_due = datetime.fromisoformat(YESTERDAY).replace(tzinfo=UTC) + timedelta(days=1)
    assert datetime.fromisoformat(shown.pop("dayZero")) == day_after_due
    [payment] = shown.pop("payments")
    assert payment.pop("at") and payment == {
        "amount": "1000.00",
        "taxWithheld": "200.00",
        "reference": "wire 1",
        "advance": False,
    }
    [credit_note] = shown.pop("creditNotes")
    assert credit_note.pop("at") and credit_note == {"amount": "500.00", "creditNoteId": "cn_1"}
    [extension] = shown.pop("extensions")
    assert datetime.fromisoformat(extension.pop("until")) == until and extension.pop("at")
    assert extension == {"reason": "AP batch", "grantedBy": "otto@example.com"}
    assert shown == {
        "paid": "1000.00",
        "credited": "500.00",
        "owed": "2700.00",
        "advanceRequired": None,
        "previousOwners": [],
    }


async def test_a_third_missed_period_paid_after_the_suspension_waits_for_the_advance(api: Api, entity_id: str):
    long_overdue = (datetime.now(UTC) - timedelta(days=9)).date().isoformat()
    await opened(api, entity_id, dueDate=long_overdue, consecutiveMissedPeriods=2, typicalMonthlyUsage="100")

    async def suspended() -> bool:
        return (await state(api, entity_id))["state"] == "SUSPENDED"

    await eventually(suspended)
    result = await call(api, PAY, {"invoiceId": entity_id, "amount": "4200"})
    assert result["latePayment"]["state"] == "ADVANCE_PAYMENT_REQUIRED"
    query = "query($id: ID!) { latePayment(invoiceId: $id) { ... on LatePayment { advanceRequired policy } } }"
    shown = (await api.gql(query, {"id": entity_id}, role="viewer"))["latePayment"]
    assert shown["advanceRequired"] == f"{100 * shown['policy']['advance_months']}.00"


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"amount": "0"}, ["amount"]),
        ({"amount": "-1"}, ["amount"]),
        ({"currency": "ABC"}, ["currency"]),
        ({"dueDate": "tomorrow"}, ["dueDate"]),
        ({"dueDate": (datetime.now(UTC) + timedelta(days=3)).date().isoformat()}, ["dueDate"]),
        ({"contactEmails": ["nobody"]}, ["contactEmails.0"]),
    ],
)
async def test_bad_invoices_are_refused_per_field(api: Api, entity_id: str, fields, bad):
    result = await call(api, OPEN, invoice(entity_id, **fields))
    assert result["__typename"] == "ValidationError", result
    assert sorted(f["field"] for f in result["fields"]) == bad
    assert (await state(api, entity_id))["__typename"] == "NotFound"


async def test_a_collection_method_outside_the_enum_is_refused_by_the_schema_and_nothing_opens(
    api: Api, entity_id: str
):
    response = await api.post(OPEN, {"input": invoice(entity_id, collectionMethod="CHEQUE")})
    errors = response.json()["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"]
    assert "at .collectionMethod: Value 'CHEQUE' does not exist" in errors[0]["message"]
    assert (await state(api, entity_id))["__typename"] == "NotFound"


async def test_payments_partial_then_full(api: Api, entity_id: str):
    await opened(api, entity_id)
    partial = await call(
        api, PAY, {"invoiceId": entity_id, "amount": "3780", "taxWithheld": "420", "reference": "wire 1"}
    )
    assert (partial["latePayment"]["state"], partial["latePayment"]["owed"]) == ("OVERDUE", "420.00")
    full = await call(api, PAY, {"invoiceId": entity_id, "amount": "420", "reference": "wire 2"})
    assert full["latePayment"]["state"] == "PAID" and full["latePayment"]["nextStep"] is None
    closed = await refused(api, entity_id, PAY, {"invoiceId": entity_id, "amount": "1"}, "InvalidTransition")
    assert closed["state"] == "PAID"


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"amount": "0"}, "amount"),
        ({"amount": "-5"}, "amount"),
        ({"amount": "ten"}, "amount"),
        ({"amount": "10", "taxWithheld": "-1"}, "taxWithheld"),
    ],
)
async def test_bad_payments_are_refused(api: Api, entity_id: str, variables, field):
    await opened(api, entity_id)
    result = await refused(api, entity_id, PAY, {"invoiceId": entity_id, **variables}, "ValidationError")
    assert [f["field"] for f in result["fields"]] == [field]


async def test_card_attempts(api: Api, entity_id: str):
    await opened(api, entity_id, collectionMethod="CARD", dueDate=None, failedAttempts=1)
    for attempt in (2, 3, 4):
        result = await call(api, FAILED, {"invoiceId": entity_id, "attempt": attempt, "failureMessage": "declined"})
        assert result["latePayment"]["failedAttempts"] == attempt
    assert result["latePayment"]["automaticCollectionStopped"] is True
    fifth = await refused(api, entity_id, FAILED, {"invoiceId": entity_id, "attempt": 5}, "GuardFailed")
    assert fifth["unmet"][0]["guard"] == "automatic_collection_on"
    repeated = await refused(api, entity_id, FAILED, {"invoiceId": entity_id, "attempt": 3}, "ValidationError")
    assert repeated["fields"][0]["field"] == "attempt"


async def test_extensions(api: Api, entity_id: str):
    late = await opened(api, entity_id)
    current = datetime.fromisoformat(late["nextStep"]["dueAt"])
    missing_reason = await refused(
        api,
        entity_id,
        EXTEND,
        {"invoiceId": entity_id, "until": (current + timedelta(days=3)).isoformat()},
        "GuardFailed",
    )
    assert missing_reason["unmet"][0]["guard"] == "reason_required"
    past = await refused(
        api,
        entity_id,
        EXTEND,
        {"invoiceId": entity_id, "reason": "x", "until": (datetime.now(UTC) - timedelta(days=1)).isoformat()},
        "ValidationError",
    )
    assert past["fields"] == [{"field": "until", "message": "must be in the future"}]
    early = await refused(
        api,
        entity_id,
        EXTEND,
        {"invoiceId": entity_id, "reason": "x", "until": (current - timedelta(hours=1)).isoformat()},
        "ValidationError",
    )
    assert "after the current deadline" in early["fields"][0]["message"]
    garbage = await refused(
        api, entity_id, EXTEND, {"invoiceId": entity_id, "reason": "x", "until": "soon"}, "ValidationError"
    )
    assert garbage["fields"][0]["field"] == "until"
    granted = await call(
        api,
        EXTEND,
        {
            "invoiceId": entity_id,
            "reason": "AP batch runs Thursday",
            "until": (current + timedelta(days=3)).isoformat(),
        },
    )
    assert datetime.fromisoformat(granted["latePayment"]["nextStep"]["dueAt"]) == current + timedelta(days=3)


async def test_credit_notes(api: Api, entity_id: str):
    await opened(api, entity_id)
    too_much = await refused(api, entity_id, CREDIT, {"invoiceId": entity_id, "amount": "5000"}, "ValidationError")
    assert "exceeds the amount owed" in too_much["fields"][0]["message"]
    partial = await call(api, CREDIT, {"invoiceId": entity_id, "amount": "200", "creditNoteId": "cn_1"})
    assert (partial["latePayment"]["state"], partial["latePayment"]["credited"]) == ("OVERDUE", "200.00")
    zero = await call(api, CREDIT, {"invoiceId": entity_id, "amount": "4000", "creditNoteId": "cn_2"})
    assert zero["latePayment"]["state"] == "PAID" and zero["latePayment"]["owed"] == "0.00"


async def test_voiding_is_for_admins(api: Api, entity_id: str):
    await opened(api, entity_id)
    forbidden = await refused(api, entity_id, VOID, {"invoiceId": entity_id, "reason": "dup"}, "Forbidden")
    assert forbidden["requiredRole"] == "ADMIN"
    await refused(api, entity_id, VOID, {"invoiceId": entity_id}, "GuardFailed", role="admin")
    voided = await call(api, VOID, {"invoiceId": entity_id, "reason": "Issued twice"}, role="admin")
    assert voided["latePayment"]["state"] == "VOIDED"
    assert voided["transition"] == {"seq": 2, "trigger": "void", "actor": "ada@example.com", "reason": "Issued twice"}


async def test_advance_payments_only_when_required(api: Api, entity_id: str):
    await opened(api, entity_id)
    result = await refused(api, entity_id, ADVANCE, {"invoiceId": entity_id, "amount": "100"}, "InvalidTransition")
    assert "record_payment" in result["allowed"]
    await refused(api, entity_id, DECLINE, {"invoiceId": entity_id, "reason": "no"}, "InvalidTransition")


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (PAY, {"amount": "1"}),
        (FAILED, {}),
        (CREDIT, {"amount": "1"}),
        (ADVANCE, {"amount": "1"}),
    ],
)
async def test_unknown_invoices(api: Api, query, variables):
    assert (await call(api, query, {"invoiceId": "in_nope", **variables}))["__typename"] == "NotFound"


LIST = """query($filter: LatePaymentFilter, $orderBy: LatePaymentOrder, $first: Int, $after: String) {
  latePayments(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { invoiceId state amount currency } }
    totalsByState { state currency count amount owed }
  } }"""


async def test_the_list_filters_pages_and_sums(api: Api, entity_id: str):
    ids = {n: f"{entity_id}-{n}" for n in "abcd"}
    await opened(api, ids["a"], amount="1000", owner="ann@example.com")
    await opened(api, ids["b"], amount="2500", owner="bob@example.com", account={"id": "globex", "name": "Globex"})
    await opened(api, ids["c"], amount="800", owner="ann@example.com", currency="USD")
    await opened(api, ids["d"], amount="4000", owner="ann@example.com")
    await call(api, PAY, {"invoiceId": ids["d"], "amount": "4000"})

    async def page(**variables: Any) -> dict[str, Any]:
        return (await api.gql(LIST, variables, role="viewer"))["latePayments"]

    everything = await page(orderBy="AMOUNT_DESC")
    assert [e["node"]["invoiceId"] for e in everything["edges"]] == [ids["d"], ids["b"], ids["a"], ids["c"]]
    assert everything["totalsByState"] == [
        {"state": "OVERDUE", "currency": "EUR", "count": 2, "amount": "3500.00", "owed": "3500.00"},
        {"state": "OVERDUE", "currency": "USD", "count": 1, "amount": "800.00", "owed": "800.00"},
        {"state": "PAID", "currency": "EUR", "count": 1, "amount": "4000.00", "owed": "0.00"},
    ]
    ann = await page(filter={"owner": "ann@example.com", "state": ["OVERDUE"]})
    assert sorted(e["node"]["invoiceId"] for e in ann["edges"]) == [ids["a"], ids["c"]] and ann["totalCount"] == 2
    ranged = await page(filter={"amountMin": "900", "amountMax": "3000"}, orderBy="AMOUNT_DESC")
    assert [e["node"]["invoiceId"] for e in ranged["edges"]] == [ids["b"], ids["a"]]
    bounds = await page(filter={"amountMin": "1000", "amountMax": "2500"}, orderBy="AMOUNT_ASC")
    assert [e["node"]["invoiceId"] for e in bounds["edges"]] == [ids["a"], ids["b"]]
    assert bounds["totalsByState"] == [
        {"state": "OVERDUE", "currency": "EUR", "count": 2, "amount": "3500.00", "owed": "3500.00"}
    ]
    by_deadline = await page()
    assert by_deadline["edges"][-1]["node"]["invoiceId"] == ids["d"]  # settled: no next step, sorted last
    assert (await page(filter={"suspendedOnly": False}))["totalCount"] == 4
    assert (await page(filter={"accountId": "globex"}))["totalCount"] == 1
    assert (await page(filter={"suspendedOnly": True}))["totalCount"] == 0
    soon = await page(filter={"nextDeadlineBefore": (datetime.now(UTC) + timedelta(days=7)).isoformat()})
    assert soon["totalCount"] == 3
    first = await page(first=2)
    second = await page(first=2, after=first["pageInfo"]["endCursor"])
    assert len({e["node"]["invoiceId"] for e in first["edges"] + second["edges"]}) == 4
    bad = await api.post(LIST, {"filter": {"amountMin": "lots"}}, role="viewer")
    assert bad.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "amountMin"}
