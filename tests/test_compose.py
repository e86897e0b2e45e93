"""docker-compose.yml and infra/Dockerfile, checked without Docker (images cannot be pulled here)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from services.metrics import API_METRICS, WORKER_GAUGES, WORKER_METRICS
from services.settings import Settings
from workflows.engine.visibility import ALL_KEYS

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
DOCKERFILE = (ROOT / "infra" / "Dockerfile").read_text()


def test_the_stack_has_every_part():
    assert {
        "temporal-db",
        "temporal-schema",
        "temporal",
        "temporal-setup",
        "temporal-ui",
        "readmodel-db",
        "migrate",
        "worker",
        "api",
        "proxy",
    } <= set(SERVICES)


def test_dependencies_exist_and_wait_for_health():
    for name, service in SERVICES.items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
            assert condition["condition"] in {"service_healthy", "service_completed_successfully"}
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[dependency], f"{dependency} has no healthcheck"
    assert SERVICES["worker"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert SERVICES["temporal-schema"]["depends_on"]["temporal-db"]["condition"] == "service_healthy"
    assert SERVICES["temporal"]["depends_on"]["temporal-schema"]["condition"] == "service_completed_successfully"


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


def environment(name: str) -> dict[str, str]:
    return {k: str(v) for k, v in (SERVICES[name].get("environment") or {}).items()}


def env_file_settings(name: str) -> dict[str, str]:
    """The settings a service's env file example offers, uncommented."""
    env_file = SERVICES[name].get("env_file")
    if env_file is None:
        return {}
    example = ROOT / f"{env_file}.example"
    assert example.exists(), f"{name}: commit {example.relative_to(ROOT)}"
    lines = [line.removeprefix("# ") for line in example.read_text().splitlines()]
    return dict(line.split("=", 1) for line in lines if line.startswith("LIFECYCLES_"))


