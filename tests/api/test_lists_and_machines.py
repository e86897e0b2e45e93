"""Lists from the read model (filters, order, cursors, counts) and machine descriptions."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from tests.api.test_opportunity_api import LOST, RECORD, call, open_deal
from tests.conftest import Api

LIST = """query($filter: OpportunityFilter, $orderBy: OpportunityOrder, $first: Int, $after: String) {
  opportunities(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id stage owner closeDate amount recordType forecastCategory } }
  } }"""


@pytest.fixture
async def deals(api: Api, entity_id: str) -> dict[str, str]:
    specs: dict[str, dict[str, Any]] = {
        "a": {"closeDate": "2027-01-10", "amount": "10000", "owner": "ann@example.com"},
        "b": {
            "closeDate": "2027-02-10",
            "amount": "50000",
            "owner": "bob@example.com",
            "account": {"id": "globex", "name": "Globex"},
        },
        "c": {
            "closeDate": "2027-03-10",
            "amount": "30000",
            "owner": "ann@example.com",
            "recordType": "RENEWAL",
            "forecastCategory": "COMMIT",
        },
        "d": {
            "closeDate": "2027-04-10",
            "amount": "70000",
            "owner": "ann@example.com",
            "stage": "COMMERCIAL_AGREEMENT",
        },
        "e": {"closeDate": "2027-05-10", "amount": "20000", "owner": "bob@example.com"},
    }
    ids = {}
    for key, fields in specs.items():
        ids[key] = f"{entity_id}-{key}"
        await open_deal(api, ids[key], **fields)
    await call(api, LOST, {"id": ids["e"], "lossReason": "PRICING"})
    return ids


async def page(api: Api, **variables: Any) -> dict[str, Any]:
    return (await api.gql(LIST, variables, role="viewer"))["opportunities"]


def ids_of(result: dict[str, Any], deals: dict[str, str]) -> list[str]:
    names = {v: k for k, v in deals.items()}
    return [names[e["node"]["id"]] for e in result["edges"]]


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({}, ["a", "b", "c", "d", "e"]),
        ({"owner": "ann@example.com"}, ["a", "c", "d"]),
        ({"accountId": "globex"}, ["b"]),
        ({"stage": ["PROBLEM_AGREEMENT"]}, ["a", "b"]),
        ({"stage": ["COMMERCIAL_AGREEMENT", "CLOSED_LOST"]}, ["d", "e"]),
        ({"recordType": ["RENEWAL"]}, ["c"]),
        ({"forecastCategory": ["COMMIT", "OMITTED"]}, ["c", "e"]),
        ({"closeDateFrom": "2027-02-01", "closeDateTo": "2027-04-10"}, ["b", "c", "d"]),
        ({"owner": "ann@example.com", "closeDateFrom": "2027-03-01"}, ["c", "d"]),
        ({"owner": "nobody@example.com"}, []),
    ],
)
async def test_filters(api: Api, deals: dict[str, str], filter: dict[str, Any], expected: list[str]):
    result = await page(api, filter=filter)
    assert ids_of(result, deals) == expected
    assert result["totalCount"] == len(expected)


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("CLOSE_DATE_ASC", ["a", "b", "c", "d", "e"]),
        ("CLOSE_DATE_DESC", ["e", "d", "c", "b", "a"]),
        ("AMOUNT_DESC", ["d", "b", "c", "e", "a"]),
        ("AMOUNT_ASC", ["a", "e", "c", "b", "d"]),
        ("UPDATED_AT_DESC", ["e", "d", "c", "b", "a"]),
        ("UPDATED_AT_ASC", ["a", "b", "c", "d", "e"]),
    ],
)
async def test_order(api: Api, deals: dict[str, str], order: str, expected: list[str]):
    assert ids_of(await page(api, orderBy=order), deals) == expected


async def test_cursor_pages_cover_everything_once(api: Api, deals: dict[str, str]):
    seen, after, pages = [], None, 0
    while True:
        result = await page(api, orderBy="AMOUNT_DESC", first=2, after=after)
        assert result["totalCount"] == 5
        seen += ids_of(result, deals)
        pages += 1
        assert result["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not result["pageInfo"]["hasNextPage"]:
            break
        after = result["pageInfo"]["endCursor"]
    assert seen == ["d", "b", "c", "e", "a"] and pages == 3


@pytest.fixture
async def tied(api: Api, entity_id: str) -> dict[str, str]:
    """Five deals, three of them closing on the same day: a tie the workflow id breaks."""
    close_dates = {"t1": "2027-01-10", "t2": "2027-02-10", "t3": "2027-02-10", "t4": "2027-02-10", "t5": "2027-03-10"}
    ids = {}
    for key, close_date in close_dates.items():
        ids[key] = f"{entity_id}-{key}"
        await open_deal(api, ids[key], closeDate=close_date, owner="tie@example.com")
    return ids


@pytest.mark.parametrize(("order", "expected"), [("CLOSE_DATE_ASC", "12345"), ("CLOSE_DATE_DESC", "54321")])
@pytest.mark.parametrize("first", [1, 2, 3, 4])
async def test_cursor_pages_through_ties(api: Api, tied: dict[str, str], order: str, expected: str, first: int):
    # Page sizes 1-4 end pages inside the tie group and on its last row, in both directions.
    seen: list[str] = []
    after = None
    while True:
        result = await page(api, filter={"owner": "tie@example.com"}, orderBy=order, first=first, after=after)
        assert result["totalCount"] == 5
        assert 0 < len(result["edges"]) <= first
        seen += ids_of(result, tied)
        if not result["pageInfo"]["hasNextPage"]:
            break
        after = result["pageInfo"]["endCursor"]
    assert seen == [f"t{n}" for n in expected]
    last = result["pageInfo"]["endCursor"]
    past_the_end = await page(api, filter={"owner": "tie@example.com"}, orderBy=order, first=first, after=last)
    assert past_the_end["edges"] == [] and past_the_end["pageInfo"]["hasNextPage"] is False


@pytest.mark.parametrize(
    "values",
    [["2027-02-10", "x"], [{"d": "2027-02-10"}], [{"d": "2027-02-10"}, 7], [{"t": "2027-02-10T00:00:00+00:00"}, "x"]],
    ids=["not a date", "one key short", "an id not a string", "a time for a date"],
)
async def test_a_crafted_cursor_is_refused(api: Api, tied: dict[str, str], values: list[Any]):
    crafted = base64.urlsafe_b64encode(json.dumps(values).encode()).decode()
    answer = await api.post(LIST, {"orderBy": "CLOSE_DATE_ASC", "after": crafted}, role="viewer")
    body = answer.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "ValidationError"


@contextmanager
def counting_statements() -> Iterator[list[str]]:
    """The statements totalling a list that any engine of this process runs meanwhile (the
    API's included): a count(*), or an unfiltered list's read of its table's row counts."""
    counts: list[str] = []

    def capture(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if "count(*)" in statement or "FROM row_counts" in statement:
            counts.append(statement)

    event.listen(sa.engine.Engine, "before_cursor_execute", capture)
    try:
        yield counts
    finally:
        event.remove(sa.engine.Engine, "before_cursor_execute", capture)


NODES_ONLY = """query($after: String) {
  opportunities(orderBy: CLOSE_DATE_ASC, first: 2, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { id } }
  } }"""

TOTAL_BY_FRAGMENT = """query {
  deals: opportunities(orderBy: CLOSE_DATE_ASC, first: 2) { ...Counted edges { node { id } } }
  everything: lifecycles(kind: "opportunity", first: 1) { ... on GenericLifecycleConnection { n: totalCount } }
}
fragment Counted on OpportunityConnection { total: totalCount }"""

# The same field twice: GraphQL merges the two selections into one answer.
TOTAL_IN_A_SECOND_MENTION = """query {
  opportunities(first: 1) { edges { node { id } } }
  opportunities(first: 1) { totalCount }
}"""


async def test_a_list_counts_only_when_totalcount_is_asked_for(api: Api, deals: dict[str, str]):
    with counting_statements() as counts:
        first = (await api.gql(NODES_ONLY, role="viewer"))["opportunities"]
        second = (await api.gql(NODES_ONLY, {"after": first["pageInfo"]["endCursor"]}, role="viewer"))["opportunities"]
        generic = await api.gql('{ lifecycles(kind: "opportunity") { edges { node { id } } } }', role="viewer")
    assert counts == []
    assert ids_of(first, deals) + ids_of(second, deals) == ["a", "b", "c", "d"]
    assert len(generic["lifecycles"]["edges"]) == 5
    with counting_statements() as counts:
        counted = await api.gql(TOTAL_BY_FRAGMENT, role="viewer")
    assert counted["deals"]["total"] == 5 and counted["everything"]["n"] == 5
    assert ids_of(counted["deals"], deals) == ["a", "b"]
    assert len(counts) == 2
    merged = (await api.gql(TOTAL_IN_A_SECOND_MENTION, role="viewer"))["opportunities"]
    assert merged["totalCount"] == 5 and len(merged["edges"]) == 1


async def test_bad_paging_is_a_typed_error(api: Api, deals: dict[str, str]):
    too_many = await api.post(LIST, {"first": 10_000}, role="viewer")
    assert too_many.json()["errors"][0]["extensions"]["code"] == "ValidationError"
    bogus = await api.post(LIST, {"after": "not-a-cursor"}, role="viewer")
    assert bogus.json()["errors"][0]["extensions"]["code"] == "ValidationError"
    bad_date = await api.post(LIST, {"filter": {"closeDateFrom": "yesterday"}}, role="viewer")
    assert bad_date.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "closeDateFrom"}


async def test_a_list_reflects_a_transition_at_once(api: Api, deals: dict[str, str]):
    for criterion in ("quantified_pain", "cost_of_inaction", "problem_acknowledged"):
        await call(
            api, RECORD, {"id": deals["a"], "stage": "PROBLEM_AGREEMENT", "criterion": criterion, "evidence": "call"}
        )
    await call(
        api,
        "mutation($input: AdvanceOpportunityInput!) { advanceOpportunity(input: $input) { __typename } }",
        {"id": deals["a"]},
    )
    assert ids_of(await page(api, filter={"stage": ["SOLUTION_AGREEMENT"]}), deals) == ["a"]


MACHINE = """query($kind: String!) { lifecycleMachine(kind: $kind) {
  __typename
  ... on NotFound { message }
  ... on LifecycleMachine {
    kind title defaultPolicy mermaid
    states { name terminal probability checklist { key label source } }
    transitions { trigger fromStates toState requiredRole guards { name } effects { type name } }
    timers { name trigger states description }
  } } }"""


async def test_the_machine_description(api: Api):
    machine = (await api.gql(MACHINE, {"kind": "opportunity"}, role="viewer"))["lifecycleMachine"]
    states = {s["name"]: s for s in machine["states"]}
    assert states["CLOSED_WON"]["probability"] == 100 and states["CLOSED_WON"]["terminal"]
    assert states["COMMERCIAL_LEGAL_REVIEW"]["probability"] == 80
    assert states["PROBLEM_AGREEMENT"]["probability"] is None
    assert [c["key"] for c in states["SOLUTION_AGREEMENT"]["checklist"]] == [
        "active_usage_or_trial",
        "documented_decision",
        "economic_buyer",
        "champion",
    ]
    assert states["VENDOR_APPROVAL"]["checklist"][0]["source"].startswith("004:5538")
    won = next(t for t in machine["transitions"] if t["trigger"] == "close_won")
    assert won["guards"] == [{"name": "contract_signed"}]
    assert {"type": "lifecycle.start", "name": "open_renewal_opportunity"} in won["effects"]
    assert {t["name"] for t in machine["timers"]} == {
        "silence_first_nudge",
        "silence_second_nudge",
        "silence_close",
        "next_step_overdue",
        "loss_follow_up",
    }
    assert machine["defaultPolicy"]["silence_first_nudge_after"] == "P14D"
    assert machine["mermaid"].startswith("stateDiagram-v2")
    unknown = (await api.gql(MACHINE, {"kind": "spaceship"}, role="viewer"))["lifecycleMachine"]
    assert unknown["__typename"] == "NotFound"


async def test_the_machine_gives_each_triggers_parameters_as_json_schema(api: Api):
    query = """{ lifecycleMachine(kind: "trial") { ... on LifecycleMachine {
        transitions { trigger paramsSchema } timers { name trigger effects } } } }"""
    machine = (await api.gql(query, role="viewer"))["lifecycleMachine"]
    schemas = {t["trigger"]: t["paramsSchema"] for t in machine["transitions"]}
    extend = schemas["extend"]
    assert extend["type"] == "object" and sorted(extend["required"]) == ["days", "give_back"]
    assert extend["properties"]["days"]["type"] == "integer" and extend["additionalProperties"] is False
    assert schemas["pause"] is None
    assert set(schemas["record_provisioning_step"]["properties"]["step"]["$ref"].split("/")[-1:]) == {
        "ProvisioningStep"
    }
    timers = {t["name"]: t for t in machine["timers"]}
    assert timers["expiry"] == {"name": "expiry", "trigger": "expire", "effects": []}
    assert timers["feedback_session"] == {"name": "feedback_session", "trigger": "", "effects": ["feedback_session"]}


async def test_any_lifecycle_by_kind_and_id(api: Api, entity_id: str):
    await open_deal(api, entity_id)
    query = """query($kind: String!, $id: ID!) { lifecycle(kind: $kind, id: $id) { __typename
        ... on GenericLifecycle { kind stateName workflowId accountId data } ... on NotFound { message } } }"""
    found = (await api.gql(query, {"kind": "opportunity", "id": entity_id}, role="viewer"))["lifecycle"]
    assert found["stateName"] == "PROBLEM_AGREEMENT" and found["workflowId"] == f"opportunity/{entity_id}"
    assert found["data"]["account"] == {"id": "acme", "name": "ACME"} and found["accountId"] == "acme"
    # The workflow and the read model carry the data's fields only; the JSON adds the derived ones.
    derived = {"pipeline", "arr_discounted", "contract_end_date"}
    state = await api.stack.gateway.snapshot("opportunity", entity_id)
    assert derived.isdisjoint(state.data) and derived <= set(found["data"])
    assert found["data"]["pipeline"] == "NEW_BUSINESS" and found["data"]["arr_discounted"] == "60000.00"
    missing = (await api.gql(query, {"kind": "opportunity", "id": "nope"}, role="viewer"))["lifecycle"]
    assert missing["__typename"] == "NotFound"
