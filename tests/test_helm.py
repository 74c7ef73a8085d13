"""deploy/helm/crm: the chart lints and renders, and what it renders agrees with the code.

helm and manifest-check (deploy/helm/check) are built with Go from the Go module proxy
(`make helm`, a dependency of `make test`). Every rendered manifest passes
manifest-check: a strict decode into the Kubernetes Go types (and prometheus-operator's
for the ServiceMonitor) plus the admission rules a schema misses; the CRDs of KEDA,
Strimzi and CloudNativePG have no Go types there and are skipped by name (and checked
field by field below). The manifests are then read back and checked against the
settings classes, the apps' routes, the consumer factories and crm_common's topics: a
renamed variable, a moved probe, a new consumer group or a topic setting that drifts
fails here, not in a cluster.
"""

from __future__ import annotations

import base64
import copy
import importlib
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices, SecretStr
from pydantic_settings import BaseSettings

from crm_common.internal_auth import AUDIENCES, key_variable
from crm_common.secrets import DEV_MODE_VARIABLE, problems
from crm_common.settings import (
    COMPACTED_TOPICS,
    SERVICE_PORTS,
    TOPICS,
    KafkaSettings,
    PostgresSettings,
)
from crm_dashboard.ops.settings import OpsSettings

ROOT = Path(__file__).resolve().parents[1]
HELM = ROOT / ".local" / "bin" / "helm"
MANIFEST_CHECK = ROOT / ".local" / "bin" / "manifest-check"
# Kinds with no Go types in manifest-check: skipped there by name, checked below.
NO_SCHEMA = {
    "keda.sh/ScaledObject",
    "kafka.strimzi.io/Kafka",
    "kafka.strimzi.io/KafkaNodePool",
    "kafka.strimzi.io/KafkaTopic",
    "postgresql.cnpg.io/Cluster",
}
CHART = ROOT / "deploy" / "helm" / "crm"
SERVICES = ("ingest", "profile", "segment", "messaging", "dashboard")
WORKLOADS = {  # Deployment (after the release's prefix) -> service, role
    "ingest-api": ("ingest", "api"),
    "ingest-worker": ("ingest", "worker"),
    "profile": ("profile", "all"),
    "segment": ("segment", "all"),
    "messaging": ("messaging", "all"),
    "dashboard": ("dashboard", "all"),
}
SCALED = ("ingest-worker", "profile", "segment", "messaging")  # KEDA, on consumer lag
RELEASE = "crm"
EVERYTHING = {  # every optional part on: the engines, KEDA, monitoring, ingress, HPA
    "strimzi.enabled": "true",
    "cnpg.enabled": "true",
    "keda.enabled": "true",
    "serviceMonitor.enabled": "true",
    "ingress.enabled": "true",
    "ingress.dashboard.host": "crm.shop.example",
    "ingest.api.autoscaling.enabled": "true",
    "ingress.ingest.host": "in.shop.example",
    "ingress.messaging.host": "m.shop.example",
    "messaging.publicUrl": "https://m.shop.example",
}


# -- helm --------------------------------------------------------------------------
def helm(*args: str) -> subprocess.CompletedProcess[str]:
    if not HELM.exists():
        pytest.fail(f"{HELM} is missing: `make helm` installs it from the Go module proxy")
    return subprocess.run(
        [str(HELM), *args], capture_output=True, text=True, timeout=120, check=False
    )


def _sets(values: dict[str, str]) -> list[str]:
    return [arg for key, value in values.items() for arg in ("--set", f"{key}={value}")]


def render_text(values: dict[str, str] | None = None) -> str:
    done = helm("template", RELEASE, str(CHART), "--namespace", "shop", *_sets(values or {}))
    assert done.returncode == 0, done.stderr
    return done.stdout


def render(values: dict[str, str] | None = None) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(render_text(values)) if d]


SKIPPED = "skipped (no schema) "


