"""The ``lifecycles`` command: look up and move lifecycles from a terminal.

Every command but ``reconcile`` speaks the public GraphQL API with a bearer token, so
it can do exactly what the token's role may do over HTTP. Tables for people by
default; ``--json`` on every command for scripts.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from services.cli import documents
from services.cli.client import (
    DEFAULT_API_URL,
    DEFAULT_DATA_DIR,
    EXIT_CODES_HELP,
    Api,
    Exit,
    Failure,
    find_token,
)

app = typer.Typer(
    name="lifecycles",
    help="Look up and move lifecycles (deals, trials, late payments, renewals, handovers) through the GraphQL API.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# The API's largest page by default (LIFECYCLES_MAX_PAGE_SIZE).
PAGE_SIZE = 100
# How far back each poll of ``watch`` looks: changes are projected a moment after they
# are made, and the two clocks may differ a little; versions already seen are skipped.
WATCH_LOOKBACK = timedelta(seconds=60)


class TokenRole(enum.StrEnum):
    viewer = "viewer"
    operator = "operator"
    admin = "admin"


@dataclass
class Config:
    url: str
    role: TokenRole
    data_dir: Path
    timeout: float

    def api(self) -> Api:
        return Api(self.url, find_token(self.role, self.data_dir), self.timeout)


def out() -> Console:
    return Console(soft_wrap=False, highlight=False)


def err() -> Console:
    return Console(stderr=True, soft_wrap=True, highlight=False)


def emit_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def say(message: str) -> None:
    """A line of text as it is: messages from the API are not Rich markup."""
    out().print(message, markup=False, soft_wrap=True)


def complete_kind(incomplete: str) -> list[str]:
    from workflows.registry import SPECS

    return [kind for kind in SPECS if kind.startswith(incomplete)]


KindArgument = Annotated[
    str,
    typer.Argument(
        help="The lifecycle kind, e.g. opportunity or late-payment (completion lists them).",
        autocompletion=complete_kind,
    ),
]
IdArgument = Annotated[
    str, typer.Argument(help="The lifecycle's id (a late payment's invoice id, a renewal's contract id).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of tables.")]

F = TypeVar("F", bound=Callable[..., Any])


def reporting_failures(command: F) -> F:
    """Print a ``Failure`` in words (or as JSON with ``--json``) and exit with its code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except Failure as failure:
            if kwargs.get("json_output"):
                emit_json({"error": failure.kind, "message": failure.message})
            else:
                err().print(f"{failure.exit_code.name.replace('_', ' ').capitalize()}: {failure.message}", markup=False)
            raise typer.Exit(failure.exit_code) from None

    return wrapper  # type: ignore[return-value]


# ---- formatting -----------------------------------------------------------------------------


def moment(value: str | None, now: datetime | None = None) -> str:
    """An API moment for people: UTC to the second, and how far from now."""
    if not value:
        return ""
    at = datetime.fromisoformat(value).astimezone(UTC)
    text = at.strftime("%Y-%m-%d %H:%M:%SZ")
    if now is None:
        return text
    delta = at - now
    span = abs(delta)
    if span >= timedelta(days=1):
        amount = f"{span.days}d"
    elif span >= timedelta(hours=1):
        amount = f"{span.seconds // 3600}h"
    else:
        amount = f"{span.seconds // 60}m"
    return f"{text} ({'in ' + amount if delta.total_seconds() >= 0 else amount + ' ago'})"


def compact(value: Any) -> str:
    if value in (None, {}, []):
        return ""
    return json.dumps(value, separators=(", ", ": "), default=str)


DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(value: str | None) -> timedelta | None:
    if value is None:
        return None
    match = DURATION.match(value)
    if match is None:
        raise typer.BadParameter(f"{value!r} is not a duration like 30m, 12h, 7d or 2w.")
    return timedelta(**{UNITS[match.group(2)]: int(match.group(1))})


def parse_param(value: str) -> tuple[str, Any]:
    """``k=v``: the value as JSON when it parses as JSON, else as the string it is."""
    name, sep, raw = value.partition("=")
    if not sep or not name.strip():
        raise typer.BadParameter(f"{value!r} is not name=value.")
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = raw
    return name.strip(), parsed


# ---- the commands -----------------------------------------------------------------------------


