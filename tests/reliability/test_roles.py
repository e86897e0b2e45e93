"""Who may do what: every query and mutation of the schema against every role.

The access rules are stated here once, as a table; a new operation fails this test
until it is given its rule. Anonymous callers get 401 for everything; viewers may
read; operators may change; admins may also waive, void and overrule. No token or
secret ever appears in a log line or an answer.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import uuid
from typing import Any

import pytest

from services.settings import Environment, Settings
from tests.conftest import TOKENS, Api
from tests.reliability.operations import PLACEHOLDERS, operations

ROLES = ("viewer", "operator", "admin")
RANK = {"viewer": 1, "operator": 2, "admin": 3}
ADMIN_ONLY = {"waiveExitCriterion", "voidInvoice", "overruleHandoverPushBack"}
OPERATIONS = operations()
SECRETS = ["webhook-secret-do-not-leak-0123", "whsec_do_not_leak_0123456789", "smtp-password-do-not-leak"]


def required_role(kind: str, name: str) -> str:
    if kind == "query":
        return "viewer"
    return "admin" if name in ADMIN_ONLY else "operator"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        environment=Environment.TEST,
        database_url=database_url,
        task_queue=f"tq-{uuid.uuid4()}",
        api_tokens=TOKENS,
        webhook_endpoints={"crm": {"url": "http://127.0.0.1:9/crm", "secret": SECRETS[0]}},
        stripe_webhook_secret=SECRETS[1],
        worker_shutdown_grace_seconds=1,
        smtp={
            "host": "127.0.0.1",
            "port": 9,
            "sender": "lifecycles@example.com",
            "username": "u",
            "password": SECRETS[2],
        },
    )


def test_every_admin_only_mutation_exists():
    names = {op.name for op in OPERATIONS}
    assert names >= ADMIN_ONLY


def fresh_ids(value: Any, suffix: str) -> Any:
    """The placeholder variables with ids and strings no other test has used (the dev server is shared)."""
    if isinstance(value, dict):
        return {k: fresh_ids(v, suffix) for k, v in value.items()}
    if isinstance(value, list):
        return [fresh_ids(v, suffix) for v in value]
    # Strings too: an account id names per-account lifecycles (a churn risk) on the shared server.
    return f"{value}-{suffix}" if value in (PLACEHOLDERS["ID"], PLACEHOLDERS["String"]) else value


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: f"{op.kind}:{op.name}")
async def test_access_matches_the_table(api: Api, op, caplog: pytest.LogCaptureFixture, json_log: io.StringIO):
    caplog.set_level(logging.DEBUG)
    op = dataclasses.replace(op, variables=fresh_ids(op.variables, uuid.uuid4().hex[:8]))
    anonymous = await api.post(op.document, op.variables, role=None)
    assert anonymous.status_code == 401
    needed = required_role(op.kind, op.name)
    bodies = [anonymous.text]
    for role in ROLES:
        response = await api.post(op.document, op.variables, role=role)
        bodies.append(response.text)
        assert response.status_code == 200, response.text
        body = response.json()
        codes = {e.get("extensions", {}).get("code") for e in body.get("errors") or []}
        assert "INTERNAL_SERVER_ERROR" not in codes, body
        answer = (body.get("data") or {}).get(op.name)
        typename = answer.get("__typename") if isinstance(answer, dict) else None
        if RANK[role] < RANK[needed]:
            assert typename == "Forbidden", (role, body)
        else:
            assert typename != "Forbidden" and "Forbidden" not in codes, (role, body)
    # The logs as the processes write them (JSON lines with their context fields) and the metrics too.
    bodies += [json_log.getvalue(), (await api.http.get("/metrics")).text]
    leaked = [s for s in [*TOKENS, *SECRETS] if s in caplog.text or any(s in b for b in bodies)]
    assert leaked == []


async def test_the_recorded_actor_is_the_caller_never_a_field(api: Api, entity_id: str):
    opened = await api.gql(
        """mutation($input: OpenOpportunityInput!) { openOpportunity(input: $input) {
        ... on OpportunityChanged { transition { actor } } } }""",
        {
            "input": {
                "id": entity_id,
                "name": "Deal",
                "account": {"id": "acme", "name": "ACME"},
                "closeDate": "2027-03-31",
                "amount": "1000",
            }
        },
        role="admin",
    )
    assert opened["openOpportunity"]["transition"]["actor"] == "ada@example.com"
    sneaky = await api.post(
        """mutation($input: UpdateOpportunityInput!) { updateOpportunity(input: $input) {
        __typename } }""",
        {"input": {"id": entity_id, "name": "x", "actor": "ceo@example.com"}},
        role="operator",
    )
    assert sneaky.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