def manifest_check(manifests: str) -> subprocess.CompletedProcess[str]:
    if not MANIFEST_CHECK.exists():
        pytest.fail(f"{MANIFEST_CHECK} is missing: `make helm` builds it (deploy/helm/check)")
    return subprocess.run(
        [str(MANIFEST_CHECK), "-namespace", "shop", "-skip", ",".join(sorted(NO_SCHEMA))],
        input=manifests,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def render_error(values: dict[str, str]) -> str:
    done = helm("template", RELEASE, str(CHART), *_sets(values))
    assert done.returncode != 0, "rendered although it should have refused"
    return done.stderr


@pytest.fixture(scope="module")
def default() -> list[dict[str, Any]]:
    return render()


@pytest.fixture(scope="module")
def everything() -> list[dict[str, Any]]:
    return render(EVERYTHING)


def of_kind(docs: Iterable[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def deployments(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Workload name (``profile``, ``ingest-api`` ...) -> its Deployment."""
    found = of_kind(docs, "Deployment")
    return {name.removeprefix(f"{RELEASE}-"): d for name, d in found.items()}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (main,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(main)


def env_of(spec: dict[str, Any], docs: list[dict[str, Any]]) -> dict[str, str]:
    """A container's environment with secretKeyRefs read from the rendered secrets
    (a secret the chart does not render, like CNPG's, gives ``<name/key>``)."""
    secrets = of_kind(docs, "Secret")
    env = {}
    for item in spec["env"]:
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        ref = item["valueFrom"]["secretKeyRef"]
        data = secrets.get(ref["name"], {}).get("data", {})
        if ref["key"] in data:
            env[item["name"]] = base64.b64decode(data[ref["key"]]).decode()
        else:
            env[item["name"]] = f"<{ref['name']}/{ref['key']}>"
    return env


@pytest.mark.parametrize("extra", [{}, EVERYTHING], ids=["default", "everything"])
def test_chart_lints_strictly(extra: dict[str, str]) -> None:
    done = helm("lint", "--strict", str(CHART), *_sets(extra))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout


@pytest.mark.parametrize("extra", [{}, EVERYTHING], ids=["default", "everything"])
def test_every_rendered_manifest_passes_the_schema_check(extra: dict[str, str]) -> None:
    manifests = render_text(extra)
    docs = [d for d in yaml.safe_load_all(manifests) if d]
    done = manifest_check(manifests)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    ok = [line.removeprefix("ok ") for line in lines if line.startswith("ok ")]
    skipped = [line.removeprefix(SKIPPED) for line in lines if line.startswith(SKIPPED)]
    assert len(ok) + len(skipped) == len(lines) == len(docs)  # one verdict per object
    kinds = {f"{d['apiVersion'].rpartition('/')[0]}/{d['kind']}" for d in docs}
    assert {line.split()[0] for line in skipped} == kinds & NO_SCHEMA
    for kind in ("apps/Deployment", "batch/Job", "/Service", "policy/PodDisruptionBudget"):
        assert {f"{kind} {name}" for name in of_kind(docs, kind.split("/")[1])} <= set(ok)
    if extra:  # everything on: each kind without a schema is rendered, the rest checked
        assert kinds & NO_SCHEMA == NO_SCHEMA
        assert f"monitoring.coreos.com/ServiceMonitor {RELEASE}" in ok


BROKEN: dict[
    str, tuple[list[str | int], Any, str]
] = {  # what the API server refuses -> what manifest-check says
    "unknown field": (
        ["spec", "template", "spec", "containers", 0, "livenessProbes"],
        {"httpGet": {"path": "/healthz", "port": "http"}},
        'unknown field "spec.template.spec.containers[0].livenessProbes"',
    ),
    "wrong type": (["spec", "replicas"], "two", "cannot unmarshal string"),
    "selector": (
        ["spec", "template", "metadata", "labels", "app.kubernetes.io/component"],
        "other",
        "selector does not match template labels",
    ),
    "probe port": (
        ["spec", "template", "spec", "containers", 0, "readinessProbe", "httpGet", "port"],
        "web",
        "readinessProbe.httpGet.port: Not found",
    ),
    "env name": (
        ["spec", "template", "spec", "containers", 0, "env", 0, "name"],
        "PROFILE HOST",
        "env[0].name: Invalid value",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_the_schema_check_refuses_what_the_api_server_would(
    case: str, default: list[dict[str, Any]]
) -> None:
    """manifest-check is no formality: one broken field of a good Deployment fails it."""
    path, value, message = BROKEN[case]
    deployment = copy.deepcopy(deployments(default)["profile"])
    node: Any = deployment
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    done = manifest_check(yaml.safe_dump(deployment))
    assert done.returncode == 1, done.stdout
    assert message in done.stdout, done.stdout
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    done = manifest_check(yaml.safe_dump(unknown))
    assert done.returncode == 1 and "not named in -skip" in done.stdout


def test_make_helm_without_go_fails_and_says_why(tmp_path: Path) -> None:
    """No Go, no chart tests: `make test` stops at `make helm` naming what is missing,
    instead of the chart tests passing unseen."""
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copytree(ROOT / "deploy" / "helm" / "check", tmp_path / "deploy" / "helm" / "check")
    done = subprocess.run(
        ["make", "-C", str(tmp_path), "helm", "GO=/nonexistent/go"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "make helm: needs Go" in done.stderr
    assert not (tmp_path / ".local" / "bin" / "manifest-check").exists()


# -- Deployments ---------------------------------------------------------------------
def test_every_service_runs_with_both_probes_on_its_port(default: list[dict[str, Any]]) -> None:
    found = deployments(default)
    assert set(found) == set(WORKLOADS)
    services = of_kind(default, "Service")
    for name, (service, _) in WORKLOADS.items():
        main = container(found[name])
        (port,) = main["ports"]
        assert (port["name"], port["containerPort"]) == ("http", SERVICE_PORTS[service])
        assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert main["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert main["command"] == ["python", "-m", f"crm_{service}", "serve"]
        assert main["image"] == f"crm-{service}:0.1.0"  # the Dockerfile's image per service
        assert main["resources"]["requests"] and main["resources"]["limits"]["memory"]
        svc = services[f"{RELEASE}-{name}"]
        assert svc["spec"]["selector"] == found[name]["spec"]["selector"]["matchLabels"]
        assert svc["spec"]["ports"][0]["port"] == SERVICE_PORTS[service]


@pytest.mark.parametrize("workload", sorted(WORKLOADS))
def test_probe_paths_and_metrics_are_routes_of_the_services_app(
    workload: str, default: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probes ask the app itself (a moved or renamed route fails here), with the
    settings the pod builds (the app is made, not started: no I/O)."""
    service, _ = WORKLOADS[workload]
    main = container(deployments(default)[workload])
    settings = settings_from(env_of(main, default), service, monkeypatch)
    app = importlib.import_module(f"crm_{service}.app").create_app(settings)
    gets = {route.path for route in app.routes if "GET" in getattr(route, "methods", ())}
    probes = {
        main[p]["httpGet"]["path"] for p in ("livenessProbe", "readinessProbe", "startupProbe")
    }
    assert probes <= gets, probes - gets
    assert "/metrics" in gets  # the ServiceMonitor's path


def test_pods_run_as_non_root_on_a_read_only_root(default: list[dict[str, Any]]) -> None:
    pods = [d["spec"]["template"]["spec"] for d in deployments(default).values()]
    pods += [j["spec"]["template"]["spec"] for j in of_kind(default, "Job").values()]
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001  # the image's user
        assert pod["automountServiceAccountToken"] is False
        for box in pod["containers"] + pod.get("initContainers", []):
            context = box["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            mounts = {m["mountPath"]: m["name"] for m in box["volumeMounts"]}
            assert mounts["/tmp"] == "tmp"  # tempfile: metrics dirs, the forkserver
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "emptyDir" in volumes["tmp"]


def test_ingest_pods_share_one_spool_volume_for_csv_imports(
    default: list[dict[str, Any]],
) -> None:
    """The api pods write uploads the worker pods read (and any worker takes over a
    stopped one's import): one claim for all, under the spool directory's path."""
    found = deployments(default)
    claims = set()
    for name in ("ingest-api", "ingest-worker"):
        pod = found[name]["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        claims.add(volumes["spool"]["persistentVolumeClaim"]["claimName"])
        main = container(found[name])
        mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
        spool = env_of(main, default)["INGEST_IMPORT_SPOOL_DIR"]
        assert Path(spool).parent == Path(mounts["spool"])  # made 0700 by the service
    (claim,) = claims
    pvc = of_kind(default, "PersistentVolumeClaim")[claim]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    for name in set(WORKLOADS) - {"ingest-api", "ingest-worker"}:
        assert "spool" not in {
            v["name"] for v in found[name]["spec"]["template"]["spec"]["volumes"]
        }


# -- environment == settings ------------------------------------------------------------
def _names(model: type[BaseSettings], prefix: str) -> set[str]:
    """Environment variables a settings class reads: prefixed field names and aliases."""
    names = set()
    for field, info in model.model_fields.items():
        names.add(f"{prefix}{field}".upper())
        alias = info.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
        names |= {c for c in choices if isinstance(c, str) and c.isupper()}
    return names


def _service_settings_class(service: str) -> type[BaseSettings]:
    config = importlib.import_module(f"crm_{service}.config")
    factory = config.Settings.model_fields["service"].default_factory
    return type(factory())


def known_env_names(service: str) -> set[str]:
    cls = _service_settings_class(service)
    names = _names(cls, cls.model_config["env_prefix"])
    names |= _names(KafkaSettings, "KAFKA_") | _names(PostgresSettings, "POSTGRES_")
    if service == "dashboard":  # its operations view reads its own settings
        names |= _names(OpsSettings, "DASHBOARD_")
    return names


def settings_from(env: dict[str, str], service: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The service's Settings as its pod would build them (nothing from this process)."""
    for name in known_env_names(service) | {DEV_MODE_VARIABLE}:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return importlib.import_module(f"crm_{service}.config").Settings()


@pytest.mark.parametrize("docs_name", ["default", "everything"])
def test_every_variable_set_is_one_the_settings_read(
    docs_name: str, request: pytest.FixtureRequest
) -> None:
    docs = request.getfixturevalue(docs_name)
    for name, deployment in deployments(docs).items():
        service, _ = WORKLOADS[name]
        pod = deployment["spec"]["template"]["spec"]
        for box in pod["containers"] + pod.get("initContainers", []):
            names = {item["name"] for item in box["env"]}
            assert names <= known_env_names(service), (name, names - known_env_names(service))
            assert DEV_MODE_VARIABLE not in names


@pytest.mark.parametrize("docs_name", ["default", "everything"])
def test_each_pod_builds_its_settings_with_every_secret_and_only_its_own_key(
    docs_name: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = request.getfixturevalue(docs_name)
    keys = {key_variable(a) for a in AUDIENCES}
    for name, deployment in deployments(docs).items():
        service, role = WORKLOADS[name]
        env = env_of(container(deployment), docs)
        settings = settings_from(env, service, monkeypatch)
        svc = settings.service
        assert (svc.name, svc.host, svc.port, svc.role) == (
            service,
            "0.0.0.0",
            SERVICE_PORTS[service],
            role,
        )
        # Every secret the service refuses to start without is there, random and long
        # (the same check `serve` runs outside dev mode).
        assert problems(svc.secrets()) == [], name
        held = keys & set(env)
        assert held == (keys if service == "dashboard" else {key_variable(service)}), name
        assert settings.kafka.partitions == int(_values()["kafka"]["partitions"])
        assert settings.kafka.replication_factor == 3
        assert settings.kafka.topic_prefix == ""  # group names below assume none
    found = deployments(docs)
    dashboard = settings_from(env_of(container(found["dashboard"]), docs), "dashboard", monkeypatch)
    # Webhook URLs the console shows: the public ingest door once there is one.
    public = "https://in.shop.example" if docs_name == "everything" else None
    assert dashboard.service.public_ingest_url == public
    services = of_kind(docs, "Service")
    for target, workload in {"ingest": "ingest-api", "profile": "profile"}.items():
        url = getattr(dashboard.service, f"{target}_url")
        assert url == f"http://{RELEASE}-{workload}:{SERVICE_PORTS[target]}"
        assert f"{RELEASE}-{workload}" in services


def test_one_generated_secret_holds_every_security_model_variable(
    default: list[dict[str, Any]],
) -> None:
    (secret,) = of_kind(default, "Secret").values()
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    expected = {
        *(key_variable(a) for a in AUDIENCES),
        "CRM_METRICS_TOKEN",
        "INGEST_ADMIN_TOKEN",
        "INGEST_SECRETS_KEY",
        "DASHBOARD_SESSION_SECRET",
    }
    assert set(secret["data"]) == expected
    values = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert len(set(values.values())) == len(values)  # random, none reused
    assert problems({k: SecretStr(v) for k, v in values.items()}) == []


def test_an_existing_secret_is_referenced_and_none_generated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    docs = render({"secrets.existingSecret": "crm-from-env"})
    assert of_kind(docs, "Secret") == {}
    for name, deployment in deployments(docs).items():
        for item in container(deployment)["env"]:
            if "valueFrom" in item:
                assert item["valueFrom"]["secretKeyRef"]["name"] == "crm-from-env", name
    # The compose .env has POSTGRES_PASSWORD too: the same secret gives it.
    env = env_of(container(deployments(docs)["profile"]), docs)
    assert env["POSTGRES_PASSWORD"] == "<crm-from-env/POSTGRES_PASSWORD>"


# -- migrations --------------------------------------------------------------------------
def test_a_migration_job_per_service_with_its_own_settings(
    default: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = of_kind(default, "Job")
    assert set(jobs) == {f"{RELEASE}-migrate-{s}" for s in SERVICES}
    for service in SERVICES:
        job = jobs[f"{RELEASE}-migrate-{service}"]
        hooks = job["metadata"]["annotations"]["helm.sh/hook"].split(",")
        assert "pre-upgrade" in hooks and "post-install" in hooks
        (box,) = job["spec"]["template"]["spec"]["containers"]
        assert box["command"] == ["python", "-m", f"crm_{service}", "migrate"]
        env = env_of(box, default)
        settings = settings_from(env, service, monkeypatch)
        assert settings.postgres.host == "postgres" and settings.postgres.database == "crm"
        # Ingest's migrations seal webhook secrets: the real key, never the default.
        assert problems(settings.service.secrets()) == []
    for name, deployment in deployments(default).items():
        (init,) = deployment["spec"]["template"]["spec"]["initContainers"]
        assert init["command"] == ["python", "-m", f"crm_{WORKLOADS[name][0]}", "migrate"]


# -- PDBs, autoscaling -------------------------------------------------------------------
def test_a_disruption_budget_for_every_deployment(default: list[dict[str, Any]]) -> None:
    budgets = of_kind(default, "PodDisruptionBudget")
    for name, deployment in deployments(default).items():
        budget = budgets[f"{RELEASE}-{name}"]
        assert budget["spec"]["selector"] == deployment["spec"]["selector"]
        assert budget["spec"]["maxUnavailable"] == 1


def code_consumer_groups() -> dict[str, set[tuple[str, str]]]:
    """Service -> (group, topic) of every consumer the service's factories build (the
    runners make their Kafka clients only at start, so building them needs no I/O)."""
    from crm_dashboard import app as dashboard_app
    from crm_dashboard import config as dashboard_config
    from crm_ingest.erasure import build_erasure_consumer
    from crm_ingest.normalizer import build_normalizer
    from crm_messaging import config as messaging_config
    from crm_messaging import consumers as messaging_consumers
    from crm_profile import config as profile_config
    from crm_profile import consumers as profile_consumers
    from crm_segment import app as segment_app
    from crm_segment import config as segment_config

    kafka = KafkaSettings(topic_prefix="")
    runtime = SimpleNamespace(db=None, producer=None, settings=None)
    messaging_runtime = SimpleNamespace(
        db=None, producer=None, settings=messaging_config.Settings(kafka=kafka)
    )
    built = {
        "ingest": [build_normalizer(None, None, kafka), build_erasure_consumer(None, None, kafka)],  # type: ignore[arg-type]
        "profile": profile_consumers.build_consumers(
            profile_config.Settings(kafka=kafka),
            runtime,  # type: ignore[arg-type]
        ),
        "segment": segment_app.build_consumers(
            SimpleNamespace(settings=segment_config.Settings(kafka=kafka), db=None),  # type: ignore[arg-type]
            runtime,  # type: ignore[arg-type]
        ),
        "messaging": messaging_consumers.consumers(messaging_runtime, None)  # type: ignore[arg-type]
        + messaging_consumers.journey_consumers(messaging_runtime, None),  # type: ignore[arg-type]
        "dashboard": dashboard_app.build_consumers(
            dashboard_config.Settings(kafka=kafka),
            runtime,  # type: ignore[arg-type]
        ),
    }
    found = {}
    for service, runners in built.items():
        found[service] = {(r.group_id, topic) for r in runners for topic in r.topics}
    return found


def test_the_charts_consumer_table_is_the_codes() -> None:
    table = yaml.safe_load((CHART / "files" / "consumers.yaml").read_text())
    charted = {
        name.removesuffix("-worker"): {(c["group"], c["topic"]) for c in rows}
        for name, rows in table.items()
    }
    assert charted == code_consumer_groups()


def test_keda_scales_each_consumer_workload_on_the_lag_of_its_real_groups(
    everything: list[dict[str, Any]],
) -> None:
    scaled = of_kind(everything, "ScaledObject")
    assert set(scaled) == {f"{RELEASE}-{name}" for name in SCALED}
    groups = code_consumer_groups()
    found = deployments(everything)
    partitions = int(_values()["kafka"]["partitions"])
    for name in SCALED:
        spec = scaled[f"{RELEASE}-{name}"]["spec"]
        assert spec["scaleTargetRef"]["name"] == f"{RELEASE}-{name}"
        assert "replicas" not in found[name]["spec"]  # KEDA owns the count
        triggers = {
            (t["metadata"]["consumerGroup"], t["metadata"]["topic"]) for t in spec["triggers"]
        }
        assert triggers == groups[WORKLOADS[name][0]], name
        assert {t["type"] for t in spec["triggers"]} == {"kafka"}
        for trigger in spec["triggers"]:
            meta = trigger["metadata"]
            assert meta["bootstrapServers"] == "crm-kafka-kafka-bootstrap:9092"
            assert meta["offsetResetPolicy"] == "earliest"  # as the consumers reset
            assert all(isinstance(v, str) for v in meta.values())
        # A group never has more busy members than partitions.
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= partitions
    assert (
        "replicas" in found["dashboard"]["spec"] and "replicas" not in found["ingest-api"]["spec"]
    )
    (hpa,) = of_kind(everything, "HorizontalPodAutoscaler").values()
    assert hpa["spec"]["scaleTargetRef"]["name"] == f"{RELEASE}-ingest-api"


def test_keda_refuses_more_replicas_than_partitions() -> None:
    error = render_error({"keda.enabled": "true", "profile.keda.maxReplicas": "13"})
    assert "more than kafka.partitions 12" in error


# -- engines -------------------------------------------------------------------------------
def test_strimzi_topics_are_crm_commons_with_its_record_size(
    everything: list[dict[str, Any]],
) -> None:
    (kafka,) = of_kind(everything, "Kafka").values()
    assert kafka["apiVersion"] == "kafka.strimzi.io/v1"  # the only one Strimzi 1.x serves
    assert "annotations" not in kafka["metadata"]  # KRaft and node pools: v1's only way
    (pool,) = of_kind(everything, "KafkaNodePool").values()
    assert pool["spec"]["replicas"] == 3 and set(pool["spec"]["roles"]) == {"controller", "broker"}
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    limit = KafkaSettings().topic_max_bytes
    broker = kafka["spec"]["kafka"]["config"]
    assert broker["message.max.bytes"] >= limit and broker["replica.fetch.max.bytes"] >= limit
    assert broker["auto.create.topics.enable"] is False
    assert broker["min.insync.replicas"] == 2
    topics = {t["spec"]["topicName"]: t for t in of_kind(everything, "KafkaTopic").values()}
    assert set(topics) == set(TOPICS)
    env = env_of(container(deployments(everything)["profile"]), everything)
    for name, topic in topics.items():
        spec = topic["spec"]
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
        # The services create missing topics themselves with these numbers (ensure_topics).
        assert spec["partitions"] == int(env["KAFKA_PARTITIONS"])
        assert spec["replicas"] == int(env["KAFKA_REPLICATION_FACTOR"]) == 3
        config = spec["config"]
        # Exactly the size the services keep (a smaller one they would alter back).
        assert config["max.message.bytes"] == limit
        assert config["min.insync.replicas"] == 2
        compacted = name in COMPACTED_TOPICS
        assert config["cleanup.policy"] == ("compact" if compacted else "delete")
        assert ("retention.ms" in config) is not compacted
        if not compacted:
            assert config["retention.ms"] == 7 * 24 * 3600 * 1000
    table = yaml.safe_load((CHART / "files" / "topics.yaml").read_text())
    assert {n for n, t in table.items() if t["compacted"]} == set(COMPACTED_TOPICS)


def test_strimzi_before_1_0_gets_v1beta2_with_kraft_and_node_pools_turned_on() -> None:
    docs = render({"strimzi.enabled": "true", "strimzi.apiVersion": "kafka.strimzi.io/v1beta2"})
    (kafka,) = of_kind(docs, "Kafka").values()
    assert kafka["metadata"]["annotations"] == {
        "strimzi.io/node-pools": "enabled",
        "strimzi.io/kraft": "enabled",
    }
    strimzi = [d for d in docs if d["apiVersion"].startswith("kafka.strimzi.io/")]
    assert {d["apiVersion"] for d in strimzi} == {"kafka.strimzi.io/v1beta2"}
    assert {d["kind"] for d in strimzi} == {"Kafka", "KafkaNodePool", "KafkaTopic"}


def test_cnpg_cluster_is_what_the_services_connect_to(
    everything: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    (cluster,) = of_kind(everything, "Cluster").values()
    name = cluster["metadata"]["name"]
    assert cluster["spec"]["instances"] == 3
    initdb = cluster["spec"]["bootstrap"]["initdb"]
    for workload, deployment in deployments(everything).items():
        env = env_of(container(deployment), everything)
        settings = settings_from(env, WORKLOADS[workload][0], monkeypatch)
        assert settings.postgres.host == f"{name}-rw"
        assert (settings.postgres.database, settings.postgres.user) == (
            initdb["database"],
            initdb["owner"],
        )
        assert env["POSTGRES_PASSWORD"] == f"<{name}-app/password>"
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "crm-kafka-kafka-bootstrap:9092"
    # Enough connections for every pod KEDA may run (pool + overflow each) and more.
    pool = 2 * int(_values()["postgres"]["poolSize"])
    assert int(cluster["spec"]["postgresql"]["parameters"]["max_connections"]) >= pool * 20


def test_service_monitor_scrapes_every_service_with_the_metrics_token(
    everything: list[dict[str, Any]],
) -> None:
    (monitor,) = of_kind(everything, "ServiceMonitor").values()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("http", "/metrics")
    assert endpoint["authorization"] == {
        "type": "Bearer",
        "credentials": {"name": f"{RELEASE}-secrets", "key": "CRM_METRICS_TOKEN"},
    }
    selector = monitor["spec"]["selector"]["matchLabels"]
    for service in of_kind(everything, "Service").values():
        labels = service["metadata"]["labels"]
        assert selector.items() <= labels.items()
        assert "app.kubernetes.io/component" in labels
        assert [p["name"] for p in service["spec"]["ports"]] == ["http"]


def test_ingress_opens_only_the_public_doors(everything: list[dict[str, Any]]) -> None:
    (ingress,) = of_kind(everything, "Ingress").values()
    doors = {
        (rule["host"], path["path"], path["backend"]["service"]["name"])
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert doors == {
        ("crm.shop.example", "/", f"{RELEASE}-dashboard"),
        ("in.shop.example", "/webhooks", f"{RELEASE}-ingest-api"),
        ("in.shop.example", "/v1", f"{RELEASE}-ingest-api"),
        ("m.shop.example", "/t", f"{RELEASE}-messaging"),
        ("m.shop.example", "/v1/providers", f"{RELEASE}-messaging"),
    }


def _values() -> dict[str, Any]:
    return dict(yaml.safe_load((CHART / "values.yaml").read_text()))
