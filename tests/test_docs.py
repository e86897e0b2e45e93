"""The GraphQL examples in README.md and docs/graphql.md run as written."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import Api

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"```(graphql|json)\n(.*?)```", re.S)


def examples(path: Path) -> list[tuple[str, dict]]:
    """Each ```graphql block with the ```json variables block right after it, if any."""
    blocks = BLOCK.findall(path.read_text())
    out = []
    for i, (kind, body) in enumerate(blocks):
        if kind != "graphql":
            continue
        variables = json.loads(blocks[i + 1][1]) if i + 1 < len(blocks) and blocks[i + 1][0] == "json" else {}
        out.append((body, variables))
    return out


async def test_the_documented_examples_work(api: Api):
    runs = examples(ROOT / "docs" / "graphql.md") + examples(ROOT / "README.md")
    assert len(runs) >= 10
    typenames = []
    for query, variables in runs:
        data = await api.gql(query, variables)
        for value in data.values():
            if isinstance(value, dict) and "__typename" in value:
                typenames.append(value["__typename"])
    # The walkthrough shows two refusals on purpose; everything else succeeds.
    assert typenames.count("GuardFailed") == 1
    assert typenames.count("IdempotencyKeyReused") == 1
    assert set(typenames) <= {"OpportunityChanged", "LifecycleChanged", "GuardFailed", "IdempotencyKeyReused"}
