"""The ``lifecycles`` command against the real stack: the API served over HTTP on a free
port (uvicorn, as in production) with a real worker and Temporal dev server; the CLI runs
in-process (Typer's runner, in a thread so the API and worker keep running here)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import typer.completion
import uvicorn
from click.testing import Result
from sqlmodel import col
from typer.testing import CliRunner

from infra.dev import dev_tokens
from services.api import create_app
from services.cli.app import app, complete_kind
from services.cli.client import DEFAULT_DATA_DIR, Exit, find_token
from services.models import LifecycleRow
from services.settings import DEFAULT_DATA_DIR as SETTINGS_DATA_DIR
from services.settings import get_settings
from tests.api.test_generic_api import FIRE
from tests.api.test_opportunity_api import open_deal
from tests.conftest import TOKEN, Api, Stack
from tests.postgres import free_port
from tests.workflows.helpers import eventually

RUNNER = CliRunner()


@pytest.fixture
async def api_url(local_stack: Stack) -> AsyncIterator[str]:
    port = free_port()
    config = uvicorn.Config(
        create_app(local_stack.settings, client=local_stack.client),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:

        async def started() -> bool:
            return server.started

        await eventually(started)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


async def cli(url: str, *args: str, role: str | None = "operator", env: dict[str, str | None] | None = None) -> Result:
    environment: dict[str, str | None] = {
        "LIFECYCLES_API_URL": url,
        "LIFECYCLES_TOKEN": TOKEN[role] if role else None,
        "COLUMNS": "250",
        **(env or {}),
    }
    return await asyncio.to_thread(RUNNER.invoke, app, list(args), env=environment)


def parsed(result: Result) -> Any:
    assert result.stdout, result.stderr
    return json.loads(result.stdout)


async def test_list_filters_and_prints_json(api: Api, api_url: str, entity_id: str):
    await open_deal(api, f"{entity_id}-a", owner="ann@example.com")
    await open_deal(api, f"{entity_id}-b", owner="bob@example.com", account={"id": "globex", "name": "Globex"})

    table = await cli(api_url, "list", "opportunity")
    assert table.exit_code == 0, table.output
    assert f"{entity_id}-a" in table.stdout and f"{entity_id}-b" in table.stdout
    assert "2 of 2 opportunity" in table.stdout

    everything = parsed(await cli(api_url, "list", "--json"))
    assert everything["totalCount"] == 2
    assert {n["id"] for n in everything["lifecycles"]} == {f"{entity_id}-a", f"{entity_id}-b"}
    assert all(n["stateName"] == "PROBLEM_AGREEMENT" for n in everything["lifecycles"])

    by_owner = parsed(await cli(api_url, "list", "opportunity", "--owner", "bob@example.com", "--json"))
    assert [n["id"] for n in by_owner["lifecycles"]] == [f"{entity_id}-b"]
    by_account = parsed(await cli(api_url, "list", "opportunity", "--account", "globex", "--json"))
    assert [n["accountId"] for n in by_account["lifecycles"]] == ["globex"]
    due_soon = parsed(await cli(api_url, "list", "opportunity", "--due-within", "3650d", "--json"))
    assert due_soon["totalCount"] == 2
    due_now = parsed(await cli(api_url, "list", "opportunity", "--due-within", "1m", "--json"))
    assert due_now["totalCount"] == 0
    lost = parsed(await cli(api_url, "list", "opportunity", "--state", "CLOSED_LOST", "--json"))
    assert lost == {"totalCount": 0, "lifecycles": []}
    one = parsed(await cli(api_url, "list", "--limit", "1", "--json"))
    assert len(one["lifecycles"]) == 1 and one["totalCount"] == 2


async def test_bad_list_input_is_refused(api_url: str):
    bad_duration = await cli(api_url, "list", "opportunity", "--due-within", "soon")
    assert bad_duration.exit_code == Exit.USAGE
    assert "not a duration" in bad_duration.output
    bad_state = await cli(api_url, "list", "opportunity", "--state", "NAPPING")
    assert bad_state.exit_code == Exit.REFUSED
    assert "NAPPING" in bad_state.stderr
    bad_kind = await cli(api_url, "list", "unicorn", "--json")
    assert bad_kind.exit_code == Exit.NOT_FOUND
    assert parsed(bad_kind)["error"] == "NotFound"


async def test_show_tells_what_may_happen_and_what_it_lacks(api: Api, api_url: str, entity_id: str):
    await open_deal(api, entity_id)
    shown = await cli(api_url, "show", "opportunity", entity_id)
    assert shown.exit_code == 0, shown.output
    for text in ("PROBLEM_AGREEMENT", "What may happen now", "advance", "Deadlines", "silence_first_nudge"):
        assert text in shown.stdout, text

    details = parsed(await cli(api_url, "show", "opportunity", entity_id, "--json"))
    assert details["id"] == entity_id and details["stateName"] == "PROBLEM_AGREEMENT"
    assert details["data"]["name"] == "ACME analytics"
    advance = next(t for t in details["availableTransitions"] if t["trigger"] == "advance")
    assert advance["allowed"] is False and advance["unmet"]
    # Every unmet condition is printed in the table as the API gives it.
    assert all(line in shown.stdout for line in advance["unmet"])

    missing = await cli(api_url, "show", "opportunity", "no-such-deal")
    assert missing.exit_code == Exit.NOT_FOUND
    assert "no-such-deal" in missing.stderr


async def test_fire_applies_a_trigger_and_history_shows_it(api: Api, api_url: str, entity_id: str):
    await open_deal(api, entity_id)
    renamed = await cli(
        api_url,
        "fire",
        "opportunity",
        entity_id,
        "update_fields",
        "--param",
        "name=Globex rollout",
        "--param",
        "term_months=24",
        "--reason",
        "call notes",
        "--key",
        f"{entity_id}-rename",
    )
    assert renamed.exit_code == 0, renamed.output
    assert "update_fields applied" in renamed.stdout
    again = await cli(
        api_url,
        "fire",
        "opportunity",
        entity_id,
        "update_fields",
        "-p",
        "name=Globex rollout",
        "-p",
        "term_months=24",
        "--reason",
        "call notes",
        "--key",
        f"{entity_id}-rename",
        "--json",
    )
    assert again.exit_code == 0 and parsed(again)["transition"]["seq"] == 2

    lost = await cli(api_url, "fire", "opportunity", entity_id, "close_lost", "--param", "loss_reason=PRICING")
    assert lost.exit_code == 0, lost.output
    assert "PROBLEM_AGREEMENT -> CLOSED_LOST" in lost.stdout

    records = parsed(await cli(api_url, "history", "opportunity", entity_id, "--json", role="viewer"))
    assert [(r["seq"], r["trigger"]) for r in records] == [(1, "open"), (2, "update_fields"), (3, "close_lost")]
    # A value that parses as JSON is sent as JSON (24), anything else as the string it is.
    assert records[1]["params"] == {"name": "Globex rollout", "term_months": 24}
    assert (records[1]["reason"], records[1]["actor"]) == ("call notes", "otto@example.com")
    table = await cli(api_url, "history", "opportunity", entity_id, role="viewer")
    assert table.exit_code == 0 and "close_lost" in table.stdout and "3 transitions" in table.stdout
    assert (await cli(api_url, "history", "opportunity", "no-such-deal")).exit_code == Exit.NOT_FOUND


async def test_refusals_are_printed_in_words_with_their_exit_codes(api: Api, api_url: str, entity_id: str):
    await open_deal(api, entity_id)
    details = parsed(await cli(api_url, "show", "opportunity", entity_id, "--json"))
    unmet = next(t for t in details["availableTransitions"] if t["trigger"] == "advance")["unmet"]

    guarded = await cli(api_url, "fire", "opportunity", entity_id, "advance")
    assert guarded.exit_code == Exit.REFUSED
    assert guarded.stderr.startswith("Refused:")
    assert f"{len(unmet)} unmet conditions:" in guarded.stderr
    assert all(line in guarded.stderr for line in unmet)

    as_json = await cli(api_url, "fire", "opportunity", entity_id, "advance", "--json")
    assert as_json.exit_code == Exit.REFUSED
    refusal = parsed(as_json)
    assert refusal["__typename"] == "GuardFailed"
    assert [u["message"] for u in refusal["unmet"]] == unmet

    invalid = await cli(api_url, "fire", "opportunity", entity_id, "no_such_trigger")
    assert invalid.exit_code == Exit.REFUSED
    assert "these triggers may fire" in invalid.stderr and "close_lost" in invalid.stderr

    bad_param = await cli(api_url, "fire", "opportunity", entity_id, "close_lost", "--param", "loss_reason=BORED")
    assert bad_param.exit_code == Exit.REFUSED
    assert "params.loss_reason" in bad_param.stderr
    malformed = await cli(api_url, "fire", "opportunity", entity_id, "close_lost", "--param", "loss_reason")
    assert malformed.exit_code == Exit.USAGE

    viewer = await cli(
        api_url, "fire", "opportunity", entity_id, "close_lost", "-p", "loss_reason=PRICING", role="viewer"
    )
    assert viewer.exit_code == Exit.FORBIDDEN
    assert viewer.stderr.startswith("Forbidden:") and "operator role" in viewer.stderr

    absent = await cli(api_url, "fire", "opportunity", "no-such-deal", "close_lost", "-p", "loss_reason=PRICING")
    assert absent.exit_code == Exit.NOT_FOUND
    unknown_kind = await cli(api_url, "fire", "unicorn", entity_id, "close_lost")
    assert unknown_kind.exit_code == Exit.NOT_FOUND

    # Nothing was changed by any of them.
    assert parsed(await cli(api_url, "show", "opportunity", entity_id, "--json"))["version"] == details["version"]


async def test_tokens_come_from_the_environment_or_the_dev_tokens_file(api_url: str, tmp_path: Path):
    tokens = {token: {"actor": f"{role}@localhost", "role": role} for role, token in TOKEN.items()}
    (tmp_path / "dev-tokens.json").write_text(json.dumps(tokens))
    from_file = {"LIFECYCLES_TOKEN": None, "LIFECYCLES_DATA_DIR": str(tmp_path)}

    as_operator = await cli(api_url, "list", "--json", role=None, env=from_file)
    assert as_operator.exit_code == 0, as_operator.output
    as_viewer = await cli(
        api_url, "--role", "viewer", "fire", "opportunity", "x", "close_lost", role=None, env=from_file
    )
    assert as_viewer.exit_code == Exit.FORBIDDEN and "operator role" in as_viewer.stderr

    no_tokens = await cli(api_url, "list", role=None, env={"LIFECYCLES_DATA_DIR": str(tmp_path / "empty")})
    assert no_tokens.exit_code == Exit.FORBIDDEN and "LIFECYCLES_TOKEN" in no_tokens.stderr
    wrong = await cli(api_url, "list", role=None, env={"LIFECYCLES_TOKEN": "not-a-token-at-all"})
    assert wrong.exit_code == Exit.FORBIDDEN and "did not accept the token" in wrong.stderr
    # The CLI's default data directory is ./dev up's, and it reads the file ./dev up writes.
    assert DEFAULT_DATA_DIR == SETTINGS_DATA_DIR
    (tmp_path / "dev").mkdir()
    written = dev_tokens(tmp_path / "dev")
    for role in ("viewer", "operator", "admin"):
        assert written[find_token(role, tmp_path / "dev")]["role"] == role


async def test_an_api_that_does_not_answer_is_unavailable():
    nobody = f"http://127.0.0.1:{free_port()}"
    result = await cli(nobody, "list", "opportunity")
    assert result.exit_code == Exit.UNAVAILABLE
    assert "Cannot reach the API" in result.stderr
    as_json = await cli(nobody, "fire", "opportunity", "x", "close_lost", "--json")
    assert as_json.exit_code == Exit.UNAVAILABLE
    assert parsed(as_json)["error"] == "unavailable"


async def test_machine_as_a_table_a_diagram_and_json(api_url: str):
    table = await cli(api_url, "machine", "late-payment", role="viewer")
    assert table.exit_code == 0, table.output
    assert "Transitions" in table.stdout and "Timers" in table.stdout
    diagram = await cli(api_url, "machine", "opportunity", "--mermaid", role="viewer")
    assert diagram.stdout.startswith("stateDiagram")
    machine = parsed(await cli(api_url, "machine", "opportunity", "--json", role="viewer"))
    assert "close_lost" in {t["trigger"] for t in machine["transitions"]}
    assert (await cli(api_url, "machine", "unicorn", role="viewer")).exit_code == Exit.NOT_FOUND


async def test_watch_prints_changes_as_they_happen(api: Api, api_url: str, entity_id: str):
    await open_deal(api, entity_id, account={"id": "initech", "name": "Initech"})
    await open_deal(api, f"{entity_id}-elsewhere")
    watching = asyncio.create_task(
        cli(api_url, "watch", "--account", "initech", "--count", "2", "--interval", "0.2", "--timeout", "60", "--json")
    )
    renames = 0
    # Changes keep coming until the watch has printed two (the first ones may fall
    # before its first poll, which only notes where everything stands); through the API,
    # as the runner holds this process's standard output while the watch runs.
    while not watching.done() and renames < 100:
        renames += 1
        for ident in (entity_id, f"{entity_id}-elsewhere"):
            variables = {"kind": "opportunity", "id": ident, "trigger": "update_fields"}
            await api.gql(FIRE, {**variables, "params": {"name": f"Rename {renames}"}})
        await asyncio.sleep(0.3)
    result = await watching
    assert result.exit_code == 0, result.output
    changes = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(changes) == 2
    assert {c["id"] for c in changes} == {entity_id}
    assert changes[1]["version"] > changes[0]["version"] > 1
    assert changes[1]["previousState"] == "PROBLEM_AGREEMENT"

    quiet = await cli(api_url, "watch", "--kind", "trial", "--interval", "0.2", "--timeout", "1", "--json")
    assert (quiet.exit_code, quiet.stdout) == (0, "")
    assert (await cli(api_url, "watch", "--kind", "unicorn", "--timeout", "1")).exit_code == Exit.NOT_FOUND


async def test_reconcile_finds_and_repairs_a_missing_row(
    api: Api, api_url: str, local_stack: Stack, entity_id: str, monkeypatch: pytest.MonkeyPatch
):
    await open_deal(api, entity_id)
    settings = local_stack.settings
    monkeypatch.setenv("LIFECYCLES_TEMPORAL_ADDRESS", local_stack.client.service_client.config.target_host)
    monkeypatch.setenv("LIFECYCLES_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("LIFECYCLES_TASK_QUEUE", settings.task_queue)
    get_settings.cache_clear()
    try:

        async def listed() -> Any:
            report = parsed(await cli(api_url, "reconcile", "--json"))
            return report if report["checked"] == 1 else None

        assert (await eventually(listed))["clean"]
        async with local_stack.sessions.begin() as session:
            await session.execute(
                sa.delete(LifecycleRow).where(col(LifecycleRow.workflow_id) == f"opportunity/{entity_id}")
            )
        found = await cli(api_url, "reconcile")
        assert found.exit_code == Exit.ERROR
        assert "missing from the read model" in found.stdout
        repaired = await cli(api_url, "reconcile", "--repair", "--kind", "opportunity", "--json")
        assert repaired.exit_code == 0, repaired.output
        assert parsed(repaired)["repaired"] == [f"opportunity/{entity_id}"]
        assert (await cli(api_url, "show", "opportunity", entity_id)).exit_code == 0
        assert (await cli(api_url, "reconcile", "--kind", "unicorn")).exit_code == Exit.USAGE
    finally:
        get_settings.cache_clear()


def test_the_command_is_installed_with_help_and_completion(monkeypatch: pytest.MonkeyPatch):
    installed = Path(sys.executable).parent / "lifecycles"
    shown = subprocess.run([installed, "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert shown.returncode == 0, shown.stderr
    assert "Exit codes" in shown.stdout and "reconcile" in shown.stdout
    # --show-completion names the shell it finds among the process's ancestors; a suite
    # started detached (no shell above it) has none, so the user's bash is given here.
    monkeypatch.setattr(typer.completion, "_get_shell_name", lambda: "bash")
    completion = RUNNER.invoke(app, ["--show-completion"])
    assert completion.exit_code == 0 and "complete" in completion.stdout
    assert complete_kind("late") == ["late-payment"]


def test_help_on_every_command():
    commands = ("list", "show", "history", "fire", "machine", "watch", "reconcile")
    for command in commands:
        result = RUNNER.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        assert "--json" in result.stdout, command
