"""Idempotency keys: fingerprints, caller scopes and how long keys are remembered."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from workflows.engine.idempotency import KEYS_KEPT, fingerprint, recall, remember, scoped, update_id
from workflows.engine.types import AppliedKey, LifecycleState

DOCS = Path(__file__).resolve().parents[2] / "docs"
NOW = datetime(2027, 1, 1, tzinfo=UTC)


def test_a_fingerprint_is_the_request_not_its_spelling():
    assert fingerprint("advance", {"a": 1, "b": [1, 2]}, None) == fingerprint("advance", {"b": [1, 2], "a": 1}, None)
    assert (
        len(
            {
                fingerprint("advance", {"a": 1}, None),
                fingerprint("move_back", {"a": 1}, None),
                fingerprint("advance", {"a": 2}, None),
                fingerprint("advance", {"a": 1}, "why"),
            }
        )
        == 4
    )


def test_keys_belong_to_their_caller_unambiguously():
    assert scoped("a:b", "c") != scoped("a", "b:c")
    assert scoped("a/b", "c") != scoped("a", "b/c")
    same = fingerprint("advance", {}, None)
    assert update_id("ops@example.com", "K", same) != update_id("ada@example.com", "K", same)
    assert update_id("ops@example.com", "K", same) != update_id("ops@example.com", "K", fingerprint("x", {}, None))
    assert update_id("ops@example.com", "K", same) == update_id("ops@example.com", "K", same)


def test_the_last_2000_keyed_transitions_are_remembered_as_documented():
    state = LifecycleState(
        kind="door",
        entity_id="d",
        state="OPEN",
        data={},
        policy={},
        opened_at=NOW,
        state_entered_at=NOW,
        updated_at=NOW,
    )
    for n in range(KEYS_KEPT + 1):
        remember(state, "ops@example.com", f"k{n}", AppliedKey(seq=n + 2, trigger="knock", fingerprint="f"))
    assert len(state.applied_requests) == KEYS_KEPT == 2000
    assert recall(state, "ops@example.com", "k0") is None
    assert recall(state, "ops@example.com", "k1") == AppliedKey(seq=3, trigger="knock", fingerprint="f")
    assert recall(state, "ada@example.com", "k1") is None
    for page in ("graphql.md", "architecture.md"):
        assert "2,000" in (DOCS / page).read_text(), f"docs/{page} should say how long keys are remembered"