def test_api_worker_and_migrations_share_the_image_and_valid_settings():
    settings_fields = {f"LIFECYCLES_{f.upper()}" for f in Settings.model_fields}
    for name in ("api", "worker", "migrate"):
        service = SERVICES[name]
        assert service["build"] == {"context": ".", "dockerfile": "infra/Dockerfile"}
        env = environment(name)
        assert env["LIFECYCLES_TEMPORAL_ADDRESS"] == "temporal:7233"
        assert env["LIFECYCLES_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert "@readmodel-db:5432/" in env["LIFECYCLES_DATABASE_URL"]
        assert env["LIFECYCLES_ENVIRONMENT"] == "production"
        offered = {**env, **env_file_settings(name)}
        ours = {k for k in offered if k.startswith("LIFECYCLES_")}
        assert ours <= settings_fields, ours - settings_fields
        # Everything else is OpenTelemetry's standard configuration (services/telemetry.py).
        assert all(k.startswith("OTEL_") for k in set(offered) - ours)
    assert SERVICES["worker"]["command"] == ["python", "-m", "services.worker"]
    assert SERVICES["migrate"]["command"] == ["python", "-m", "services.db", "upgrade"]
    # Secrets come from the environment of whoever starts the stack, never from this file.
    assert environment("api")["LIFECYCLES_API_TOKENS"].startswith("${LIFECYCLES_API_TOKENS:?")


def test_the_env_file_examples_are_valid_settings(tmp_path: Path):
    for name in ("api", "worker"):
        path = tmp_path / f"{name}.env"
        path.write_text("".join(f"{k}={v}\n" for k, v in env_file_settings(name).items()))
        Settings(_env_file=path)


# Where each delivery and billing setting goes: only to the containers that use it.
SETTINGS_BY_SERVICE = {
    "api": {"LIFECYCLES_API_TOKENS", "LIFECYCLES_STRIPE_WEBHOOK_SECRET", "LIFECYCLES_STRIPE_TOLERANCE_SECONDS"},
    "worker": {
        "LIFECYCLES_SMTP",
        "LIFECYCLES_SLACK_WEBHOOKS",
        "LIFECYCLES_WEBHOOK_ENDPOINTS",
        "LIFECYCLES_EFFECT_ROUTES",
        "LIFECYCLES_ROLE_CONTACTS",
    },
}


def test_every_setting_reaches_the_containers_that_use_it_and_no_other():
    offered = {name: {*environment(name), *env_file_settings(name)} for name in ("api", "worker", "migrate")}
    for name, wanted in SETTINGS_BY_SERVICE.items():
        assert wanted <= offered[name], f"{name} misses {wanted - offered[name]}"
        for other in offered.keys() - {name}:
            assert not wanted & offered[other], f"{other} gets {wanted & offered[other]}, which only {name} needs"
    assert offered["migrate"] <= {
        "LIFECYCLES_ENVIRONMENT",
        "LIFECYCLES_TEMPORAL_ADDRESS",
        "LIFECYCLES_TEMPORAL_NAMESPACE",
        "LIFECYCLES_TASK_QUEUE",
        "LIFECYCLES_DATABASE_URL",
        "LIFECYCLES_POLICY_OVERRIDES",
    }
    # The env files themselves are the operator's, never committed.
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "infra/compose/*.env" in ignored


def test_temporal_is_not_reachable_from_outside():
    assert "ports" not in SERVICES["temporal"]
    for name, service in SERVICES.items():
        for port in service.get("ports") or []:
            published = str(port)
            if name != "proxy":
                assert published.startswith("127.0.0.1:"), f"{name} publishes {published} on every interface"
            assert not published.endswith(":7233"), f"{name} publishes Temporal's frontend"
    assert SERVICES["temporal-ui"]["ports"] == ["127.0.0.1:8080:8080"]
    assert SERVICES["temporal-ui"]["environment"]["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "true"
    # Temporal and the databases live on an internal network the proxy is not on.
    assert COMPOSE["networks"]["internal"]["internal"] is True
    for name in ("temporal", "temporal-db", "readmodel-db"):
        assert SERVICES[name]["networks"] == ["internal"]
    assert "internal" not in SERVICES["proxy"].get("networks", ["default"])


def test_the_api_scales_behind_a_proxy():
    api = SERVICES["api"]
    assert "ports" not in api, "a fixed host port allows one replica only"
    assert api["expose"] == ["8000"] and api["deploy"]["replicas"] >= 2
    proxy = SERVICES["proxy"]
    assert proxy["depends_on"]["api"]["condition"] == "service_healthy"
    assert proxy["ports"] == ["${LIFECYCLES_HTTP_PORT:-8000}:8000"]
    config_file, mounted_at = proxy["volumes"][0].split(":")[:2]
    assert mounted_at == "/etc/caddy/Caddyfile"
    config = (ROOT / config_file).read_text()
    # Every replica's address, looked up again as replicas come and go.
    assert re.search(r"dynamic a \{\s*name api\s*port 8000", config)


def test_temporal_runs_from_the_server_image_after_a_schema_job():
    assert SERVICES["temporal"]["image"].startswith("temporalio/server:")
    schema = SERVICES["temporal-schema"]
    assert schema["image"].startswith("temporalio/admin-tools:")
    script = (ROOT / schema["volumes"][0].split(":")[0]).read_text()
    for database in ("temporal", "temporal_visibility"):
        assert f"{database}:" in script
    assert "update-schema" in script


def test_workers_get_time_to_finish_deliveries_on_stop():
    worker = SERVICES["worker"]
    grace = float(worker["environment"]["LIFECYCLES_WORKER_SHUTDOWN_GRACE_SECONDS"])
    assert grace < float(worker["stop_grace_period"].removesuffix("s"))


def test_the_dockerfile_installs_from_the_lock_file_and_runs_unprivileged():
    assert "COPY pyproject.toml uv.lock" in DOCKERFILE
    assert "uv sync --locked --no-dev" in DOCKERFILE
    assert re.search(r"^USER (?!root)", DOCKERFILE, re.M)
    assert "services.api:create_app" in DOCKERFILE
    for package in ("workflows", "services", "schema"):
        assert f"COPY {package} ./{package}" in DOCKERFILE


# ---- observability (the `observability` profile and infra/observability/) ----------------

OBSERVABILITY = ("otel-collector", "jaeger", "prometheus", "grafana")
PROMETHEUS = yaml.safe_load((ROOT / "infra" / "observability" / "prometheus.yml").read_text())
ALERTS = yaml.safe_load((ROOT / "infra" / "observability" / "alerts.yml").read_text())
DASHBOARD = json.loads((ROOT / "infra" / "observability" / "grafana" / "dashboards" / "lifecycles.json").read_text())
COLLECTOR = yaml.safe_load((ROOT / "infra" / "observability" / "otel-collector.yaml").read_text())
METRIC_NAME = re.compile(r"\b((?:lifecycles|temporal)_[a-z_]+)\b")


def dashboard_expressions() -> list[str]:
    return [target["expr"] for panel in DASHBOARD["panels"] for target in panel["targets"]]


def alert_expressions() -> list[str]:
    return [rule["expr"] for group in ALERTS["groups"] for rule in group["rules"]]


def referenced_metrics(prefix: str) -> set[str]:
    return {
        name
        for expr in [*dashboard_expressions(), *alert_expressions()]
        for name in METRIC_NAME.findall(expr)
        if name.startswith(prefix)
    }


def test_the_observability_stack_is_a_profile_of_its_own():
    for name in OBSERVABILITY:
        assert SERVICES[name]["profiles"] == ["observability"], name
        for volume in SERVICES[name].get("volumes") or []:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source
    # The base stack stays as it was: nothing else belongs to a profile.
    assert [n for n, s in SERVICES.items() if "profiles" in s] == list(OBSERVABILITY)


def test_prometheus_scrapes_the_api_and_every_worker_and_loads_the_rules():
    jobs = {job["job_name"]: job for job in PROMETHEUS["scrape_configs"]}
    assert jobs["lifecycles-api"]["static_configs"][0]["targets"] == ["api:8000"]
    worker = jobs["lifecycles-worker"]["dns_sd_configs"][0]
    address = SERVICES["worker"]["environment"]["LIFECYCLES_WORKER_METRICS_ADDRESS"]
    assert worker["names"] == ["worker"] and str(worker["port"]) == address.rpartition(":")[2]
    mounted = dict(v.split(":")[:2] for v in SERVICES["prometheus"]["volumes"] if v.startswith("./"))
    assert set(PROMETHEUS["rule_files"]) <= set(mounted.values())


def test_traces_go_from_the_services_to_the_collector_and_on_to_jaeger():
    assert SERVICES["api"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "${OTEL_EXPORTER_OTLP_ENDPOINT:-}"
    assert COLLECTOR["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
    pipeline = COLLECTOR["service"]["pipelines"]["traces"]
    assert pipeline["receivers"] == ["otlp"]
    for exporter in pipeline["exporters"]:
        host = COLLECTOR["exporters"][exporter]["endpoint"].split(":")[0]
        assert host in SERVICES


def test_the_alert_rules_cover_what_operations_watch():
    rules = {rule["alert"]: rule for group in ALERTS["groups"] for rule in group["rules"]}
    assert {
        "LifecycleTimersLate",
        "LifecycleProjectionBacklog",
        "LifecycleEffectsUndelivered",
        "LifecycleDeliveryFailures",
        "LifecycleWorkerSlotsExhausted",
    } <= set(rules)
    assert "0.99" in rules["LifecycleTimersLate"]["expr"] and "> 300" in rules["LifecycleTimersLate"]["expr"]
    assert "> 600" in rules["LifecycleProjectionBacklog"]["expr"]
    assert "> 600" in rules["LifecycleEffectsUndelivered"]["expr"]
    for rule in rules.values():
        assert rule["labels"]["severity"] in {"page", "ticket"} and rule["annotations"]["summary"]


def test_the_dashboard_shows_every_panel_operations_asked_for():
    titles = " / ".join(panel["title"] for panel in DASHBOARD["panels"]).lower()
    for part in ("transitions/s", "refusals", "update latency", "timer lateness", "deliveries", "backlog", "sdk"):
        assert part in titles, part
    ids = [panel["id"] for panel in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    assert all(panel["datasource"]["uid"] == "prometheus" for panel in DASHBOARD["panels"])


def test_the_rules_and_the_dashboard_use_metrics_the_services_export():
    """Our metric names against the registries; the Temporal SDK's are checked against a real
    scrape in tests/observability/test_metrics.py."""
    exported: set[str] = set()
    for registry in (API_METRICS.registry, WORKER_METRICS.registry):
        for family in registry.collect():
            exported |= {sample.name for sample in family.samples} | {family.name}
    # Histograms and counters export their samples once observed; name them all.
    exported |= {f"{name}{suffix}" for name in exported for suffix in ("_bucket", "_count", "_sum", "_total")}
    exported |= set(WORKER_GAUGES)
    assert referenced_metrics("lifecycles_") <= exported, referenced_metrics("lifecycles_") - exported
