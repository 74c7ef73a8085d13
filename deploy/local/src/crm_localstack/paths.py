"""Where the local stack keeps its files (all under the repository's ``.local/``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def repo_root() -> Path:
    env = os.environ.get("CRM_HOME")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "uv.lock").exists() or (parent / ".git").exists():
            return parent
    return Path.cwd()


def _default_local(root: Path) -> Path:
    return Path(os.environ.get("CRM_LOCAL_DIR", root / ".local"))


@dataclass(frozen=True)
class Paths:
    root: Path
    # Where this stack keeps its data, logs and pid records; None: ``.local`` (or
    # CRM_LOCAL_DIR). The cluster (crm_localstack.cluster) uses its own folder.
    base: Path | None = None

    @property
    def local(self) -> Path:
        return self.base if self.base is not None else _default_local(self.root)

    @property
    def run(self) -> Path:
        return self.local / "run"

    @property
    def logs(self) -> Path:
        return self.local / "logs"

    @property
    def kafka_libs(self) -> Path:
        # One copy of the jars, shared by the single broker and the cluster's three.
        return _default_local(self.root) / "kafka" / "libs"

    @property
    def kafka_data(self) -> Path:
        return self.local / "kafka" / "data"

    @property
    def kafka_config(self) -> Path:
        return self.local / "kafka" / "server.properties"

    @property
    def kafka_pom(self) -> Path:
        return self.root / "deploy" / "local" / "kafka" / "pom.xml"

    @property
    def log4j(self) -> Path:
        return self.root / "deploy" / "local" / "log4j.properties"

    @property
    def pg_data(self) -> Path:
        return self.local / "postgres" / "data"

    def ensure(self) -> None:
        for folder in (self.run, self.logs, self.kafka_data.parent, self.pg_data.parent):
            folder.mkdir(parents=True, exist_ok=True)


def paths() -> Paths:
    return Paths(repo_root())
