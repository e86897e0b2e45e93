"""The launcher's development tokens and billing signing secret: made once, private on every start."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from infra.dev import dev_stripe_secret, dev_tokens


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_tokens_are_made_once_readable_by_their_owner_only(tmp_path: Path):
    tokens = dev_tokens(tmp_path)
    assert {grant["role"] for grant in tokens.values()} == {"viewer", "operator", "admin"}
    assert mode(tmp_path / "dev-tokens.json") == 0o600
    assert dev_tokens(tmp_path) == tokens


def test_an_existing_tokens_file_is_made_private_again_on_start(tmp_path: Path):
    path = tmp_path / "dev-tokens.json"
    path.write_text(json.dumps({"dev-admin-0123456789abcdef": {"actor": "a@localhost", "role": "admin"}}))
    path.chmod(0o644)
    assert list(dev_tokens(tmp_path)) == ["dev-admin-0123456789abcdef"]
    assert mode(path) == 0o600


def test_the_billing_signing_secret_is_made_once_in_stripe_s_format_and_kept_private(tmp_path: Path):
    secret = dev_stripe_secret(tmp_path)
    assert secret.startswith("whsec_") and len(secret) > 30
    path = tmp_path / "dev-stripe-webhook-secret"
    path.chmod(0o664)
    assert dev_stripe_secret(tmp_path) == secret
    assert mode(path) == 0o600
