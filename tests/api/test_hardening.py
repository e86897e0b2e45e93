"""Hostile input over HTTP, on SQLite and on a real PostgreSQL server (which, unlike
SQLite, enforces column lengths): every value the API accepts fits the read model,
everything else is refused with a typed error and changes nothing."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from services.api import create_app
from services.db import upgrade
from services.lifecycles import rpc_failure
from services.reconcile import reconcile
from services.settings import Settings
from tests.api.test_billing_events import PATH, SECRET, event, stripe_signature
from tests.api.test_late_payment_api import OPEN as OPEN_INVOICE
from tests.api.test_late_payment_api import invoice
from tests.api.test_opportunity_api import OPEN, UPDATE, call, deal, open_deal, state
from tests.conftest import Api, Stack, serve
from tests.postgres import PostgresServer
from workflows.engine import values
from workflows.engine.errors import ValidationError
from workflows.engine.types import workflow_id_for
from workflows.registry import WORKFLOWS

REASSIGN = """mutation($input: ReassignLifecycleInput!) { reassignLifecycle(input: $input) {
  __typename ... on LifecycleChanged { projected lifecycle { version } transition { reason } }
  ... on ValidationError { fields { field message } } } }"""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, migrated_template: Path, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "readmodel.db"
        shutil.copy(migrated_template, path)
        return f"sqlite+aiosqlite:///{path}"
    postgres: PostgresServer = request.getfixturevalue("postgres")
    url = postgres.create_database(f"hardening_{uuid.uuid4().hex[:10]}")
    upgrade(url)
    return url


async def reassign(api: Api, entity_id: str, reason: str, **fields: Any) -> dict[str, Any]:
    variables = {"kind": "opportunity", "id": entity_id, "newOwner": f"csm-{uuid.uuid4().hex[:6]}@example.com"}
    data = await api.gql(REASSIGN, {"input": {**variables, "reason": reason, **fields}})
    return data["reassignLifecycle"]


async def clean(stack: Stack, expected: int) -> None:
    """The read model matches every workflow: nothing is wedged."""
    for _ in range(60):
        report = await reconcile(stack.client, stack.sessions, stack.settings.task_queue)
        if report.checked >= expected:
            break
        await asyncio.sleep(0.5)
    assert report.checked == expected and report.clean, report


async def test_the_issues_overlong_values_are_refused_and_change_nothing(api: Api, entity_id: str):
    await open_deal(api, entity_id)
    before = await state(api, entity_id)
    long_reason = await reassign(api, entity_id, "r" * 5000)
    assert long_reason["__typename"] == "ValidationError"
    assert long_reason["fields"] == [{"field": "reason", "message": "must be at most 2000 characters"}]
    long_key = await call(api, UPDATE, {"id": entity_id, "amount": "1", "idempotencyKey": "k" * 250})
    assert long_key["fields"] == [{"field": "idempotencyKey", "message": "must be 1 to 200 characters"}]
    long_id = await call(api, OPEN, deal("o" * 240))
    assert long_id["fields"] == [{"field": "id", "message": "must be 1 to 100 characters"}]
    for bad in ("with/slash", "with space", "new\nline"):
        refused = await call(api, OPEN, deal(bad))
        assert [f["field"] for f in refused["fields"]] == ["id"], (bad, refused)
    assert await state(api, entity_id) == before
    # No ghost: the refused id neither exists nor blocks anything.
    assert (await state(api, "o" * 240))["__typename"] == "NotFound"
    await clean(api.stack, 1)


async def test_values_at_their_maximum_are_accepted_and_projected(api: Api, entity_id: str):
    longest_id = (entity_id + "-" + "i" * values.ENTITY_ID_MAX_LENGTH)[: values.ENTITY_ID_MAX_LENGTH]
    await open_deal(api, longest_id)
    done = await reassign(api, longest_id, "r" * values.REASON_MAX_LENGTH)
    assert done["__typename"] == "LifecycleChanged" and done["projected"] is True
    keyed = await call(
        api, UPDATE, {"id": longest_id, "amount": "2", "idempotencyKey": "k" * values.IDEMPOTENCY_KEY_MAX_LENGTH}
    )
    assert keyed["__typename"] == "OpportunityChanged"
    history = (await state(api, longest_id))["history"]
    assert history["totalCount"] == 3
    await clean(api.stack, 1)


@pytest.mark.parametrize("amount", ["1e999997", "NaN", "Infinity", "-Infinity", "1e1000000", "0.001"])
async def test_hostile_amount_filters_are_refused_naming_the_field(api: Api, amount: str):
    query = "query($f: LatePaymentFilter) { latePayments(filter: $f) { totalCount } }"
    for field in ("amountMin", "amountMax"):
        # A hang detector (the issue's "1e999997" held the event loop for 30 s), not a timing goal.
        response = await asyncio.wait_for(api.post(query, {"f": {field: amount}}, role="viewer"), timeout=10)
        assert response.status_code == 200
        error = response.json()["errors"][0]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, error


async def test_negative_zero_and_cents_filter_as_numbers(api: Api):
    query = "query($f: LatePaymentFilter) { latePayments(filter: $f) { totalCount } }"
    assert (await api.gql(query, {"f": {"amountMin": "-0", "amountMax": "1.500"}}, role="viewer"))["latePayments"] == {
        "totalCount": 0
    }


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "1e999997", "-0.01", "1.001", "1000000000000"])
async def test_hostile_amounts_in_inputs_are_refused_naming_the_field(api: Api, entity_id: str, amount: str):
    refused = await call(api, OPEN, deal(entity_id, amount=amount))
    assert refused["__typename"] == "ValidationError" and [f["field"] for f in refused["fields"]] == ["amount"]
    assert (await state(api, entity_id))["__typename"] == "NotFound"


async def test_lists_in_inputs_are_capped(api: Api, entity_id: str):
    emails = [f"user{n}@acme.test" for n in range(values.MAX_LIST_ITEMS + 1)]
    response = await api.post(OPEN_INVOICE, {"input": invoice(entity_id, contactEmails=emails)})
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "ValidationError"
    assert error["extensions"]["fields"] == [{"field": "input.contactEmails", "message": "at most 100 items"}]
    at_most = await api.gql(OPEN_INVOICE, {"input": invoice(entity_id, contactEmails=emails[:-1])})
    assert at_most["openLatePayment"]["__typename"] == "LatePaymentChanged"
    stages = ["QUALIFICATION"] * (values.MAX_LIST_ITEMS + 1)
    listed = await api.post(
        "query($s: [OpportunityStage!]) { opportunities(filter: {stage: $s}) { totalCount } }",
        {"s": stages},
        role="viewer",
    )
    assert listed.json()["errors"][0]["extensions"]["fields"] == [
        {"field": "filter.stage", "message": "at most 100 items"}
    ]


async def test_nul_characters_are_refused_before_the_database(api: Api):
    lookup = await api.post("query($id: ID!) { opportunity(id: $id) { __typename } }", {"id": "a\x00"}, role="viewer")
    assert lookup.json()["errors"][0]["extensions"] == {
        "code": "ValidationError",
        "fields": [{"field": "id", "message": "must not contain NUL characters"}],
    }
    listed = await api.post(
        "query($f: OpportunityFilter) { opportunities(filter: $f) { totalCount } }",
        {"f": {"accountId": "\x00"}},
        role="viewer",
    )
    assert listed.json()["errors"][0]["extensions"]["fields"] == [
        {"field": "filter.accountId", "message": "must not contain NUL characters"}
    ]


async def test_a_query_above_the_cost_limit_is_refused_before_it_runs(api: Api):
    nested = "opportunities(first: 100) { nodes { history(first: 100) { nodes { seq } } } }"
    affordable = await api.post("{ " + nested + " }", role="viewer")
    assert "errors" not in affordable.json(), affordable.json()
    costly = await api.post("{ " + " ".join(f"a{i}: {nested}" for i in range(3)) + " }", role="viewer")
    error = costly.json()["errors"][0]
    # Per alias: the connection, plus 100 nodes each with their history and its 100 nodes.
    assert error["extensions"] == {"code": "QUERY_TOO_COSTLY", "cost": 3 * (1 + 100 * (1 + 1 + 100)), "maxCost": 20000}
    assert costly.json()["data"] is None


async def test_crafted_cursors_are_refused_not_sent_to_the_database(api: Api, entity_id: str):
    await open_deal(api, entity_id)
    crafted = "W3sidCI6IjIwMjctMDEtMDFUMDA6MDA6MDArMDA6MDAifSw5OTk5OTk5OTk5OTk5OTk5OTk5OTk5XQ"  # [moment, 10**22]
    listed = await api.post(
        "query($a: String) { opportunities(after: $a, orderBy: UPDATED_AT_DESC) { totalCount } }",
        {"a": crafted},
        role="viewer",
    )
    assert listed.json()["errors"][0]["extensions"]["code"] == "ValidationError"
    history = await api.post(
        "query($id: ID!, $a: String) { opportunity(id: $id) { ... on Opportunity { history(after: $a) { totalCount } "
        "effectsPage(after: $a) { totalCount } } } }",
        {"id": entity_id, "a": "WyJub3QgYW4gaW50Il0"},  # ["not an int"]
        role="viewer",
    )
    codes = {e["extensions"]["code"] for e in history.json()["errors"]}
    assert codes == {"ValidationError"}, history.json()


async def test_lists_of_nodes_batch_history_and_effects_and_page_them(api: Api, entity_id: str):
    ids = [f"{entity_id}-{n}" for n in range(3)]
    for ident in ids:
        await open_deal(api, ident)
        await call(api, UPDATE, {"id": ident, "amount": "70000"})
    listed = await api.gql(
        """{ opportunities(first: 10) { nodes { id history(first: 1) { totalCount pageInfo { hasNextPage endCursor }
        nodes { seq } } effects { id } effectsPage(first: 1) { totalCount nodes { id } }
        availableTransitions { trigger } } } }""",
        role="viewer",
    )
    nodes = {n["id"]: n for n in listed["opportunities"]["nodes"]}
    for ident in ids:
        one = await state(api, ident)
        node = nodes[ident]
        assert node["history"]["totalCount"] == one["history"]["totalCount"] == 2
        assert node["history"]["nodes"] == [{"seq": 1}] and node["history"]["pageInfo"]["hasNextPage"]
        assert node["effects"] == one["effects"]
        assert node["effectsPage"]["totalCount"] == len(one["effects"])
        assert node["effectsPage"]["nodes"] == one["effects"][:1]
        assert node["availableTransitions"]
        after = node["history"]["pageInfo"]["endCursor"]
        rest = await api.gql(
            "query($id: ID!, $a: String) { opportunity(id: $id) { ... on Opportunity { "
            "history(after: $a) { nodes { seq } } } } }",
            {"id": ident, "a": after},
            role="viewer",
        )
        assert rest["opportunity"]["history"]["nodes"] == [{"seq": 2}]


async def test_a_missing_token_answers_json_with_a_code(api: Api):
    response = await api.post("{ lifecycleMachines { kind } }", role=None)
    assert response.status_code == 401 and response.headers["content-type"] == "application/json"
    assert response.json() == {
        "errors": [{"message": "A bearer token is required.", "extensions": {"code": "UNAUTHENTICATED"}}]
    }


async def test_an_overlong_workflow_id_refused_by_temporal_is_a_validation_error(local_stack: Stack):
    """What Temporal itself answers, through the mapping the gateway uses (the gateway
    refuses such ids before calling, so this goes to the client directly)."""
    from temporalio.service import RPCError

    workflow_id = workflow_id_for("opportunity", "x" * 1013)
    with pytest.raises(RPCError) as refused:
        await local_stack.client.start_workflow(
            WORKFLOWS["opportunity"].run, id=workflow_id, task_queue=local_stack.settings.task_queue
        )
    mapped = rpc_failure(refused.value, "opportunity", "x" * 1013)
    assert isinstance(mapped, ValidationError), (refused.value.status, refused.value.message)


# ---- request size ------------------------------------------------------------------------------


@pytest.fixture
async def small_limits(local_stack: Stack) -> AsyncIterator[Api]:
    settings: Settings = local_stack.settings.model_copy(
        update={
            "stripe_webhook_secret": SecretStr(SECRET),
            "max_graphql_request_bytes": 4096,
            "max_billing_event_bytes": 4096,
        }
    )
    async with serve(create_app(settings, client=local_stack.client)) as http:
        yield Api(http, local_stack)


def oversized_body() -> bytes:
    return json.dumps({"query": "{ __typename }", "variables": {"x": "y" * 5000}}).encode()


async def chunks(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 1000):
        yield body[start : start + 1000]


@pytest.mark.parametrize("path", ["/graphql", PATH])
async def test_oversized_bodies_get_413_whether_declared_or_chunked(small_limits: Api, path: str):
    body = oversized_body()
    headers = {"authorization": "Bearer admin-token-0123456789", "content-type": "application/json"}
    headers["stripe-signature"] = stripe_signature(body)
    declared = await small_limits.http.post(path, content=body, headers=headers)
    assert declared.status_code == 413, declared.text
    chunked = await small_limits.http.post(path, content=chunks(body), headers=headers)
    assert chunked.status_code == 413 and "content-length" not in chunked.request.headers
    fits = await small_limits.http.post(path, content=chunks(b'{"query": "{ __typename }"}'), headers=headers)
    assert fits.status_code in (200, 400) and fits.status_code != 413


async def test_a_graphql_413_is_a_graphql_error(small_limits: Api):
    response = await small_limits.http.post(
        "/graphql", content=oversized_body(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"] == {"code": "REQUEST_TOO_LARGE"}


async def test_billing_bodies_that_are_not_utf8_or_signed_in_the_future_are_refused(small_limits: Api):
    garbage = b'{"id": "evt_\xff\xfe"}'
    response = await small_limits.http.post(
        PATH, content=garbage, headers={"stripe-signature": stripe_signature(garbage)}
    )
    assert response.status_code == 400 and response.json() == {"error": "the body is not UTF-8"}
    body = event("invoice.payment_failed", f"in_{uuid.uuid4().hex[:12]}")
    future = stripe_signature(body, timestamp=int(time.time()) + 3600)
    response = await small_limits.http.post(PATH, content=body, headers={"stripe-signature": future})
    assert response.status_code == 400 and "future" in response.json()["error"]


# ---- GraphQL over HTTP media types ---------------------------------------------------------------

GRAPHQL_RESPONSE = "application/graphql-response+json"


@pytest.mark.parametrize(
    "document",
    ["{ lifecycleMachines {", "{ noSuchField }", "query($n: Int!) { opportunities(first: $n) { totalCount } }"],
    ids=["parse", "validation", "variable coercion"],
)
async def test_request_errors_answer_400_without_data_under_graphql_response_json(api: Api, document: str):
    variables = {"n": "not a number"}
    modern = await api.post(document, variables, role="viewer", headers={"accept": GRAPHQL_RESPONSE})
    assert modern.status_code == 400 and modern.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert "data" not in modern.json() and modern.json()["errors"]
    classic = await api.post(document, variables, role="viewer", headers={"accept": "application/json"})
    assert classic.status_code == 200 and classic.headers["content-type"] == "application/json"
    assert classic.json()["data"] is None and classic.json()["errors"]
    unspecified = await api.post(document, variables, role="viewer")
    assert unspecified.headers["content-type"] == "application/json" and "data" in unspecified.json()


async def test_executed_requests_keep_200_and_data_under_graphql_response_json(api: Api):
    accept = f"application/json;q=0.5, {GRAPHQL_RESPONSE}"
    answered = await api.post("{ lifecycleMachines { kind } }", role="viewer", headers={"accept": accept})
    assert answered.status_code == 200 and answered.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert answered.json()["data"]["lifecycleMachines"]
    refused = await api.post(
        "{ opportunities(first: 100000) { totalCount } }", role="viewer", headers={"accept": accept}
    )
    assert refused.status_code == 200 and refused.json()["data"] is None
    prefers_json = await api.post(
        "{ lifecycleMachines { kind } }",
        role="viewer",
        headers={"accept": f"{GRAPHQL_RESPONSE};q=0.1, application/json"},
    )
    assert prefers_json.headers["content-type"] == "application/json"
