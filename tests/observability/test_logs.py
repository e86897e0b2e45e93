"""Logs as the processes write them: one JSON object per line, with the request id.

An expected refusal is one info line without a traceback; an unexpected error keeps its
traceback; the request id comes from ``X-Request-ID`` (or is made) and goes back in the
response.
"""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import sqlalchemy as sa

from services.logs import LogFormat, log_handler, note, request_scope
from tests.api.test_opportunity_api import LOST, open_deal
from tests.conftest import Api
from tests.workflows.helpers import eventually

LIST = "query($after: String) { opportunities(first: 5, after: $after) { totalCount } }"


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def of_request(stream: io.StringIO, request_id: str) -> list[dict[str, Any]]:
    return [line for line in lines(stream) if line.get("request_id") == request_id]


async def test_a_bad_cursor_is_one_info_line_without_a_traceback(api: Api, json_log: io.StringIO):
    response = await api.post(LIST, {"after": "not-a-cursor"}, role="viewer", headers={"X-Request-ID": "bad-cursor-1"})
    assert response.json()["errors"][0]["extensions"]["code"] == "ValidationError"
    assert response.headers["x-request-id"] == "bad-cursor-1"
    (line,) = of_request(json_log, "bad-cursor-1")
    assert line["level"] == "INFO" and line["logger"] == "lifecycles.api"
    assert line["message"].startswith("refused ValidationError")
    assert "traceback" not in line and "Traceback" not in json_log.getvalue()


async def test_a_forbidden_change_is_one_info_line(api: Api, json_log: io.StringIO, entity_id: str):
    await open_deal(api, entity_id)
    response = await api.post(
        LOST,
        {"input": {"id": entity_id, "lossReason": "PRICING"}},
        role="viewer",
        headers={"X-Request-ID": "forbidden-1"},
    )
    assert response.json()["data"]["closeOpportunityLost"]["__typename"] == "Forbidden"
    (line,) = of_request(json_log, "forbidden-1")
    assert line["level"] == "INFO" and line["message"].startswith("refused Forbidden")
    assert line["actor"] == "vera@example.com" and "traceback" not in line


async def test_a_request_without_an_id_gets_one_and_a_bad_one_is_replaced(api: Api, json_log: io.StringIO):
    made = await api.post(LIST, {"after": "nope"}, role="viewer")
    request_id = made.headers["x-request-id"]
    assert len(request_id) == 32 and of_request(json_log, request_id)
    replaced = await api.post(LIST, {"after": "nope"}, role="viewer", headers={"X-Request-ID": "a b\tc" * 50})
    assert replaced.headers["x-request-id"] != "a b\tc" * 50
    assert len(replaced.headers["x-request-id"]) == 32


async def test_an_unexpected_error_keeps_its_traceback(api: Api, json_log: io.StringIO):
    async with api.stack.sessions.begin() as session:
        await session.execute(sa.text("DROP TABLE opportunities"))
    response = await api.post(LIST, {}, role="viewer", headers={"X-Request-ID": "broken-1"})
    assert response.json()["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    (line,) = of_request(json_log, "broken-1")
    assert line["level"] == "ERROR"
    assert "Traceback" in line["traceback"] and "no such table: opportunities" in line["traceback"]
    # The client sees none of it.
    assert "opportunities" not in response.json()["errors"][0]["message"]


async def test_lines_name_the_lifecycle_and_the_actor(api: Api, json_log: io.StringIO, entity_id: str):
    await open_deal(api, entity_id)
    response = await api.post(
        LOST, {"input": {"id": entity_id, "lossReason": "PRICING"}}, headers={"X-Request-ID": "lost-1"}
    )
    assert response.json()["data"]["closeOpportunityLost"]["__typename"] == "OpportunityChanged"
    again = await api.post(
        LOST, {"input": {"id": entity_id, "lossReason": "PRICING"}}, headers={"X-Request-ID": "lost-2"}
    )
    assert again.json()["data"]["closeOpportunityLost"]["__typename"] == "InvalidTransition"
    (line,) = of_request(json_log, "lost-2")
    assert line["workflow_id"] == f"opportunity/{entity_id}"
    assert line["kind"] == "opportunity" and line["actor"] == "otto@example.com"

    # The worker's lines name the lifecycle too: the log channel delivering the loss's effects.
    async def delivered() -> list[dict[str, Any]]:
        return [
            line
            for line in lines(json_log)
            if line["logger"] == "lifecycles.channels" and line.get("workflow_id") == f"opportunity/{entity_id}"
        ]

    delivery = (await eventually(delivered, within=30))[0]
    assert delivery["kind"] == "opportunity" and delivery["message"].startswith("effect ")


def test_the_human_readable_format_carries_the_same_fields():
    stream = io.StringIO()
    logger = logging.getLogger("lifecycles.test")
    handler = log_handler(LogFormat.TEXT, stream)
    logger.addHandler(handler)
    try:
        with request_scope("r-1"):
            note(workflow_id="trial/t-1", kind="trial", actor="ops@example.com")
            logger.warning("something to see")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "WARNING lifecycles.test: something to see" in text
    assert "[request_id=r-1 workflow_id=trial/t-1 kind=trial actor=ops@example.com]" in text
    assert not text.lstrip().startswith("{")
