"""Apache Kafka from Maven Central jars, single-node KRaft (broker + controller)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from crm_common.settings import BATCH_HEADROOM_BYTES, MAX_MESSAGE_BYTES
from crm_localstack import procs
from crm_localstack.paths import Paths

KAFKA_VERSION = "3.9.1"
SCALA_VERSION = "2.13"
BROKER_JAR = f"kafka_{SCALA_VERSION}-{KAFKA_VERSION}.jar"
ARCHIVE_URL = (
    f"https://archive.apache.org/dist/kafka/{KAFKA_VERSION}/"
    f"kafka_{SCALA_VERSION}-{KAFKA_VERSION}.tgz"
)
NAME = "kafka"


def ensure_jars(p: Paths) -> None:
    """Fetch the broker's classpath once: Maven if present, else the release archive."""
    if (p.kafka_libs / BROKER_JAR).exists():
        return
    p.kafka_libs.mkdir(parents=True, exist_ok=True)
    if shutil.which("mvn"):
        print(f"fetching Apache Kafka {KAFKA_VERSION} jars from Maven Central ...", flush=True)
        subprocess.run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(p.kafka_pom),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={p.kafka_libs}",
                "-DincludeScope=runtime",
            ],
            check=True,
        )
    else:
        _from_archive(p.kafka_libs)


def _from_archive(libs: Path) -> None:
    print(f"mvn not found; downloading {ARCHIVE_URL}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "kafka.tgz"
        urllib.request.urlretrieve(ARCHIVE_URL, archive)
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                if "/libs/" in member.name and member.name.endswith(".jar"):
                    member.name = Path(member.name).name
                    tar.extract(member, libs, filter="data")


def bootstrap_port(bootstrap: str) -> int:
    return int(bootstrap.split(",")[0].rsplit(":", 1)[1])


def write_config(p: Paths, port: int) -> None:
    controller = port + 1
    p.kafka_config.parent.mkdir(parents=True, exist_ok=True)
    p.kafka_config.write_text(
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{controller}",
                f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                f"log.dirs={p.kafka_data}",
                "num.partitions=6",
                "auto.create.topics.enable=false",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=12",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "log.retention.hours=168",
                # Topics carry their own max.message.bytes (crm_common ensure_topics);
                # the broker default and replica fetches follow it.
                f"message.max.bytes={MAX_MESSAGE_BYTES + BATCH_HEADROOM_BYTES}",
                f"replica.fetch.max.bytes={MAX_MESSAGE_BYTES + BATCH_HEADROOM_BYTES}",
                "num.network.threads=2",
                "num.io.threads=4",
                "",
            ]
        )
    )


def _java(p: Paths, main: str, *args: str) -> list[str]:
    return [
        "java",
        "-Xms512m",
        "-Xmx512m",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dlog4j.configuration=file:{p.log4j}",
        "-cp",
        f"{p.kafka_libs}/*",
        main,
        *args,
    ]


def format_storage(p: Paths) -> None:
    if (p.kafka_data / "meta.properties").exists():
        return
    cluster_id = (
        subprocess.run(
            _java(p, "kafka.tools.StorageTool", "random-uuid"),
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    subprocess.run(
        _java(p, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(p.kafka_config)),
        check=True,
        capture_output=True,
        text=True,
    )


def is_running(p: Paths) -> bool:
    return procs.live_process(procs.read_record(p.run, NAME)) is not None


def start(p: Paths, bootstrap: str) -> bool:
    """Start the broker unless ours already runs; True if this call started it."""
    if is_running(p):
        return False
    ensure_jars(p)
    write_config(p, bootstrap_port(bootstrap))
    format_storage(p)
    procs.spawn(p.run, NAME, _java(p, "kafka.Kafka", str(p.kafka_config)), p.logs / "kafka.log")
    return True


def ready(bootstrap: str) -> bool:
    """A metadata round trip succeeds (not just an open port)."""
    import logging

    from aiokafka.admin import AIOKafkaAdminClient

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # refusals while it boots

    async def probe() -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
        try:
            await admin.start()
            await admin.list_topics()
            return True
        except Exception:
            return False
        finally:
            await admin.close()

    return asyncio.run(probe())


def stop(p: Paths) -> bool:
    return procs.stop(p.run, NAME, timeout=30)
