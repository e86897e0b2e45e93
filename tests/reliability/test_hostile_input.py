"""Hostile input: every mutation fuzzed through the real HTTP API, every operation and
argument fuzzed at the declared bounds on SQLite and PostgreSQL, and malformed requests.

Whatever arrives, the answer is a well-formed refusal (a typed union member, a GraphQL
error with a code, or a 4xx), never a server error, and a refused request changes
nothing: each lifecycle's version grows by exactly the number of successful answers.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.api import create_app
from services.db import upgrade
from services.reconcile import reconcile
from services.settings import Settings
from tests.conftest import TOKENS, Api, Stack, serve
from tests.launcher import TOKEN, LaunchedStack
from tests.postgres import PostgresServer
from tests.reliability.operations import Operation, _type_name, graphql_schema, operations, placeholder
from workflows.engine import values

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
        "Fuzz"}, amount: "100", collectionMethod: CARD, failedAttempts: 1}) { __typename } }"""
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
    st.sampled_from(["1e999997", "1e1000000", "NaN", "-Infinity", "-0", "0.000000001"]),
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
def stack(dev_stack: LaunchedStack) -> LaunchedStack:
    for seed in SEEDS.values():
        assert "Changed" in json.dumps(dev_stack.gql(seed))
    return dev_stack


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


async def test_introspection_and_graphiql_can_be_turned_off(local_stack: Stack, monkeypatch: pytest.MonkeyPatch):
    # The API as its process configures itself, from the environment (./dev up passes its own on).
    monkeypatch.setenv("LIFECYCLES_INTROSPECTION", "false")
    monkeypatch.setenv("LIFECYCLES_GRAPHIQL", "false")
    configured = Settings(
        database_url=local_stack.settings.database_url,
        task_queue=local_stack.settings.task_queue,
        api_tokens=TOKENS,
    )
    async with serve(create_app(configured, client=local_stack.client)) as http:
        api = Api(http, local_stack)
        introspection = await api.post("{ __schema { types { name } } }", role="viewer")
        assert "introspection has been disabled" in introspection.text
        assert (await http.get("/graphql", headers={"accept": "text/html"})).status_code in (401, 404)
        assert (await api.gql("{ lifecycleMachines { kind } }", role="viewer"))["lifecycleMachines"]


# ---- every operation and argument at the bounds, on SQLite and PostgreSQL -------------------------
#
# Over ASGI with a real worker, so the read model can be PostgreSQL (which, unlike SQLite,
# enforces column lengths): numeric extremes (huge exponents, NaN, infinities, negative
# zero, many decimals), strings at each declared maximum and one past it, unicode,
# oversized lists, for every argument of every query and mutation (filters included).
# No server error, an answer within a few seconds (a hang detector, not a timing goal),
# nothing changed by a refused request, and afterwards services.reconcile finds the read
# model matching every workflow (no projection wedged by something the API accepted).

EXAMPLES_PER_OPERATION = 5
# A refused or accepted request answers well within this; longer means it hangs.
ANSWER_WITHIN = 15.0

BOTH_VERSIONS = """query($deal: ID!, $invoice: ID!) { opportunity(id: $deal) { ... on Opportunity { version } }
  latePayment(invoiceId: $invoice) { ... on LatePayment { version } } }"""

BOUNDS = sorted(
    {
        values.ENTITY_ID_MAX_LENGTH,
        values.NAME_MAX_LENGTH,
        values.EMAIL_MAX_LENGTH,
        values.SHORT_TEXT_MAX_LENGTH,
        values.TEXT_MAX_LENGTH,
        values.IDEMPOTENCY_KEY_MAX_LENGTH,
    }
)
AMOUNTS = [
    "1e999997",
    "1e1000000",
    "-1e999997",
    "NaN",
    "-NaN",
    "sNaN",
    "Infinity",
    "-Infinity",
    "-0",
    "0.001",
    "1." + "1" * 60,
    "1E-999999",
    str(values.MONEY_MAX),
    str(values.MONEY_MAX + values.CENT),
    "100",
]
UNICODE = ["Zoë 🚀", "\u202eevil", "e\u0301", "\x00nul", "日本語", "\ud7ff", "a" * 3 + "\u200b"]


def at_bounds(make: str) -> st.SearchStrategy[str]:
    """A string exactly at one of the declared maxima, or one past it."""
    return st.builds(lambda n, extra: make * (n + extra), st.sampled_from(BOUNDS), st.sampled_from([0, 1]))


strings = st.one_of(
    st.text(max_size=30),
    at_bounds("x"),
    at_bounds("é"),
    st.sampled_from(UNICODE),
    st.sampled_from(["with/slash", "with space", "line\nbreak", "a@b.co"]),
)


def bounded_value(name: str, t: GraphQLInputType, targets: tuple[str, ...]) -> st.SearchStrategy[Any]:
    required = isinstance(t, GraphQLNonNull)
    inner = t.of_type if required else t
    if name in ("id", "invoiceId"):
        strategy: st.SearchStrategy[Any] = st.one_of(st.sampled_from(targets), strings)
    elif isinstance(inner, GraphQLList):
        item = bounded_value("", inner.of_type, targets)
        strategy = st.one_of(
            st.lists(item, max_size=3),
            item.map(lambda v: [v] * (values.MAX_LIST_ITEMS + 1)),
        )
    elif isinstance(inner, GraphQLInputObjectType):
        strategy = bounded_fields(inner, targets)
    elif isinstance(inner, GraphQLEnumType):
        strategy = st.one_of(st.sampled_from(sorted(inner.values)), strings)
    elif isinstance(inner, GraphQLScalarType):
        strategy = scalar(inner.name)
    else:
        raise AssertionError(f"no strategy for {inner}")
    return strategy if required else st.one_of(st.none(), strategy)


