"""The kind-agnostic operations an operator's tools use: ``lifecycles`` (a list over the
generic read-model table) and ``fireLifecycleTrigger`` (any trigger by name), with every
refusal typed and changing nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.documents import REFUSALS
from tests.api.test_opportunity_api import LOST, call, open_deal
from tests.conftest import Api

LIST = """query($kind: String, $filter: LifecycleFilter, $orderBy: LifecycleOrder, $first: Int, $after: String) {
  lifecycles(kind: $kind, filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id kind stateName owner accountId terminal version nextDeadline updatedAt } }
  } }"""

FIRE = f"""mutation($kind: String!, $id: ID!, $trigger: String!, $params: JSON, $reason: String, $key: String) {{
  fireLifecycleTrigger(kind: $kind, id: $id, trigger: $trigger, params: $params, reason: $reason,
                       idempotencyKey: $key) {{
    __typename
    ... on LifecycleChanged {{
      lifecycle {{ id stateName version data }}
      transition {{ seq trigger fromState toState actor reason params idempotencyKey }}
    }}
    {REFUSALS}
  }} }}"""

VERSION = """query($kind: String!, $id: ID!) { lifecycle(kind: $kind, id: $id) {
  ... on GenericLifecycle { stateName version history { totalCount } } } }"""


@pytest.fixture
async def deals(api: Api, entity_id: str) -> dict[str, str]:
    ids = {key: f"{entity_id}-{key}" for key in "abc"}
    await open_deal(api, ids["a"], owner="ann@example.com")
    await open_deal(api, ids["b"], owner="bob@example.com", account={"id": "globex", "name": "Globex"})
    await open_deal(api, ids["c"], owner="ann@example.com")
    await call(api, LOST, {"id": ids["c"], "lossReason": "PRICING"})
    return ids


async def listed(api: Api, **variables: Any) -> dict[str, Any]:
    return (await api.gql(LIST, variables, role="viewer"))["lifecycles"]


def names(result: dict[str, Any], deals: dict[str, str]) -> list[str]:
    by_id = {v: k for k, v in deals.items()}
    return sorted(by_id[e["node"]["id"]] for e in result["edges"])


@pytest.mark.parametrize(
    ("kind", "filter", "expected"),
    [
        ("opportunity", {}, ["a", "b", "c"]),
        (None, {}, ["a", "b", "c"]),
        ("opportunity", {"owner": "ann@example.com"}, ["a", "c"]),
        ("opportunity", {"accountId": "globex"}, ["b"]),
        ("opportunity", {"state": ["CLOSED_LOST"]}, ["c"]),
        ("opportunity", {"state": ["PROBLEM_AGREEMENT", "CLOSED_LOST"]}, ["a", "b", "c"]),
        ("opportunity", {"terminal": False}, ["a", "b"]),
        ("opportunity", {"dueBefore": "2100-01-01T00:00:00Z"}, ["a", "b"]),  # lost on price: no follow-up
        ("opportunity", {"dueBefore": "2000-01-01T00:00:00Z"}, []),
        ("opportunity", {"updatedAfter": "2100-01-01T00:00:00Z"}, []),
        ("trial", {}, []),
    ],
)
async def test_filters(api: Api, deals: dict[str, str], kind: str | None, filter: dict[str, Any], expected: list[str]):
    result = await listed(api, kind=kind, filter=filter)
    assert names(result, deals) == expected
    assert result["totalCount"] == len(expected)


async def test_pages_in_order_of_the_last_change(api: Api, deals: dict[str, str]):
    first = await listed(api, kind="opportunity", first=2)
    assert first["pageInfo"]["hasNextPage"] and first["totalCount"] == 3
    rest = await listed(api, kind="opportunity", first=2, after=first["pageInfo"]["endCursor"])
    nodes = [e["node"] for e in first["edges"] + rest["edges"]]
    assert not rest["pageInfo"]["hasNextPage"]
    # The lost deal changed last, so it leads the newest-first order.
    assert nodes[0]["id"] == deals["c"]
    assert [n["updatedAt"] for n in nodes] == sorted((n["updatedAt"] for n in nodes), reverse=True)
    oldest_first = await listed(api, kind="opportunity", orderBy="UPDATED_AT_ASC")
    assert [e["node"]["id"] for e in oldest_first["edges"]] == [n["id"] for n in reversed(nodes)]


@pytest.mark.parametrize(
    ("variables", "code", "field"),
    [
        ({"kind": "nonsense"}, "NotFound", None),
        ({"kind": "opportunity", "filter": {"state": ["ACTIVE"]}}, "ValidationError", "filter.state"),
        ({"filter": {"state": ["NO_SUCH_STATE"]}}, "ValidationError", "filter.state"),
        ({"kind": "opportunity", "filter": {"dueBefore": "2027-01-01T00:00:00"}}, "BAD_USER_INPUT", "dueBefore"),
        ({"kind": "opportunity", "first": 1001}, "ValidationError", None),
        ({"kind": "opportunity", "after": "not-a-cursor"}, "ValidationError", None),
    ],
)
async def test_bad_list_input_is_refused_with_its_code(
    api: Api, variables: dict[str, Any], code: str, field: str | None
):
    response = await api.post(LIST, variables, role="viewer")
    body = response.json()
    assert body["data"] is None
    error = body["errors"][0]
    assert error["extensions"]["code"] == code, error
    if field is not None:
        assert field in str(error["extensions"]), error


async def fire(api: Api, role: str = "operator", **variables: Any) -> dict[str, Any]:
    return (await api.gql(FIRE, {"kind": "opportunity", **variables}, role=role))["fireLifecycleTrigger"]


async def test_any_trigger_fires_by_name_once_per_key(api: Api, entity_id: str):
    await open_deal(api, entity_id)
    variables = {
        "id": entity_id,
        "trigger": "close_lost",
        "params": {"loss_reason": "PRICING", "loss_note": "went with a cheaper tool"},
        "reason": "customer said no",
        "key": f"{entity_id}-lost",
    }
    result = await fire(api, **variables)
    assert result["__typename"] == "LifecycleChanged", result
    assert result["lifecycle"]["stateName"] == "CLOSED_LOST"
    assert result["transition"] == {
        "seq": 2,
        "trigger": "close_lost",
        "fromState": "PROBLEM_AGREEMENT",
        "toState": "CLOSED_LOST",
        "actor": "otto@example.com",
        "reason": "customer said no",
        "params": {"loss_reason": "PRICING", "loss_note": "went with a cheaper tool"},
        "idempotencyKey": f"{entity_id}-lost",
    }
    again = await fire(api, **variables)
    assert again["transition"]["seq"] == 2
    state = await api.gql(VERSION, {"kind": "opportunity", "id": entity_id}, role="viewer")
    assert state["lifecycle"]["history"]["totalCount"] == 2


@pytest.mark.parametrize(
    ("role", "variables", "typename", "check"),
    [
        ("viewer", {"trigger": "close_lost", "params": {"loss_reason": "PRICING"}}, "Forbidden", "requiredRole"),
        ("operator", {"trigger": "waive_criterion", "params": {}}, "Forbidden", "requiredRole"),
        ("admin", {"trigger": "follow_up_due"}, "Forbidden", "requiredRole"),
        ("operator", {"kind": "nonsense", "trigger": "close_lost"}, "NotFound", None),
        ("operator", {"id": "no-such-deal", "trigger": "close_lost"}, "NotFound", None),
        ("operator", {"trigger": "no_such_trigger"}, "InvalidTransition", "allowed"),
        ("operator", {"trigger": "advance"}, "GuardFailed", "unmet"),
        ("operator", {"trigger": "close_lost"}, "GuardFailed", "unmet"),
        ("operator", {"trigger": "close_lost", "params": ["PRICING"]}, "ValidationError", "params"),
        ("operator", {"trigger": "close_lost", "params": "PRICING"}, "ValidationError", "params"),
        (
            "operator",
            {"trigger": "close_lost", "params": {"loss_reason": "BORED"}},
            "ValidationError",
            "params.loss_reason",
        ),
        ("operator", {"trigger": "close_won", "params": {"surprise": 1}}, "ValidationError", "params.surprise"),
    ],
)
async def test_refusals_are_typed_and_change_nothing(
    api: Api, entity_id: str, role: str, variables: dict[str, Any], typename: str, check: str | None
):
    await open_deal(api, entity_id)
    before = await api.gql(VERSION, {"kind": "opportunity", "id": entity_id}, role="viewer")
    result = await fire(api, role=role, **{"id": entity_id, **variables})
    assert result["__typename"] == typename, result
    assert result["message"]
    if typename == "ValidationError":
        assert check in [f["field"] for f in result["fields"]], result
    elif typename == "GuardFailed":
        assert result["unmet"] and all(u["guard"] and u["message"] for u in result["unmet"]), result
    elif check is not None:
        assert result[check], result
    assert await api.gql(VERSION, {"kind": "opportunity", "id": entity_id}, role="viewer") == before
