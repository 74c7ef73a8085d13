"""docker-compose.yml cannot run here (no Docker engine); check it agrees with the code."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

from crm_common.settings import SERVICE_PORTS, KafkaSettings, PostgresSettings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = ("dashboard", "ingest", "profile", "segment", "messaging")


def _settings(name: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    return importlib.import_module(f"crm_{name}.config").Settings()


def test_compose_has_the_engines_and_every_service() -> None:
    assert set(COMPOSE["services"]) == {"kafka", "postgres", *SERVICES}
    assert COMPOSE["services"]["kafka"]["image"].startswith("apache/kafka:3.9")
    assert COMPOSE["services"]["postgres"]["image"].startswith("postgres:")


@pytest.mark.parametrize("name", SERVICES)
def test_service_env_and_ports_match_settings(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = COMPOSE["services"][name]
    env = spec["environment"]
    settings = _settings(name, env, monkeypatch)
    assert settings.service.name == name
    assert settings.service.port == SERVICE_PORTS[name]
    assert spec["ports"] == [f"{SERVICE_PORTS[name]}:{settings.service.port}"]
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


def _known_env_names(name: str) -> set[str]:
    config = importlib.import_module(f"crm_{name}.config")
    service_cls = config.Settings.model_fields["service"].default_factory().__class__
    prefix = service_cls.model_config["env_prefix"]
    names = {f"{prefix}{f}".upper() for f in service_cls.model_fields}
    names |= {f"KAFKA_{f}".upper() for f in KafkaSettings.model_fields}
    names |= {f"POSTGRES_{f}".upper() for f in PostgresSettings.model_fields}
    names |= {"LOG_LEVEL", "CRM_SERVICE_TOKEN"}
    return names


def test_compose_kafka_is_kraft_single_node() -> None:
    env = COMPOSE["services"]["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
