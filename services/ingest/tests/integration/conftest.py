"""Fixtures of the ingest integration tests (helpers live in ingest_it.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest_it import ADMIN_TOKEN, ServiceProcess, run_service


@pytest.fixture(scope="module")
def ingest(infra: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    spool = tmp_path_factory.mktemp("spool")
    env = {
        "INGEST_ADMIN_TOKEN": ADMIN_TOKEN,
        "INGEST_IMPORT_SPOOL_DIR": str(spool),
        "INGEST_IMPORT_STALE_SECONDS": "3",
    }
    with run_service("ingest", infra, env) as svc:
        yield svc