@app.callback()
def options(
    ctx: typer.Context,
    api_url: Annotated[
        str, typer.Option("--api-url", envvar="LIFECYCLES_API_URL", help="The API's base URL.")
    ] = DEFAULT_API_URL,
    role: Annotated[
        TokenRole,
        typer.Option(
            envvar="LIFECYCLES_ROLE",
            help="Which development token to use from the data directory's dev-tokens.json "
            "(written by ./dev up). LIFECYCLES_TOKEN, when set, is used instead.",
        ),
    ] = TokenRole.operator,
    data_dir: Annotated[
        Path, typer.Option(envvar="LIFECYCLES_DATA_DIR", help="Where ./dev up keeps its state and dev-tokens.json.")
    ] = DEFAULT_DATA_DIR,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait for each answer from the API.")] = 30.0,
) -> None:
    """Speaks the public GraphQL API with a bearer token: LIFECYCLES_TOKEN, or the
    development token of --role that ./dev up wrote."""
    ctx.obj = Config(url=api_url, role=role, data_dir=data_dir, timeout=timeout)


def pages(
    api: Api, document: str, variables: dict[str, Any], path: Callable[[dict[str, Any]], Any], limit: int | None
) -> Iterator[dict[str, Any]]:
    """A connection's pages (up to ``limit`` nodes in all); ``path`` finds it in the answer."""
    after: str | None = None
    seen = 0
    while limit is None or seen < limit:
        first = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - seen)
        connection = path(api.execute(document, {**variables, "first": first, "after": after}))
        yield connection
        seen += len(connection["nodes"])
        if not connection["pageInfo"]["hasNextPage"]:
            return
        after = connection["pageInfo"]["endCursor"]


@app.command("list")
@reporting_failures
def list_lifecycles(
    ctx: typer.Context,
    kind: Annotated[
        str | None, typer.Argument(help="The lifecycle kind; every kind when left out.", autocompletion=complete_kind)
    ] = None,
    state: Annotated[
        list[str] | None, typer.Option("--state", "-s", help="In this state (repeatable: any of them).")
    ] = None,
    owner: Annotated[str | None, typer.Option(help="Owned by this person.")] = None,
    account: Annotated[str | None, typer.Option(help="Of this account id.")] = None,
    due_within: Annotated[
        str | None, typer.Option(help="With a deadline within this long from now: 30m, 12h, 7d, 2w.")
    ] = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only lifecycles not yet finished.")] = False,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, most recently changed first.")] = 50,
    json_output: JsonOption = False,
) -> None:
    """Lifecycles matching the filters, most recently changed first."""
    within = parse_duration(due_within)
    filter_: dict[str, Any] = {"state": state or None, "owner": owner, "accountId": account}
    if within is not None:
        filter_["dueBefore"] = (datetime.now(UTC) + within).isoformat()
    if open_only:
        filter_["terminal"] = False
    api = ctx.obj.api()
    try:
        total = 0
        nodes: list[dict[str, Any]] = []
        variables = {"kind": kind, "filter": filter_, "orderBy": "UPDATED_AT_DESC"}
        for connection in pages(api, documents.LIST, variables, lambda d: d["lifecycles"], limit):
            total = connection["totalCount"]
            nodes += connection["nodes"]
    finally:
        api.close()
    if json_output:
        emit_json({"totalCount": total, "lifecycles": nodes})
        return
    now = datetime.now(UTC)
    table = Table(title=f"{len(nodes)} of {total} {kind or 'lifecycles'}", title_justify="left")
    for column in ("kind", "id", "state", "owner", "account", "next deadline", "changed", "summary"):
        table.add_column(column, overflow="fold")
    for n in nodes:
        state_text = n["stateName"] + (" (done)" if n["terminal"] else "")
        table.add_row(
            n["kind"],
            n["id"],
            state_text,
            n["owner"] or "",
            n["accountId"] or "",
            moment(n["nextDeadline"], now),
            moment(n["updatedAt"], now),
            n["summary"],
        )
    out().print(table)


def found(lookup: dict[str, Any]) -> dict[str, Any]:
    """A ``...Lookup`` union's value, or the not-found failure it is."""
    if lookup["__typename"] == "NotFound":
        raise Failure(Exit.NOT_FOUND, lookup["message"], "NotFound")
    return lookup


