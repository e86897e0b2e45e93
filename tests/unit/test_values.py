"""The shared value types and bounds, the cursor checks and the Temporal error mapping."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from sqlmodel import SQLModel
from temporalio.service import RPCError, RPCStatusCode

from services.lifecycles import RateLimited, Unavailable, rpc_failure
from services.models import LifecycleRow, TransitionRow
from services.pagination import SortKey, decode_cursor, encode_cursor
from workflows.engine import values
from workflows.engine.errors import AlreadyExists, InvalidTransition, NotFound, ValidationError
from workflows.engine.types import workflow_id_for
from workflows.registry import SPECS

HOSTILE_AMOUNTS = ["1e999997", "NaN", "-NaN", "sNaN", "Infinity", "-Infinity", "1e1000000", "1" * 5000, "0.001"]


@pytest.mark.parametrize("value", HOSTILE_AMOUNTS)
def test_hostile_amounts_are_refused(value: str):
    with pytest.raises(ValueError, match=r"amount|decimals|finite|at most"):
        values.parse_amount(value)
    with pytest.raises(PydanticValidationError):
        TypeAdapter(values.Money).validate_python(value)


@pytest.mark.parametrize(
    ("value", "parsed"),
    [("-0", "0.00"), ("1.500", "1.50"), ("12", "12.00"), (" 7.1 ", "7.10"), ("999999999999.99", "999999999999.99")],
)
def test_amounts_are_quantized_to_cents(value: str, parsed: str):
    amount = values.parse_amount(value)
    assert str(amount) == parsed and not amount.is_signed()


def test_money_has_a_documented_maximum_and_no_negative_zero():
    money = TypeAdapter(values.Money)
    assert money.validate_python(str(values.MONEY_MAX)) == values.MONEY_MAX
    with pytest.raises(PydanticValidationError):
        money.validate_python("1000000000000")
    assert not money.validate_python("-0").is_signed()


@pytest.mark.parametrize(
    ("address", "valid"),
    [
        ("ap@acme.test", True),
        ("a@localhost", True),
        ("a b@acme.test", False),
        ("a@acme.test\x00", False),
        ("acme.test", False),
    ],
)
def test_one_rule_for_email_addresses(address: str, valid: bool):
    adapter = TypeAdapter(values.Email)
    if valid:
        adapter.validate_python(address)
    else:
        with pytest.raises(PydanticValidationError):
            adapter.validate_python(address)


def fields(entity_id: str, reason: str | None = None, key: str | None = None, *, from_client: bool = True) -> set[str]:
    return {e["field"] for e in values.request_field_errors(entity_id, reason, key, from_client=from_client)}


def test_ids_reasons_and_keys_at_their_maximum_and_one_past_it():
    assert fields("d" * values.ENTITY_ID_MAX_LENGTH) == set()
    assert fields("d" * (values.ENTITY_ID_MAX_LENGTH + 1)) == {"id"}
    assert fields("d", "r" * values.REASON_MAX_LENGTH) == set()
    assert fields("d", "r" * (values.REASON_MAX_LENGTH + 1)) == {"reason"}
    assert fields("d", None, "k" * values.IDEMPOTENCY_KEY_MAX_LENGTH) == set()
    assert fields("d", None, "k" * (values.IDEMPOTENCY_KEY_MAX_LENGTH + 1)) == {"idempotency_key"}
    # What the service derives is longer, up to its columns.
    assert fields("d" * values.ENTITY_ID_COLUMN_LENGTH, from_client=False) == set()
    assert fields("d" * (values.ENTITY_ID_COLUMN_LENGTH + 1), from_client=False) == {"id"}


@pytest.mark.parametrize("entity_id", ["a/b", "a b", "tab\there", "nl\n", "-leading", "", "ünïcode", "a\x00"])
def test_the_id_alphabet(entity_id: str):
    assert fields(entity_id) == {"id"}


def test_derived_ids_may_join_ids_with_a_slash_but_not_clients():
    assert fields("globex/1") == {"id"}
    assert fields("globex/1", from_client=False) == set()
    assert fields("globex//1", from_client=False) == {"id"}


def test_control_characters_in_reasons_and_keys_are_refused():
    assert fields("d", "line one\nline two\ttabbed") == set()
    assert fields("d", "bell\x07") == {"reason"}
    assert fields("d", None, "key with space") == {"idempotency_key"}


def test_the_columns_hold_what_the_api_accepts():
    columns = {c.key: c for c in LifecycleRow.__table__.columns}
    transitions = {c.key: c for c in TransitionRow.__table__.columns}
    assert columns["entity_id"].type.length == values.ENTITY_ID_COLUMN_LENGTH >= values.ENTITY_ID_MAX_LENGTH
    assert columns["workflow_id"].type.length == values.WORKFLOW_ID_MAX_LENGTH <= values.TEMPORAL_ID_MAX_LENGTH
    assert transitions["reason"].type.length == values.REASON_MAX_LENGTH
    assert transitions["idempotency_key"].type.length == values.IDEMPOTENCY_KEY_COLUMN_LENGTH
    for kind in SPECS:
        assert len(workflow_id_for(kind, "x" * values.ENTITY_ID_COLUMN_LENGTH)) <= values.WORKFLOW_ID_MAX_LENGTH
    # Every string column of the read model is bounded (PostgreSQL enforces it).
    for table in SQLModel.metadata.tables.values():
        for column in table.columns:
            if isinstance(column.type, sa.String) and not isinstance(column.type, sa.Text):
                assert column.type.length, f"{table.name}.{column.name} has no length"


# ---- cursors ---------------------------------------------------------------------------------

KEYS = [SortKey(LifecycleRow.__table__.c.opened_at), SortKey(LifecycleRow.__table__.c.workflow_id)]


def crafted(values_: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values_).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        crafted([{"t": "2027-01-01T00:00:00+00:00"}, 2**70]),
        crafted([{"t": "2027-01-01T00:00:00"}, "opportunity/x"]),
        crafted(["not a moment", "opportunity/x"]),
        crafted([{"t": "2027-01-01T00:00:00+00:00"}, "x" * 1000]),
        crafted([{"t": "2027-01-01T00:00:00+00:00", "d": 1}, "opportunity/x"]),
        crafted([[1], {"a": 2}]),
        crafted([1e308, True]),
        "%%%not base64",
        crafted({"t": 1}),
    ],
)
def test_a_crafted_cursor_is_refused_before_the_database(cursor: str):
    with pytest.raises(ValidationError) as refused:
        decode_cursor(cursor, KEYS)
    assert refused.value.details["fields"] == [{"field": "after", "message": "invalid cursor"}]


def test_a_cursor_the_api_gave_out_decodes():
    from datetime import UTC, datetime

    moment = datetime(2027, 1, 1, tzinfo=UTC)
    assert decode_cursor(encode_cursor([moment, "opportunity/x"]), KEYS) == [moment, "opportunity/x"]


# ---- Temporal's errors, by status ------------------------------------------------------------


def rpc(status: RPCStatusCode, message: str = "refused") -> RPCError:
    return RPCError(message, status, b"")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (rpc(RPCStatusCode.INVALID_ARGUMENT, "WorkflowId exceeds maximum allowed length"), ValidationError),
        (rpc(RPCStatusCode.FAILED_PRECONDITION), ValidationError),
        (rpc(RPCStatusCode.OUT_OF_RANGE), ValidationError),
        (
            rpc(RPCStatusCode.RESOURCE_EXHAUSTED, "grpc: received message larger than max (5000000 vs. 4194304)"),
            ValidationError,
        ),
        (rpc(RPCStatusCode.RESOURCE_EXHAUSTED, "namespace rate limit exceeded"), RateLimited),
        (rpc(RPCStatusCode.NOT_FOUND, "workflow not found for ID: x"), NotFound),
        (rpc(RPCStatusCode.NOT_FOUND, "workflow execution already completed"), InvalidTransition),
        (rpc(RPCStatusCode.ALREADY_EXISTS), AlreadyExists),
        (rpc(RPCStatusCode.UNAVAILABLE), Unavailable),
        (rpc(RPCStatusCode.DEADLINE_EXCEEDED), Unavailable),
        (rpc(RPCStatusCode.INTERNAL), RPCError),
        (rpc(RPCStatusCode.PERMISSION_DENIED), RPCError),
    ],
    ids=lambda v: v.status.name + ":" + v.message[:20] if isinstance(v, RPCError) else v.__name__,
)
def test_each_temporal_status_maps_to_its_typed_answer(error: RPCError, expected: type[Exception]):
    assert type(rpc_failure(error, "opportunity", "x")) is expected


def test_money_maximum_is_below_the_digits_it_allows():
    assert len(values.MONEY_MAX.as_tuple().digits) == values.MONEY_MAX_DIGITS
    assert Decimal(10) ** (values.MONEY_MAX_DIGITS - 2) == values.MONEY_MAX + values.CENT
