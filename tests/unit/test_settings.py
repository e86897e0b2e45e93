"""Settings that make the production stack safe by default, and refuse what cannot work."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.service import TLSConfig
from temporalio.worker import UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from services.api import create_app
from services.settings import Environment, Settings
from services.temporal import tls_config
from services.worker import configured_runner

TOKENS = {"a-production-token-0123456789": {"actor": "ops@example.com", "role": "admin"}}
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


@pytest.fixture
def pem_files(tmp_path: Path) -> dict[str, Path]:
    files = {}
    for name in ("ca", "cert", "key"):
        files[name] = tmp_path / f"{name}.pem"
        files[name].write_text(PEM.replace("CERTIFICATE", "PRIVATE KEY" if name == "key" else "CERTIFICATE"))
    return files


def test_graphiql_and_introspection_are_off_in_production_unless_asked_for():
    production = Settings(environment=Environment.PRODUCTION, api_tokens=TOKENS)
    assert (production.graphiql, production.introspection) == (False, False)
    dev = Settings(environment=Environment.DEV)
    assert (dev.graphiql, dev.introspection) == (True, True)
    asked = Settings(environment=Environment.PRODUCTION, api_tokens=TOKENS, graphiql=True, introspection=True)
    assert (asked.graphiql, asked.introspection) == (True, True)


def test_explicit_environment_variables_win(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LIFECYCLES_ENVIRONMENT", "production")
    monkeypatch.setenv("LIFECYCLES_API_TOKENS", '{"a-production-token-0123456789": {"actor": "a", "role": "admin"}}')
    assert Settings().graphiql is False
    monkeypatch.setenv("LIFECYCLES_GRAPHIQL", "true")
    assert Settings().graphiql is True and Settings().introspection is False


def test_plaintext_temporal_by_default():
    assert tls_config(Settings()) is False


def test_an_api_key_turns_tls_on_with_the_system_roots():
    settings = Settings(temporal_api_key="temporal-cloud-key")
    assert tls_config(settings) is True


def test_mutual_tls_from_pem_files(pem_files: dict[str, Path]):
    settings = Settings(
        temporal_tls_ca_cert=pem_files["ca"],
        temporal_tls_client_cert=pem_files["cert"],
        temporal_tls_client_key=pem_files["key"],
        temporal_tls_server_name="temporal.internal",
    )
    assert tls_config(settings) == TLSConfig(
        server_root_ca_cert=pem_files["ca"].read_bytes(),
        client_cert=pem_files["cert"].read_bytes(),
        client_private_key=pem_files["key"].read_bytes(),
        domain="temporal.internal",
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"temporal_tls_client_cert": "cert"},
            "LIFECYCLES_TEMPORAL_TLS_CLIENT_CERT and LIFECYCLES_TEMPORAL_TLS_CLIENT_KEY go together",
        ),
        ({"temporal_tls_client_key": "key"}, "go together"),
        (
            {"temporal_tls": False, "temporal_tls_ca_cert": "ca"},
            "LIFECYCLES_TEMPORAL_TLS is false but TLS certificates",
        ),
        ({"temporal_tls_ca_cert": "missing"}, "does not point to a file"),
        ({"temporal_tls_ca_cert": "not-pem"}, "is not a PEM file"),
    ],
)
def test_incomplete_or_wrong_tls_settings_are_refused(
    pem_files: dict[str, Path], tmp_path: Path, fields: dict[str, object], message: str
):
    (tmp_path / "not-pem").write_text("hello")
    paths = {**pem_files, "missing": tmp_path / "missing.pem", "not-pem": tmp_path / "not-pem"}
    resolved = {k: paths[v] if isinstance(v, str) else v for k, v in fields.items()}
    with pytest.raises(ValidationError) as refused:
        Settings(**resolved)
    assert message in str(refused.value)


def test_the_worker_grace_period_is_a_setting():
    assert Settings().worker_shutdown_grace_seconds == 30
    with pytest.raises(ValidationError):
        Settings(worker_shutdown_grace_seconds=-1)


def test_the_worker_keeps_a_burst_of_tasks_for_its_cache_a_minute():
    assert Settings().worker_sticky_timeout_seconds == 60
    assert Settings(worker_sticky_timeout_seconds=5).worker_sticky_timeout_seconds == 5
    for refused in (0, -1):
        with pytest.raises(ValidationError, match="worker_sticky_timeout_seconds"):
            Settings(worker_sticky_timeout_seconds=refused)


def test_workers_run_workflows_unsandboxed_unless_asked_and_tests_ask(monkeypatch: pytest.MonkeyPatch):
    assert isinstance(configured_runner(Settings()), SandboxedWorkflowRunner), "tests/conftest.py asks for it"
    monkeypatch.delenv("LIFECYCLES_WORKFLOW_SANDBOX")
    assert Settings().workflow_sandbox is False
    assert isinstance(configured_runner(Settings()), UnsandboxedWorkflowRunner)
    monkeypatch.setenv("LIFECYCLES_WORKFLOW_SANDBOX", "yes please")
    with pytest.raises(ValidationError, match="workflow_sandbox"):
        Settings()


def test_only_the_api_needs_tokens_in_production():
    worker = Settings(environment=Environment.PRODUCTION)
    with pytest.raises(ValueError, match="LIFECYCLES_API_TOKENS must be set in production"):
        create_app(worker)
    create_app(Settings(environment=Environment.PRODUCTION, api_tokens=TOKENS))


def test_the_change_feed_poll_interval_is_a_setting_within_bounds(monkeypatch: pytest.MonkeyPatch):
    assert Settings().change_feed_poll_seconds == 1
    monkeypatch.setenv("LIFECYCLES_CHANGE_FEED_POLL_SECONDS", "0.2")
    assert Settings().change_feed_poll_seconds == 0.2
    for refused in ("0", "-1", "0.01", "61", "soon"):
        monkeypatch.setenv("LIFECYCLES_CHANGE_FEED_POLL_SECONDS", refused)
        with pytest.raises(ValidationError, match="change_feed_poll_seconds"):
            Settings()
