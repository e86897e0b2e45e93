"""Hostile input: every mutation fuzzed through the real HTTP API, and malformed requests.

Whatever arrives, the answer is a well-formed refusal (a typed union member, a GraphQL
error with a code, or a 4xx), never a server error, and a refused request changes
nothing: each lifecycle's version grows by exactly the number of successful answers.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLInputObjectType, GraphQLInputType, GraphQLList, GraphQLNonNull, GraphQLScalarType
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.launcher import TOKEN, LaunchedStack, launched_stack
from tests.reliability.operations import Operation, operations, placeholder

pytestmark = pytest.mark.e2e

EXAMPLES_PER_MUTATION = 12
MUTATIONS = [op for op in operations() if op.kind == "mutation"]
SUCCESSES: Counter[str] = Counter()
SENT: Counter[str] = Counter()

SEEDS = {
    "opportunity": (
        """mutation { openOpportunity(input: {id: "fuzz-deal", name: "Fuzz", account: {id: "fuzz", name:
        "Fuzz"}, closeDate: "2027-03-31", amount: "1000"}) { __typename } }"""
    ),
    "late-payment": (
        """mutation { openLatePayment(input: {invoiceId: "fuzz-invoice", account: {id: "fuzz", name:
        "Fuzz"}, amount: "100", collectionMethod: "CARD", failedAttempts: 1}) { __typename } }"""
    ),
}
VERSION = {
    "opportunity": 'query { opportunity(id: "fuzz-deal") { ... on Opportunity { version } } }',
    "late-payment": 'query { latePayment(invoiceId: "fuzz-invoice") { ... on LatePayment { version } } }',
}
TARGET_IDS = {"fuzz-deal": "opportunity", "fuzz-invoice": "late-payment"}


class Huge(str):
    """A 100,000-character string that prints short when hypothesis reports an example."""

    def __repr__(self) -> str:
        return f"<{len(self)} characters>"


junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=200),
    st.just(Huge("x" * 100_000)),
    st.just("'; DROP TABLE lifecycles; --"),
    st.just("2027-02-30"),
    st.just("-0.001"),
    st.lists(st.text(max_size=20), max_size=5),
    st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3),
)


def value_for(name: str, t: GraphQLInputType) -> st.SearchStrategy[Any]:
    if name in ("id", "invoiceId"):
        return st.one_of(st.sampled_from(sorted(TARGET_IDS)), junk)
    inner = t.of_type if isinstance(t, GraphQLNonNull) else t
    if isinstance(inner, GraphQLInputObjectType):
        return st.one_of(fields_of(inner), junk)
    if isinstance(inner, GraphQLList | GraphQLScalarType):
        return st.one_of(st.just(placeholder(t)), junk)
    return st.one_of(st.just(placeholder(t)), junk)


def fields_of(t: GraphQLInputObjectType) -> st.SearchStrategy[dict[str, Any]]:
    required = {n: value_for(n, f.type) for n, f in t.fields.items() if isinstance(f.type, GraphQLNonNull)}
    optional = {n: value_for(n, f.type) for n, f in t.fields.items() if not isinstance(f.type, GraphQLNonNull)}
    unknown = st.dictionaries(st.sampled_from(["bogus", "__typename", "role", "actor"]), junk, max_size=1)
    return st.builds(
        lambda a, b, c: {**a, **b, **c}, st.fixed_dictionaries(required, optional=optional), st.just({}), unknown
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaunchedStack]:
    with launched_stack(tmp_path_factory.mktemp("fuzz")) as s:
        for seed in SEEDS.values():
            assert "Changed" in json.dumps(s.gql(seed))
        yield s


def send(stack: LaunchedStack, op: Operation, variables: dict[str, Any]) -> None:
    body = json.dumps({"query": op.document, "variables": variables}, allow_nan=False)
    response = stack.http.post(
        f"{stack.url}/graphql",
        content=body,
        timeout=60,
        headers={"authorization": f"Bearer {TOKEN['admin']}", "content-type": "application/json"},
    )
    assert response.status_code in (200, 400, 413), (response.status_code, response.text[:500])
    payload = response.json()
    codes = {e.get("extensions", {}).get("code") for e in payload.get("errors") or []}
    assert "INTERNAL_SERVER_ERROR" not in codes, payload
    answer = (payload.get("data") or {}).get(op.name) or {}
    given_input = variables.get("input")
    target = given_input.get("id") or given_input.get("invoiceId") if isinstance(given_input, dict) else None
    if isinstance(answer, dict) and str(answer.get("__typename", "")).endswith("Changed") and target in TARGET_IDS:
        SUCCESSES[target] += 1
    SENT[op.name] += 1


@pytest.mark.parametrize("op", MUTATIONS, ids=lambda op: op.name)
def test_fuzzed_mutations_never_break_the_server(stack: LaunchedStack, op: Operation):
    strategy = st.fixed_dictionaries({a: value_for(a, t) for a, t in op.args.items()})

    @settings(max_examples=EXAMPLES_PER_MUTATION, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(variables=strategy)
    def fuzz(variables: dict[str, Any]) -> None:
        send(stack, op, variables)

    fuzz()


def test_refused_fuzz_changed_nothing(stack: LaunchedStack):
    for ident, kind in TARGET_IDS.items():
        data = stack.gql(VERSION[kind], role="viewer")
        assert next(iter(data.values()))["version"] == 1 + SUCCESSES[ident], (ident, SUCCESSES)
    print(
        f"\nfuzzing: {sum(SENT.values())} requests over {len(SENT)} mutations, "
        f"{sum(SUCCESSES.values())} accepted, none broke the server"
    )


def raw(
    stack: LaunchedStack, content: bytes | str, content_type: str = "application/json", role: str = "operator"
) -> Any:
    return stack.http.post(
        f"{stack.url}/graphql",
        content=content,
        timeout=60,
        headers={"authorization": f"Bearer {TOKEN[role]}", "content-type": content_type},
    )


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[]", "application/json"),
        (b'{"query": 42}', "application/json"),
        (b'{"variables": {}}', "application/json"),
        (b"\xff\xfe\x00garbage", "application/json"),
        (b"query=%7B__typename%7D", "application/x-www-form-urlencoded"),
        (b'{"query": "{ __typename }"}', "text/plain"),
    ],
)
def test_malformed_requests_are_refused_politely(stack: LaunchedStack, content: bytes, content_type: str):
    response = raw(stack, content, content_type)
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:200])


def error_codes(response: Any) -> set[str]:
    return {e.get("extensions", {}).get("code") for e in response.json().get("errors") or []}


def test_oversized_deep_and_wide_queries_are_limited(stack: LaunchedStack):
    deep = "{ lifecycleMachines " + "{ states { checklist " * 10 + "{ key }" + " } }" * 10 + " }"
    response = stack.post(deep, role="viewer")
    assert response.status_code in (200, 400) and "exceeds maximum operation depth" in response.text
    aliases = "{ " + " ".join(f"a{i}: lifecycleMachines {{ kind }}" for i in range(100)) + " }"
    assert "aliases found" in stack.post(aliases, role="viewer").text
    tokens = "{ " + " ".join(f"a{i}: __typename" for i in range(3000)) + " }"
    assert "contains more than 4000 tokens" in stack.post(tokens, role="viewer").text
    unknown = stack.post('{ opportunity(id: "x") { ... on Opportunity { secretField } } }', role="viewer")
    assert unknown.status_code in (200, 400) and error_codes(unknown) == {"GRAPHQL_VALIDATION_FAILED"}
    huge = raw(stack, json.dumps({"query": "{ __typename }", "variables": {"x": "y" * 2_000_000}}))
    assert huge.status_code in (200, 400, 413)
    page = stack.post("{ opportunities(first: 100000) { totalCount } }", role="viewer")
    assert error_codes(page) == {"ValidationError"}


def test_introspection_and_graphiql_can_be_turned_off(tmp_path: Path):
    with launched_stack(tmp_path, {"LIFECYCLES_INTROSPECTION": "false", "LIFECYCLES_GRAPHIQL": "false"}) as s:
        introspection = s.post("{ __schema { types { name } } }", role="viewer")
        assert "introspection has been disabled" in introspection.text
        assert s.http.get(f"{s.url}/graphql", headers={"accept": "text/html"}).status_code in (401, 404)
        assert s.ask("{ lifecycleMachines { kind } }", role="viewer")["lifecycleMachines"]
