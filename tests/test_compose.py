"""docker-compose.yml cannot run here (no Docker engine); check it agrees with the code."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from crm_common.internal_auth import AUDIENCES, key_variable
from crm_common.settings import SERVICE_PORTS, KafkaSettings, PostgresSettings
from crm_dashboard.ops.settings import OpsSettings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = ("dashboard", "ingest", "profile", "segment", "messaging")


def _settings(name: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    return importlib.import_module(f"crm_{name}.config").Settings()


def test_compose_has_the_engines_and_every_service() -> None:
    assert set(COMPOSE["services"]) == {"kafka", "postgres", "prometheus", "grafana", *SERVICES}
    assert COMPOSE["services"]["kafka"]["image"].startswith("apache/kafka:3.9")
    assert COMPOSE["services"]["postgres"]["image"].startswith("postgres:")


@pytest.mark.parametrize("name", SERVICES)
def test_service_env_and_ports_match_settings(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = COMPOSE["services"][name]
    env = spec["environment"]
    settings = _settings(name, env, monkeypatch)
    assert settings.service.name == name
    assert settings.service.port == SERVICE_PORTS[name]
    # Published on the host's loopback only: exposing it is a deliberate proxy's job.
    assert spec["ports"] == [f"127.0.0.1:{SERVICE_PORTS[name]}:{settings.service.port}"]
    assert settings.service.host == "0.0.0.0"
    assert settings.kafka.bootstrap_servers == "kafka:9092"
    assert settings.postgres.host == "postgres" and settings.postgres.database == "crm"
    pg_env = COMPOSE["services"]["postgres"]["environment"]
    assert settings.postgres.password.get_secret_value() == pg_env["POSTGRES_PASSWORD"]
    assert settings.postgres.user == pg_env["POSTGRES_USER"]
    assert spec["build"]["args"]["SERVICE"] == name
    # Every variable compose sets is one the settings read (no dead configuration).
    known = _known_env_names(name)
    assert set(env) <= known, set(env) - known


def _names(model: type[BaseSettings], prefix: str) -> set[str]:
    """Environment variables a settings class reads: prefixed field names and aliases."""
    names = set()
    for field, info in model.model_fields.items():
        names.add(f"{prefix}{field}".upper())
        alias = info.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
        names |= {c for c in choices if isinstance(c, str) and c.isupper()}
    return names


def _known_env_names(name: str) -> set[str]:
    config = importlib.import_module(f"crm_{name}.config")
    service_cls = config.Settings.model_fields["service"].default_factory().__class__
    names = _names(service_cls, service_cls.model_config["env_prefix"])
    names |= _names(KafkaSettings, "KAFKA_") | _names(PostgresSettings, "POSTGRES_")
    if name == "dashboard":  # the operations view reads its own settings in that process
        names |= _names(OpsSettings, "DASHBOARD_")
    return names


def test_engines_are_on_the_compose_network_only_and_secrets_come_from_env() -> None:
    for engine in ("kafka", "postgres"):
        assert "ports" not in COMPOSE["services"][engine], engine
    text = (ROOT / "docker-compose.yml").read_text()
    for variable in (
        *(key_variable(a) for a in AUDIENCES),
        "CRM_METRICS_TOKEN",
        "INGEST_ADMIN_TOKEN",
        "INGEST_SECRETS_KEY",
        "DASHBOARD_SESSION_SECRET",
        "POSTGRES_PASSWORD",
        "GRAFANA_ADMIN_PASSWORD",
    ):
        # Required from .env (compose stops with the message when it is unset) ...
        assert f"${{{variable}:?set {variable} in .env}}" in text, variable
        # ... and listed for the user in .env.example, without a value.
        assert f"\n{variable}=\n" in (ROOT / ".env.example").read_text(), variable
    for spec in COMPOSE["services"].values():
        for published in spec.get("ports", []):
            assert published.startswith("127.0.0.1:"), published


def test_each_service_holds_only_the_key_for_itself_and_the_console_all_four() -> None:
    keys = {key_variable(a) for a in AUDIENCES}
    for name in SERVICES:
        env = COMPOSE["services"][name]["environment"]
        held = keys & set(env)
        assert held == (keys if name == "dashboard" else {key_variable(name)}), name
        assert "CRM_SERVICE_TOKEN" not in env and "DASHBOARD_INGEST_ADMIN_TOKEN" not in env
        assert "CRM_METRICS_TOKEN" in env, name
    assert "INGEST_ADMIN_TOKEN" in COMPOSE["services"]["ingest"]["environment"]


def test_prometheus_scrapes_with_the_metrics_token() -> None:
    for job in PROMETHEUS["scrape_configs"]:
        auth = job["authorization"]
        assert (auth["type"], auth["credentials_file"]) == ("Bearer", "/run/secrets/metrics_token")
    assert COMPOSE["services"]["prometheus"]["secrets"] == ["metrics_token"]
    assert COMPOSE["secrets"]["metrics_token"] == {"environment": "CRM_METRICS_TOKEN"}


def test_compose_kafka_is_kraft_single_node() -> None:
    env = COMPOSE["services"]["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


# -- Prometheus and Grafana (issue 8) ------------------------------------------------
PROMETHEUS = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
GRAFANA = ROOT / "deploy/grafana"
PROMQL_WORDS = {
    *("sum", "max", "min", "avg", "count", "rate", "irate", "increase", "histogram_quantile"),
    *("by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless"),
    *("bool", "offset"),
}
PROMETHEUS_OWN = {"up"}  # written by Prometheus itself for every target


def _mounts(service: str) -> dict[str, str]:
    """Container path -> repository path of the compose service's file mounts."""
    mounts = {}
    for volume in COMPOSE["services"][service]["volumes"]:
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            mounts[target] = source[2:]
    return mounts


