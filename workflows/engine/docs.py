"""A lifecycle's reference page, written from its spec (``docs/lifecycles/<kind>.md``)."""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from workflows.engine.diagram import mermaid
from workflows.engine.spec import LifecycleSpec, Role, TimerSpec, TransitionSpec


@dataclass(frozen=True)
class HandbookPage:
    """A public handbook page, and the line of the handbook copy where it starts."""

    line: int
    title: str
    # None when the handbook copy gives the page no public address.
    url: str | None


# "004:12875" or "004:12875-12879": seed 004 of the handbook copy, from line 12875.
CITATION = re.compile(r"\b(?P<seed>\d{3}):(?P<line>\d+)(?:-\d+)?")


class Citations:
    """Turns the specs' line references into links to the public page each line is on."""

    def __init__(self, pages: Mapping[str, Sequence[HandbookPage]]) -> None:
        self.pages = pages
        self.cited: dict[int, HandbookPage] = {}

    def page(self, seed: str, line: int) -> HandbookPage | None:
        pages = self.pages.get(seed, ())
        at = bisect.bisect_right([p.line for p in pages], line) - 1
        return pages[at] if at >= 0 else None

    def link(self, text: str) -> str:
        def linked(match: re.Match[str]) -> str:
            page = self.page(match["seed"], int(match["line"]))
            if page is None:
                return match[0]
            self.cited[page.line] = page
            return f"[{match[0]}]({page.url})" if page.url else match[0]

        return CITATION.sub(linked, text)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _transition_row(t: TransitionSpec[Any, Any], sources: str, dest: str) -> str:
    role = "timer only" if t.role is Role.SYSTEM else t.role.name.lower()
    guards = "<br>".join(f"`{g.name}`: {_cell(g.description)}" for g in t.guards)
    effects = "<br>".join(f"`{e.name}` ({e.type})" for e in t.effects)
    return f"| `{t.trigger}` | {sources} | {dest} | {role} | {guards} | {effects} | {t.source_ref} |"


def _fires(timer: TimerSpec[Any, Any]) -> str:
    fires = [f"`{timer.trigger}`"] if timer.trigger else []
    fires += [f"sends `{e.name}` ({e.type})" for e in timer.effects]
    return "<br>".join(fires)


def _table_head(title: str, *columns: str) -> list[str]:
    return [f"## {title}", "", f"| {' | '.join(columns)} |", "|" + "---|" * len(columns)]


def reference_page(spec: LifecycleSpec[Any, Any], handbook: Mapping[str, Sequence[HandbookPage]]) -> str:
    """The page; line references (``004:12875``) link to the public handbook page they are on."""
    citations = Citations(handbook)
    lines = [
        f"# {spec.title} (`{spec.kind}`)",
        "",
        "<!-- Generated from the spec in workflows/ by `./dev generate`; a test fails when it is stale. -->",
        "",
        spec.description,
        "",
        f"Workflow id: `{spec.kind}/<id>`. Search attributes: `LifecycleKind={spec.kind}`, `LifecycleState`, "
        "`LifecycleOwner`, `LifecycleAccount`, `NextDeadline`.",
        "",
        "```mermaid",
        mermaid(spec).rstrip(),
        "```",
        "",
        "Edges marked ⏱ are also fired by a timer. Internal transitions (the state stays) are listed below but not "
        "drawn.",
        "",
        *_table_head("States", "State", "Probability", "Terminal", "Description", "Checklist (exit criteria)"),
    ]
    for s in spec.states:
        checklist = "<br>".join(f"`{c.key}`: {_cell(c.label)} ({c.source})" for c in s.checklist)
        probability = f"{s.probability}%" if s.probability is not None else ""
        lines.append(
            f"| `{s.name}` | {probability} | {'yes' if s.terminal else ''} | {_cell(s.description)} | {checklist} |"
        )
    lines += ["", *_table_head("Transitions", "Trigger", "From", "To", "Role", "Guards", "Effects", "Source")]
    hidden: dict[str, list[str]] = {}
    for t in spec.transitions:
        if t.dest is not None and not t.in_diagram:
            hidden.setdefault(t.trigger, []).extend(f"`{s}`→`{t.dest}`" for s in t.sources)
    for t in spec.transitions:
        if t.dest is not None and not t.in_diagram:
            continue
        lines.append(_transition_row(t, ", ".join(f"`{s}`" for s in t.sources), f"`{t.dest}`" if t.dest else "(stays)"))
    for trigger, edges in hidden.items():
        t = next(x for x in spec.transitions if x.trigger == trigger and x.dest is not None and not x.in_diagram)
        lines.append(_transition_row(t, "also: " + ", ".join(edges), "(as listed)"))
    lines += ["", *_table_head("Timers", "Timer", "In states", "Fires", "What", "Source")]
    for timer in spec.timers:
        states = ", ".join(f"`{s}`" for s in timer.states)
        lines.append(
            f"| `{timer.name}` | {states} | {_fires(timer)} | {_cell(timer.description)} | {timer.source_ref} |"
        )
    defaults = spec.policy_model().model_dump(mode="json")
    lines += [
        "",
        "## Policy defaults",
        "",
        "Pinned into each instance when it opens; override per deployment with `LIFECYCLES_POLICY_OVERRIDES` "
        f'(`{{"{spec.kind}": {{...}}}}`) or per instance at open (admin). Durations are ISO 8601.',
        "",
        "```json",
        json.dumps(defaults, indent=2),
        "```",
        "",
    ]
    body = [lines[0], *(citations.link(line) for line in lines[1:])]
    if citations.cited:
        body += [
            "## Handbook pages cited",
            "",
            "References like `004:12875` are lines of the handbook copy the rules were read from; each links to "
            "the public page that line is on, where the copy names one:",
            "",
            *(
                f"- [{page.title}]({page.url})" if page.url else f"- {page.title} (no public address in the copy)"
                for page in sorted(citations.cited.values(), key=lambda p: p.line)
            ),
            "",
        ]
    return "\n".join(body)
