"""What the console needs from the API, through HTTP: its page and files, its configuration, the
development sign-in (on only when asked for, never in production), and the generic additions to
GraphQL it reads (me, lifecycleTotals, each machine's listQuery), and the board's own queries as
its source holds them."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from pydantic import ValidationError

from benchmarks.console import console_query
from services.api import create_app
from services.settings import Environment, Settings
from tests.api.test_generic_api import FIRE, deals  # noqa: F401 (a fixture)
from tests.conftest import TOKEN, Api, Stack, serve


@pytest.fixture
async def dev_api(local_stack: Stack) -> AsyncIterator[Api]:
    settings = local_stack.settings.model_copy(
        update={"console_dev_sign_in": True, "temporal_ui_url": "http://127.0.0.1:8233"}
    )
    async with serve(create_app(settings, client=local_stack.client)) as http:
        yield Api(http, local_stack)


async def test_the_page_and_its_modules_come_from_the_service(api: Api):
    page = await api.http.get("/console")
    assert page.status_code == 200
    assert '<script type="module" src="/console/static/app.js">' in page.text
    # Only this origin's files run: no CDN, no inline script.
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "http" not in page.text.split("<body>")[0].replace("http-equiv", "")
    for name in ("app.js", "api.js", "live.js", "diagram.js", "forms.js", "dom.js", "console.css"):
        served = await api.http.get(f"/console/static/{name}")
        assert served.status_code == 200, name
        # No address of another host; SVG's namespace name is a name, not a request.
        elsewhere = set(re.findall(r"https?://[^\s\"'`]+", served.text)) - {"http://www.w3.org/2000/svg"}
        assert not elsewhere, name
    assert (await api.http.get("/console/static/nothing.js")).status_code == 404


async def test_development_sign_in_is_off_unless_asked_for(api: Api):
    config = (await api.http.get("/console/config.json")).json()
    assert config["devRoles"] == [] and config["temporalUiUrl"] is None
    refused = await api.http.post("/console/dev-sign-in", json={"role": "operator"})
    assert refused.status_code == 404
    assert TOKEN["operator"] not in refused.text


def test_production_refuses_development_sign_in():
    with pytest.raises(ValidationError, match="never in production"):
        Settings(
            environment=Environment.PRODUCTION,
            console_dev_sign_in=True,
            api_tokens={"t" * 32: {"actor": "a", "role": "admin"}},
        )


async def test_development_sign_in_hands_a_role_its_token_in_the_body(dev_api: Api):
    config = (await dev_api.http.get("/console/config.json")).json()
    assert config["devRoles"] == ["viewer", "operator", "admin"]
    assert config["temporalUiUrl"] == "http://127.0.0.1:8233"
    answer = await dev_api.http.post("/console/dev-sign-in", json={"role": "operator"})
    assert answer.status_code == 200
    assert answer.json()["token"] == TOKEN["operator"]
    assert answer.headers["cache-control"] == "no-store"
    me = await dev_api.gql("{ me { actor role } }", role="operator")
    assert me["me"]["role"] == "OPERATOR"


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ('{"role": "superuser"}', "application/json", 400),
        ('{"role": null}', "application/json", 400),
        ("[1, 2]", "application/json", 400),
        ("not json", "application/json", 400),
        # A form post (what another site could send without asking first) is refused.
        ("role=operator", "application/x-www-form-urlencoded", 415),
        ('{"role": "operator"}', "text/plain", 415),
    ],
)
async def test_development_sign_in_refuses_bad_requests(dev_api: Api, body: str, content_type: str, status: int):
    answer = await dev_api.http.post("/console/dev-sign-in", content=body, headers={"content-type": content_type})
    assert answer.status_code == status
    assert "token" not in answer.json()
    assert all(token not in answer.text for token in TOKEN.values())
    assert (await dev_api.http.get("/console/dev-sign-in")).status_code == 405


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
async def test_me_names_the_caller(api: Api, role: str):
    me = (await api.gql("{ me { actor role } }", role=role))["me"]
    assert me["role"] == role.upper() and me["actor"]


async def test_me_needs_a_token(api: Api):
    assert (await api.post("{ me { actor } }", role=None)).status_code == 401


TOTALS = """query($kind: String, $filter: LifecycleFilter) {
  lifecycleTotals(kind: $kind, filter: $filter) { kind state count } }"""


async def test_totals_per_state(api: Api, deals: dict[str, str]):  # noqa: F811
    totals = (await api.gql(TOTALS, {"kind": "opportunity"}, role="viewer"))["lifecycleTotals"]
    assert totals == [
        {"kind": "opportunity", "state": "CLOSED_LOST", "count": 1},
        {"kind": "opportunity", "state": "PROBLEM_AGREEMENT", "count": 2},
    ]
    owned = await api.gql(TOTALS, {"kind": "opportunity", "filter": {"owner": "ann@example.com"}}, role="viewer")
    assert {(t["state"], t["count"]) for t in owned["lifecycleTotals"]} == {
        ("CLOSED_LOST", 1),
        ("PROBLEM_AGREEMENT", 1),
    }
    assert (await api.gql(TOTALS, {"kind": "trial"}, role="viewer"))["lifecycleTotals"] == []


@pytest.mark.parametrize(
    ("variables", "code"),
    [
        ({"kind": "nothing"}, "NotFound"),
        ({"kind": "opportunity", "filter": {"state": ["NOWHERE"]}}, "ValidationError"),
    ],
)
async def test_totals_refuse_unknown_kinds_and_states(api: Api, variables: dict[str, object], code: str):
    body = (await api.post(TOTALS, variables)).json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == code
    assert body["errors"][0]["message"]


LIST_QUERIES = """{ lifecycleMachines { kind listQuery {
  typeName lookup idArgument query filterType orderType defaultOrder orders
  filters { name type description values } } } }"""


async def test_every_kind_describes_its_list_query(api: Api):
    machines = {m["kind"]: m["listQuery"] for m in (await api.gql(LIST_QUERIES, role="viewer"))["lifecycleMachines"]}
    deals_list = machines["opportunity"]
    assert deals_list["query"] == "opportunities" and deals_list["lookup"] == "opportunity"
    assert deals_list["filterType"] == "OpportunityFilter" and deals_list["defaultOrder"] == "CLOSE_DATE_ASC"
    assert "AMOUNT_DESC" in deals_list["orders"]
    filters = {f["name"]: f for f in deals_list["filters"]}
    assert filters["stage"]["type"] == "[OpportunityStage!]" and "CLOSED_WON" in filters["stage"]["values"]
    assert filters["closeDateFrom"]["type"] == "Date" and filters["closeDateFrom"]["values"] == []
    assert machines["late-payment"]["idArgument"] == "invoiceId"
    # What the description names is what the list query accepts.
    for kind, described in machines.items():
        document = (
            f"query($filter: {described['filterType']}, $orderBy: {described['orderType']}!) "
            f"{{ {described['query']}(filter: $filter, orderBy: $orderBy, first: 1) {{ totalCount }} }}"
        )
        answer = await api.gql(document, {"filter": {}, "orderBy": described["defaultOrder"]}, role="viewer")
        assert answer[described["query"]]["totalCount"] >= 0, kind


async def test_the_board_asks_a_moved_deal_for_its_move_and_a_refused_one_for_its_criteria(
    api: Api,
    deals: dict[str, str],  # noqa: F811
):
    """The board's queries, read from the console's source: cards without their transitions or
    exit criteria, then for one deal the move it fires and, once refused, the criteria it lacks."""
    board, moves, refused = (console_query(name) for name in ("BOARD", "DEAL_MOVES", "REFUSED_DEAL"))
    page = await api.gql(board, {"filter": {"stage": ["PROBLEM_AGREEMENT"], "owner": "ann@example.com"}}, role="viewer")
    [card] = page["opportunities"]["nodes"]
    assert card["id"] == deals["a"] and card["stage"] == "PROBLEM_AGREEMENT" and card["account"]["name"]
    assert not {"availableTransitions", "exitCriteria"} & set(card)

    answer = await api.gql(moves, {"id": deals["a"]})
    [edge] = [t for t in answer["opportunity"]["availableTransitions"] if t["toState"] == "SOLUTION_AGREEMENT"]
    move = {"kind": "opportunity", "id": deals["a"], "trigger": edge["trigger"], "params": edge["params"]}
    fired = (await api.gql(FIRE, move))["fireLifecycleTrigger"]
    assert fired["__typename"] == "GuardFailed"

    criteria = (await api.gql(refused, {"id": deals["a"]}))["opportunity"]
    assert criteria["version"] == card["version"]  # the refusal changed nothing
    missing = [c["key"] for c in criteria["exitCriteria"] if c["stage"] == "PROBLEM_AGREEMENT" and not c["met"]]
    assert missing == ["quantified_pain", "cost_of_inaction", "problem_acknowledged"]
    assert all(f"({key})" in " ".join(u["message"] for u in fired["unmet"]) for key in missing)

    # A deal that is not there has no moves and no criteria; the console says it cannot move.
    for query in (moves, refused):
        assert await api.gql(query, {"id": "no-such-deal"}) == {"opportunity": {}}