def test_prometheus_scrapes_every_service_by_compose_name_and_port() -> None:
    jobs = {job["job_name"]: job for job in PROMETHEUS["scrape_configs"]}
    assert set(jobs) == set(SERVICES)
    for name, job in jobs.items():
        assert job["metrics_path"] == "/metrics"
        (found,) = job["dns_sd_configs"]  # every replica of the compose service
        assert (found["names"], found["type"], found["port"]) == ([name], "A", SERVICE_PORTS[name])
        assert (
            f"127.0.0.1:{SERVICE_PORTS[name]}:{SERVICE_PORTS[name]}"
            in COMPOSE["services"][name]["ports"]
        )
    spec = COMPOSE["services"]["prometheus"]
    assert spec["image"].startswith("prom/prometheus:v") and spec["ports"] == [
        "127.0.0.1:9090:9090"
    ]
    config = next(a.split("=", 1)[1] for a in spec["command"] if a.startswith("--config.file="))
    assert _mounts("prometheus")[config] == "deploy/prometheus/prometheus.yml"


def _datasource() -> dict[str, str]:
    text = (GRAFANA / "provisioning/datasources/prometheus.yml").read_text()
    (source,) = yaml.safe_load(text)["datasources"]
    return dict(source)


def _dashboards() -> dict[str, dict[str, object]]:
    return {p.name: json.loads(p.read_text()) for p in (GRAFANA / "dashboards").glob("*.json")}


def test_grafana_is_provisioned_from_the_deploy_folder() -> None:
    spec = COMPOSE["services"]["grafana"]
    assert spec["image"].startswith("grafana/grafana:") and spec["ports"] == ["127.0.0.1:3000:3000"]
    mounts = _mounts("grafana")
    assert mounts["/etc/grafana/provisioning"] == "deploy/grafana/provisioning"
    assert _datasource()["url"] == "http://prometheus:9090"
    text = (GRAFANA / "provisioning/dashboards/crm.yml").read_text()
    (provider,) = yaml.safe_load(text)["providers"]
    assert mounts[provider["options"]["path"]] == "deploy/grafana/dashboards"
    home = spec["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    folder, file = home.rsplit("/", 1)
    assert mounts[folder] == "deploy/grafana/dashboards" and file in _dashboards()


def _panels() -> list[dict[str, object]]:
    return [p for d in _dashboards().values() for p in d["panels"]]  # type: ignore[attr-defined]


def promql_metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (label matchers, ranges, groupings removed)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", " ", expr)
    words = re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*(?![A-Za-z0-9_:]|\s*\()", expr)
    return {w for w in words if w not in PROMQL_WORDS}


def _exported_metric_names() -> set[str]:
    """Sample names the services' metric modules (and the plumbing's) register."""
    modules = ["crm_common.telemetry", "crm_dashboard.ops.exporter"]
    for name in ("ingest", "profile", "segment", "messaging"):
        folder = ROOT / "services" / name / "src" / f"crm_{name}"
        modules += [f"crm_{name}.{p.stem}" for p in sorted(folder.glob("metrics*.py"))]
    for module in modules:
        importlib.import_module(module)
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("", "_sum", "_count", "_created"),
    }
    names: set[str] = set()
    for family in REGISTRY.collect():
        names |= {family.name + s for s in suffixes.get(family.type, ("",))}
    return names


def test_promql_metric_names_are_found() -> None:
    expr = 'histogram_quantile(0.95, sum by (le) (rate(a_bucket{x="{y}"}[$__rate_interval]))) / b'
    assert promql_metric_names(expr) == {"a_bucket", "b"}


def test_every_grafana_panel_queries_metrics_the_services_export() -> None:
    exported = _exported_metric_names() | PROMETHEUS_OWN
    uid = _datasource()["uid"]
    used: set[str] = set()
    for panel in _panels():
        targets = panel["targets"]
        assert targets, panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": uid}
        for target in targets:  # type: ignore[attr-defined]
            names = promql_metric_names(target["expr"])
            assert names and names <= exported, (panel["title"], names - exported)
            used |= names
    # The operations view: stages, lag, dead letters, rejections, provider errors, health.
    assert {
        "crm_ingest_accepted_total",
        "crm_ingest_normalized_events_total",
        "crm_profile_events_applied_total",
        "crm_segment_evaluations_total",
        "crm_messaging_messages_total",
        "crm_ops_consumer_lag_records",
        "crm_ops_dead_letters",
        "crm_ingest_rejected_total",
        "crm_messaging_provider_errors_total",
        "crm_ops_service_up",
        "up",
    } <= used


def test_ops_settings_from_the_compose_environment_name_the_services(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in COMPOSE["services"]["dashboard"]["environment"].items():
        monkeypatch.setenv(key, str(value))
    ops = OpsSettings()
    for name in ("ingest", "profile", "segment", "messaging"):
        assert ops.url(name) == f"http://{name}:{SERVICE_PORTS[name]}"
    assert ops.url("dashboard") == f"http://127.0.0.1:{SERVICE_PORTS['dashboard']}"
    assert ops.kafka.bootstrap_servers == "kafka:9092"
