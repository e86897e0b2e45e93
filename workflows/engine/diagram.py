"""Mermaid state diagrams drawn from a spec, for the docs and the API."""

from __future__ import annotations

from typing import Any

from workflows.engine.spec import LifecycleSpec


def mermaid(spec: LifecycleSpec[Any, Any]) -> str:
    timer_triggers = {t.trigger for t in spec.timers}
    edges: dict[tuple[str, str], list[str]] = {}
    for t in spec.transitions:
        if t.dest is None or not t.in_diagram:
            continue
        label = f"{t.trigger} ⏱" if t.trigger in timer_triggers else t.trigger
        for source in t.sources if t.diagram_sources is None else t.diagram_sources:
            labels = edges.setdefault((source, t.dest), [])
            if label not in labels:
                labels.append(label)
    lines = ["stateDiagram-v2", "    direction LR"]
    starts = spec.start_states or (spec.states[0].name,)
    lines += [f"    [*] --> {s}" for s in starts]
    lines += [f"    {src} --> {dst}: {', '.join(labels)}" for (src, dst), labels in edges.items()]
    lines += [f"    {s.name} --> [*]" for s in spec.states if s.terminal]
    return "\n".join(lines) + "\n"
