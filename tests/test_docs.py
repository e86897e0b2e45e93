"""The GraphQL examples in README.md and docs/graphql.md run as written (subscriptions over
WebSocket, the rest over HTTP)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.api.test_opportunity_api import OPEN
from tests.api.test_subscriptions import connect, deal, message, serving, subscribe
from tests.conftest import Api, Stack

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


def subscription(document: str) -> bool:
    return document.lstrip().startswith("subscription")


async def test_the_documented_examples_work(api: Api):
    runs = [
        (document, variables)
        for document, variables in examples(ROOT / "docs" / "graphql.md") + examples(ROOT / "README.md")
        if not subscription(document)
    ]
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


async def test_the_documented_subscriptions_work(local_stack: Stack, entity_id: str):
    documented = [(d, v) for d, v in examples(ROOT / "docs" / "graphql.md") if subscription(d)]
    assert documented
    async with serving(local_stack) as server:
        for document, variables in documented:
            ws = await connect(server)
            try:
                assert (await message(ws))["type"] == "connection_ack"
                await subscribe(ws, query=document, **variables)
                account = variables.get("accountId", "acme")
                await server.call(OPEN, deal(entity_id, account))
                answer = await message(ws)
                assert answer["type"] == "next" and "errors" not in answer["payload"], answer
                changed = answer["payload"]["data"]["lifecycleChanged"]
                assert changed["lifecycle"]["id"] == entity_id and changed["transition"]["trigger"] == "open"
            finally:
                await ws.close()