@app.command()
@reporting_failures
def show(ctx: typer.Context, kind: KindArgument, id: IdArgument, json_output: JsonOption = False) -> None:
    """One lifecycle: its state, data, deadlines, what may happen now (and what it lacks), its effects."""
    api = ctx.obj.api()
    try:
        lifecycle = found(api.execute(documents.SHOW, {"kind": kind, "id": id})["lifecycle"])
    finally:
        api.close()
    lifecycle.pop("__typename")
    if json_output:
        emit_json(lifecycle)
        return
    now = datetime.now(UTC)
    console = out()
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column(overflow="fold")
    for label, value in (
        ("lifecycle", f"{lifecycle['kind']} {lifecycle['id']}"),
        ("state", lifecycle["stateName"] + (" (finished)" if lifecycle["terminal"] else "")),
        ("summary", lifecycle["summary"]),
        ("owner", lifecycle["owner"] or ""),
        ("account", lifecycle["accountId"] or ""),
        ("version", str(lifecycle["version"])),
        ("opened", moment(lifecycle["openedAt"], now)),
        ("in state since", moment(lifecycle["stateEnteredAt"], now)),
        ("last change", moment(lifecycle["updatedAt"], now)),
        ("closed", moment(lifecycle["closedAt"], now)),
        ("workflow", lifecycle["workflowId"]),
        ("data", compact(lifecycle["data"])),
    ):
        if value:
            facts.add_row(label, value)
    console.print(facts)
    if lifecycle["deadlines"]:
        deadlines = Table(title="Deadlines", title_justify="left")
        for column in ("timer", "due", "fires", "what"):
            deadlines.add_column(column, overflow="fold")
        for d in lifecycle["deadlines"]:
            deadlines.add_row(d["timer"], moment(d["dueAt"], now), d["trigger"], d["description"])
        console.print(deadlines)
    possible = Table(title="What may happen now", title_justify="left")
    for column in ("trigger", "to", "role", "allowed", "unmet", "params"):
        possible.add_column(column, overflow="fold")
    for t in lifecycle["availableTransitions"]:
        possible.add_row(
            t["trigger"],
            t["toState"] or "(same state)",
            t["requiredRole"].lower(),
            "yes" if t["allowed"] else "no",
            "\n".join(t["unmet"]),
            compact(t["params"]),
        )
    console.print(possible if lifecycle["availableTransitions"] else "Nothing may happen to it any more.")
    if lifecycle["effects"]:
        effects = Table(title="Effects", title_justify="left")
        for column in ("effect", "type", "status", "attempts", "decided", "last error"):
            effects.add_column(column, overflow="fold")
        for e in lifecycle["effects"]:
            effects.add_row(
                e["name"], e["type"], e["status"], str(e["attempts"]), moment(e["createdAt"]), e["lastError"] or ""
            )
        console.print(effects)


@app.command()
@reporting_failures
def history(ctx: typer.Context, kind: KindArgument, id: IdArgument, json_output: JsonOption = False) -> None:
    """A lifecycle's audit log: every transition, who made it and why, oldest first."""
    api = ctx.obj.api()
    records: list[dict[str, Any]] = []
    try:
        for connection in pages(
            api, documents.HISTORY, {"kind": kind, "id": id}, lambda d: found(d["lifecycle"])["history"], None
        ):
            records += connection["nodes"]
    finally:
        api.close()
    if json_output:
        emit_json(records)
        return
    table = Table(title=f"{kind} {id}: {len(records)} transitions", title_justify="left")
    for column in ("#", "at", "trigger", "from", "to", "actor", "reason", "params"):
        table.add_column(column, overflow="fold")
    for r in records:
        table.add_row(
            str(r["seq"]),
            moment(r["at"]),
            r["trigger"],
            r["fromState"],
            r["toState"],
            r["actor"],
            r["reason"] or "",
            compact(r["params"]),
        )
    out().print(table)


FIRE_HELP = """Fire a trigger on a lifecycle, as the token's actor.

Each --param name=value is one parameter, in the spec's own names (see `lifecycles
machine KIND` and docs/lifecycles/): the value is read as JSON when it parses as JSON
(`--param amount=100`, `--param 'tags=["a"]'`, `--param flag=true`), else taken as the
string it is (`--param loss_reason=PRICING`); quote a string that looks like JSON
(`--param 'code="007"'`). --key makes a retry safe: the same key applies the change once.

A refusal is printed in words: the trigger not possible in this state (with the ones
that are), the unmet conditions, the invalid parameters, or the role it needs."""


