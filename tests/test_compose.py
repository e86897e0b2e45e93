"""docker-compose.yml and infra/Dockerfile, checked without Docker (images cannot be pulled here)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from services.settings import Settings
from workflows.engine.visibility import ALL_KEYS

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
DOCKERFILE = (ROOT / "infra" / "Dockerfile").read_text()


def test_the_stack_has_every_part():
    assert {
        "temporal-db",
        "temporal",
        "temporal-setup",
        "temporal-ui",
        "readmodel-db",
        "migrate",
        "worker",
        "api",
    } <= set(SERVICES)


def test_dependencies_exist_and_wait_for_health():
    for name, service in SERVICES.items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
            assert condition["condition"] in {"service_healthy", "service_completed_successfully"}
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[dependency], f"{dependency} has no healthcheck"
    assert SERVICES["worker"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert SERVICES["temporal"]["depends_on"]["temporal-db"]["condition"] == "service_healthy"


def test_temporal_runs_on_postgresql_with_its_ui():
    env = SERVICES["temporal"]["environment"]
    assert env["DB"].startswith("postgres") and env["POSTGRES_SEEDS"] == "temporal-db"
    assert SERVICES["temporal-ui"]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
    mounted = [v.split(":")[0] for v in SERVICES["temporal"]["volumes"]]
    assert all((ROOT / m).exists() for m in mounted)


def test_the_setup_job_registers_the_search_attributes_the_workflows_set():
    script = (ROOT / "infra" / "temporal" / "register-search-attributes.sh").read_text()
    registered = dict(re.findall(r"(\w+):(\w+)", script.split("for attribute in", 1)[1].split(";", 1)[0]))
    assert registered == {key.name: key.indexed_value_type.name.title() for key in ALL_KEYS}


def test_api_worker_and_migrations_share_the_image_and_valid_settings():
    for name in ("api", "worker", "migrate"):
        service = SERVICES[name]
        assert service["build"] == {"context": ".", "dockerfile": "infra/Dockerfile"}
        env = {k: v for k, v in service["environment"].items()}
        assert env["LIFECYCLES_TEMPORAL_ADDRESS"] == "temporal:7233"
        assert env["LIFECYCLES_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert "@readmodel-db:5432/" in env["LIFECYCLES_DATABASE_URL"]
        assert env["LIFECYCLES_ENVIRONMENT"] == "production"
        settings_fields = {f"LIFECYCLES_{f.upper()}" for f in Settings.model_fields}
        assert set(env) <= settings_fields, set(env) - settings_fields
    assert SERVICES["worker"]["command"] == ["python", "-m", "services.worker"]
    assert SERVICES["migrate"]["command"] == ["python", "-m", "services.db", "upgrade"]
    assert "8000:8000" in SERVICES["api"]["ports"]
    # Secrets come from the environment of whoever starts the stack, never from this file.
    assert SERVICES["api"]["environment"]["LIFECYCLES_API_TOKENS"].startswith("${LIFECYCLES_API_TOKENS:?")


def test_the_dockerfile_installs_from_the_lock_file_and_runs_unprivileged():
    assert "COPY pyproject.toml uv.lock" in DOCKERFILE
    assert "uv sync --locked --no-dev" in DOCKERFILE
    assert re.search(r"^USER (?!root)", DOCKERFILE, re.M)
    assert "services.api:create_app" in DOCKERFILE
    for package in ("workflows", "services", "schema"):
        assert f"COPY {package} ./{package}" in DOCKERFILE