def scalar(name: str) -> st.SearchStrategy[Any]:
    if name in ("Money", "Decimal"):
        return st.one_of(st.sampled_from(AMOUNTS), st.integers(min_value=-(10**20), max_value=10**20))
    if name == "Int":
        return st.sampled_from([0, -1, 1, 2**31 - 1, 2**31, -(2**31) - 1, 2**53, 10**6])
    if name == "Float":
        return st.floats(allow_nan=False, allow_infinity=False)
    if name == "Boolean":
        return st.booleans()
    if name == "Date":
        return st.sampled_from(["2027-01-01", "2027-02-30", "99999-01-01", "0001-01-01", "yesterday"])
    if name == "DateTime":
        return st.sampled_from(["2027-01-01T00:00:00Z", "2027-01-01T00:00:00", "9999-12-31T23:59:59+14:00"])
    if name == "JSON":
        return st.one_of(
            st.dictionaries(strings, st.one_of(strings, st.integers()), max_size=3),
            st.just({"k": ["v"] * (values.MAX_LIST_ITEMS + 1)}),
        )
    return strings


def bounded_fields(t: GraphQLInputObjectType, targets: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    required = {n: bounded_value(n, f.type, targets) for n, f in t.fields.items() if isinstance(f.type, GraphQLNonNull)}
    optional = {
        n: bounded_value(n, f.type, targets) for n, f in t.fields.items() if not isinstance(f.type, GraphQLNonNull)
    }
    return st.fixed_dictionaries(required, optional=optional)


def every_operation() -> list[tuple[str, str, dict[str, GraphQLInputType]]]:
    """(name, document, arguments) for each root field, with every argument a variable."""
    schema = graphql_schema()
    out = []
    for kind, root in (("query", schema.query_type), ("mutation", schema.mutation_type)):
        assert root is not None
        for name, field in root.fields.items():
            args = {a: arg.type for a, arg in field.args.items()}
            declared = ", ".join(f"${a}: {_type_name(t)}" for a, t in args.items())
            passed = ", ".join(f"{a}: ${a}" for a in args)
            selection = "" if field.type.__class__ is GraphQLScalarType else "{ __typename }"
            document = (
                f"{kind}{f'({declared})' if declared else ''} {{ {name}{f'({passed})' if passed else ''} {selection} }}"
            )
            out.append((name, document, args))
    return out


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, migrated_template: Path, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "readmodel.db"
        shutil.copy(migrated_template, path)
        return f"sqlite+aiosqlite:///{path}"
    postgres: PostgresServer = request.getfixturevalue("postgres")
    url = postgres.create_database(f"fuzz_{uuid.uuid4().hex[:10]}")
    upgrade(url)
    return url


async def test_every_operation_fuzzed_at_the_bounds(api: Api):
    # Unique per test: the Temporal dev server (and its workflow ids) is shared by both runs.
    suffix = uuid.uuid4().hex[:8]
    targets = {f"fuzz-deal-{suffix}": "fuzz-deal", f"fuzz-invoice-{suffix}": "fuzz-invoice"}
    for seed in SEEDS.values():
        seed = seed.replace('"fuzz-deal"', f'"fuzz-deal-{suffix}"').replace(
            '"fuzz-invoice"', f'"fuzz-invoice-{suffix}"'
        )
        assert "Changed" in str(await api.gql(seed, role="admin"))
    loop = asyncio.get_running_loop()
    successes: Counter[str] = Counter()
    sent: Counter[str] = Counter()

    def send(name: str, document: str, variables: dict[str, Any]) -> None:
        future = asyncio.run_coroutine_threadsafe(
            asyncio.wait_for(api.post(document, variables, role="admin"), ANSWER_WITHIN), loop
        )
        response = future.result()  # a TimeoutError here: the request hung
        assert response.status_code in (200, 400, 413), (name, response.status_code, response.text[:300])
        body = response.json()
        codes = {e.get("extensions", {}).get("code") for e in body.get("errors") or []}
        assert "INTERNAL_SERVER_ERROR" not in codes, (name, variables, body)
        answer = (body.get("data") or {}).get(name)
        given_input = variables.get("input")
        target = (given_input.get("id") or given_input.get("invoiceId")) if isinstance(given_input, dict) else None
        if isinstance(answer, dict) and str(answer.get("__typename", "")).endswith("Changed") and target in targets:
            successes[target] += 1
        sent[name] += 1

    def fuzzer(name: str, document: str, strategy: st.SearchStrategy[dict[str, Any]]) -> Any:
        @settings(
            max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(variables=strategy)
        def fuzz(variables: dict[str, Any]) -> None:
            send(name, document, {k: v for k, v in variables.items() if v is not None})

        return fuzz

    def fuzz_all() -> None:
        for name, document, args in every_operation():
            fuzzer(
                name, document, st.fixed_dictionaries({a: bounded_value(a, t, tuple(targets)) for a, t in args.items()})
            )()

    await asyncio.to_thread(fuzz_all)
    deal, invoice = targets
    versions = await api.gql(BOTH_VERSIONS, {"deal": deal, "invoice": invoice}, role="viewer")
    assert versions["opportunity"]["version"] == 1 + successes[deal], successes
    assert versions["latePayment"]["version"] == 1 + successes[invoice], successes
    stack = api.stack
    for _ in range(60):
        report = await reconcile(stack.client, stack.sessions, stack.settings.task_queue)
        if report.clean:
            break
        await asyncio.sleep(0.5)
    assert report.clean, report
    print(f"\nfuzzed {sum(sent.values())} requests over {len(sent)} operations, {sum(successes.values())} accepted")