@app.command(help=FIRE_HELP, epilog=EXIT_CODES_HELP)
@reporting_failures
def fire(
    ctx: typer.Context,
    kind: KindArgument,
    id: IdArgument,
    trigger: Annotated[str, typer.Argument(help="The trigger, e.g. advance, close_lost, record_payment.")],
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="name=value (repeatable); value as JSON if it parses.")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why; kept in the audit log.")] = None,
    key: Annotated[str | None, typer.Option(help="Idempotency key: a retry with the same key applies it once.")] = None,
    json_output: JsonOption = False,
) -> None:
    params = dict(parse_param(p) for p in param or [])
    api = ctx.obj.api()
    try:
        result = api.execute(
            documents.FIRE,
            {"kind": kind, "id": id, "trigger": trigger, "params": params or None, "reason": reason, "key": key},
        )["fireLifecycleTrigger"]
    finally:
        api.close()
    typename = result["__typename"]
    exit_code = refusal_exit(typename)
    if json_output:
        emit_json(result)
    elif typename == "LifecycleChanged":
        t, lifecycle = result["transition"], result["lifecycle"]
        move = f"{t['fromState']} -> {t['toState']}" if t["fromState"] != t["toState"] else f"still {t['toState']}"
        say(f"{kind} {id}: {trigger} applied, {move} (transition #{t['seq']} by {t['actor']}).")
        if lifecycle["terminal"]:
            say("It is finished.")
    else:
        explain_refusal(result)
    raise typer.Exit(exit_code)


def refusal_exit(typename: str) -> Exit:
    return {
        "LifecycleChanged": Exit.OK,
        "Forbidden": Exit.FORBIDDEN,
        "NotFound": Exit.NOT_FOUND,
    }.get(typename, Exit.REFUSED)


def explain_refusal(result: dict[str, Any]) -> None:
    console = err()
    typename = result["__typename"]
    title = {"Forbidden": "Forbidden", "NotFound": "Not found"}.get(typename, "Refused")
    if typename == "GuardFailed":
        # Its message joins the unmet conditions; they read better one a line.
        count = len(result["unmet"])
        console.print(f"{title}: {count} unmet condition{'s' if count != 1 else ''}:", markup=False)
        for unmet in result["unmet"]:
            console.print(f"  - {unmet['message']} ({unmet['guard']})", markup=False)
        return
    console.print(f"{title}: {result['message']}", markup=False)
    if typename == "InvalidTransition":
        allowed = ", ".join(result["allowed"]) or "none"
        console.print(f"  In {result['state']}, these triggers may fire: {allowed}", markup=False)
    elif typename == "ValidationError":
        for field in result["fields"]:
            console.print(f"  {field['field']}: {field['message']}", markup=False)
    elif typename == "Forbidden":
        console.print(f"  It needs the {result['requiredRole'].lower()} role.", markup=False)


@app.command()
@reporting_failures
def machine(
    ctx: typer.Context,
    kind: KindArgument,
    mermaid: Annotated[bool, typer.Option("--mermaid", help="Print the Mermaid state diagram instead.")] = False,
    json_output: JsonOption = False,
) -> None:
    """A lifecycle kind's machine: its transitions (with roles, guards, effects) and timers."""
    api = ctx.obj.api()
    try:
        description = found(api.execute(documents.MACHINE, {"kind": kind})["lifecycleMachine"])
    finally:
        api.close()
    description.pop("__typename")
    if json_output:
        emit_json(description)
        return
    if mermaid:
        typer.echo(description["mermaid"])
        return
    console = out()
    say(f"{description['title']} ({description['kind']}): {description['description']}")
    transitions = Table(title="Transitions", title_justify="left")
    for column in ("trigger", "from", "to", "role", "guards", "effects"):
        transitions.add_column(column, overflow="fold")
    for t in description["transitions"]:
        transitions.add_row(
            t["trigger"],
            ", ".join(t["fromStates"]),
            t["toState"] or "(same state)",
            t["requiredRole"].lower(),
            ", ".join(g["name"] for g in t["guards"]),
            ", ".join(e["name"] for e in t["effects"]),
        )
    console.print(transitions)
    if description["timers"]:
        timers = Table(title="Timers", title_justify="left")
        for column in ("timer", "fires", "in states", "what"):
            timers.add_column(column, overflow="fold")
        for timer in description["timers"]:
            timers.add_row(timer["name"], timer["trigger"], ", ".join(timer["states"]), timer["description"])
        console.print(timers)


def changes(
    api: Api, kind: str | None, account: str | None, interval: float, until: float | None
) -> Iterator[dict[str, Any]]:
    """Changes to lifecycles from now on (until the monotonic moment ``until``), found by
    polling the list ordered by last change."""
    # Every lifecycle seen changing (at most one entry per lifecycle): its version and state.
    seen: dict[tuple[str, str], tuple[int, str]] = {}
    baseline = True
    while True:
        polled_at = datetime.now(UTC)
        window = polled_at - WATCH_LOOKBACK
        filter_ = {"accountId": account, "updatedAfter": window.isoformat()}
        variables = {"kind": kind, "filter": filter_, "orderBy": "UPDATED_AT_ASC"}
        for connection in pages(api, documents.LIST, variables, lambda d: d["lifecycles"], None):
            for node in connection["nodes"]:
                ident = (node["kind"], node["id"])
                before = seen.get(ident)
                if before is not None and before[0] >= node["version"]:
                    continue
                seen[ident] = (node["version"], node["stateName"])
                if not baseline:
                    yield {**node, "previousState": before[1] if before else None}
        baseline = False
        if until is not None and time.monotonic() >= until:
            return
        time.sleep(interval if until is None else max(0.0, min(interval, until - time.monotonic())))


