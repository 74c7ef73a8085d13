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
        properties(
            node_id=1,
            port=port,
            controller_port=controller,
            voters=f"1@127.0.0.1:{controller}",
            data_dir=p.kafka_data,
            replication=1,
        )
    )


def properties(
    *, node_id: int, port: int, controller_port: int, voters: str, data_dir: Path, replication: int
) -> str:
    """One KRaft node (broker + controller) of a cluster whose quorum is ``voters``;
    ``replication`` sizes the internal topics (offsets, transactions) and, above 1,
    makes every topic need two in-sync replicas for an ``acks=all`` write."""
    min_isr = 2 if replication > 1 else 1
    lines = [
        "process.roles=broker,controller",
        f"node.id={node_id}",
        f"controller.quorum.voters={voters}",
        f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        f"log.dirs={data_dir}",
        "num.partitions=6",
        "auto.create.topics.enable=false",
        f"offsets.topic.replication.factor={replication}",
        "offsets.topic.num.partitions=12",
        f"transaction.state.log.replication.factor={replication}",
        f"transaction.state.log.min.isr={min_isr}",
        "group.initial.rebalance.delay.ms=0",
        "log.retention.hours=168",
        # Topics carry their own max.message.bytes (crm_common ensure_topics);
        # the broker default and replica fetches follow it.
        f"message.max.bytes={MAX_MESSAGE_BYTES + BATCH_HEADROOM_BYTES}",
        f"replica.fetch.max.bytes={MAX_MESSAGE_BYTES + BATCH_HEADROOM_BYTES}",
        "num.network.threads=2",
        "num.io.threads=4",
    ]
    if replication > 1:
        lines += [
            f"default.replication.factor={replication}",
            f"min.insync.replicas={min_isr}",
            # A replica that comes back must never lead with records it lacks.
            "unclean.leader.election.enable=false",
        ]
    return "\n".join([*lines, ""])


def _java(p: Paths, main: str, *args: str, heap_mb: int = 512) -> list[str]:
    return [
        "java",
        f"-Xms{heap_mb}m",
        f"-Xmx{heap_mb}m",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dlog4j.configuration=file:{p.log4j}",
        "-cp",
        f"{p.kafka_libs}/*",
        main,
        *args,
    ]


def random_cluster_id(p: Paths) -> str:
    return (
        subprocess.run(
            _java(p, "kafka.tools.StorageTool", "random-uuid"),
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )


def format_storage(p: Paths) -> None:
    if (p.kafka_data / "meta.properties").exists():
        return
    format_dir(p, random_cluster_id(p), p.kafka_config)


def format_dir(p: Paths, cluster_id: str, config: Path) -> None:
    """Format one node's log directory (named in ``config``) for ``cluster_id``."""
    subprocess.run(
        _java(p, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config)),
        check=True,
        capture_output=True,
        text=True,
    )


def command(p: Paths, config: Path, heap_mb: int = 512) -> list[str]:
    """The broker's command line for ``config``."""
    return _java(p, "kafka.Kafka", str(config), heap_mb=heap_mb)


def is_running(p: Paths) -> bool:
    return procs.live_process(procs.read_record(p.run, NAME)) is not None


def start(p: Paths, bootstrap: str) -> bool:
    """Start the broker unless ours already runs; True if this call started it."""
    if is_running(p):
        return False
    ensure_jars(p)
    write_config(p, bootstrap_port(bootstrap))
    format_storage(p)
    procs.spawn(p.run, NAME, command(p, p.kafka_config), p.logs / "kafka.log")
    return True


def ready(bootstrap: str) -> bool:
    """A metadata round trip succeeds (not just an open port)."""
    return asyncio.run(_probe(bootstrap))


async def _probe(bootstrap: str) -> bool:
    import logging

    from aiokafka.admin import AIOKafkaAdminClient

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # refusals while it boots

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.list_topics()
        return True
    except Exception:
        return False
    finally:
        await admin.close()


def stop(p: Paths) -> bool:
    return procs.stop(p.run, NAME, timeout=30)