@app.command()
@reporting_failures
def watch(
    ctx: typer.Context,
    kind: Annotated[
        str | None, typer.Option(help="Only lifecycles of this kind.", autocompletion=complete_kind)
    ] = None,
    account: Annotated[str | None, typer.Option(help="Only lifecycles of this account id.")] = None,
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between polls.")] = 2.0,
    count: Annotated[int | None, typer.Option(min=1, help="Stop after this many changes.")] = None,
    timeout: Annotated[float | None, typer.Option(min=0.1, help="Stop after this many seconds.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per change and line.")] = False,
) -> None:
    """Print changes to lifecycles as they happen, until Ctrl-C (or --count, --timeout).

    The API has no subscription yet, so this polls the list of lifecycles ordered by
    their last change every --interval seconds; a change made and overtaken between
    two polls shows as one."""
    deadline = time.monotonic() + timeout if timeout is not None else None
    printed = 0
    api = ctx.obj.api()
    if not json_output:
        err().print(f"Watching {kind or 'every kind'}{f' of account {account}' if account else ''}; Ctrl-C stops.")
    try:
        for change in changes(api, kind, account, interval, deadline):
            if json_output:
                typer.echo(json.dumps(change, default=str))
            else:
                before = change["previousState"]
                state = change["stateName"]
                if before and before != state:
                    move = f"{before} -> {state}"
                else:
                    move = state if before or change["version"] > 1 else f"opened in {state}"
                say(
                    f"{moment(change['updatedAt'])}  {change['kind']} {change['id']}  {move}  "
                    f"(version {change['version']}{', ' + change['owner'] if change['owner'] else ''})"
                )
            printed += 1
            if count is not None and printed >= count:
                break
    except KeyboardInterrupt:
        pass
    finally:
        api.close()


@app.command()
def reconcile(
    kind: Annotated[
        list[str] | None, typer.Option(help="Only this kind (repeatable).", autocompletion=complete_kind)
    ] = None,
    repair: Annotated[bool, typer.Option(help="Write what the workflows hold into the read model.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Compare the read model with the workflows themselves; --repair writes what lags.

    Unlike the other commands this one reaches the database and Temporal directly (the
    LIFECYCLES_DATABASE_URL and LIFECYCLES_TEMPORAL_ADDRESS settings, as the worker
    uses them), like `python -m services.reconcile`. Exits 1 while differences remain."""
    from temporalio.service import RPCError

    from services.reconcile import run
    from workflows.registry import SPECS

    unknown = [k for k in kind or [] if k not in SPECS]
    if unknown:
        raise typer.BadParameter(
            f"unknown kind {', '.join(unknown)}; there are: {', '.join(SPECS)}", param_hint="--kind"
        )
    try:
        report = asyncio.run(run(kind, repair))
    except (RuntimeError, RPCError, OSError) as exc:
        message = f"Cannot reach Temporal or the read model: {exc}"
        if json_output:
            emit_json({"error": "unavailable", "message": message})
        else:
            err().print(f"Unavailable: {message}", markup=False)
        raise typer.Exit(Exit.UNAVAILABLE) from None
    if json_output:
        emit_json(
            {
                "checked": report.checked,
                "differences": [d.__dict__ for d in report.differences],
                "repaired": report.repaired,
                "clean": report.clean,
            }
        )
    else:
        say(f"Checked {report.checked} workflows; {len(report.differences)} differences.")
        if report.differences:
            table = Table()
            for column in ("workflow", "problem", "workflow #", "read model #", "repaired"):
                table.add_column(column, overflow="fold")
            for d in report.differences:
                table.add_row(
                    d.workflow_id,
                    d.problem,
                    "" if d.workflow_seq is None else str(d.workflow_seq),
                    "" if d.read_model_seq is None else str(d.read_model_seq),
                    "yes" if d.workflow_id in report.repaired else "",
                )
            out().print(table)
    raise typer.Exit(Exit.OK if report.clean else Exit.ERROR)
