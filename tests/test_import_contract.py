"""The import contract (CONTRIBUTING.md) holds, and `make lint` fails when it is broken.

`ruff check .` reads the nearest ruff.toml of every file: ``services/<svc>/src/ruff.toml``
bans the other services' packages, ``services/<svc>/src/crm_<svc>/domain/ruff.toml`` bans
I/O on top, ``libs/common/src/ruff.toml`` keeps crm_common free of services. These tests
feed ruff probe modules named as if they lived there (``--stdin-filename``, nothing is
written into the tree) and check it reports exactly the banned imports.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("ingest", "profile", "segment", "messaging", "dashboard")
DOMAINS = sorted(p.relative_to(ROOT) for p in ROOT.glob("services/*/src/crm_*/domain"))
CONTRACT = {"TID251", "TID252"}


def _ruff(filename: str, source: str) -> list[tuple[int, str, str]]:
    """(line, code, message) of every contract violation ruff finds in ``source``."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--no-cache",
            "--output-format",
            "json",
            "--stdin-filename",
            filename,
            "-",
        ],
        input=source,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    found = json.loads(done.stdout)
    return sorted(
        (f["location"]["row"], f["code"], f["message"]) for f in found if f["code"] in CONTRACT
    )


def _service_of(domain: Path) -> str:
    return domain.parts[1]


@pytest.mark.parametrize("domain", DOMAINS, ids=str)
def test_ruff_reports_io_imported_by_a_domain_module(domain: Path) -> None:
    svc = _service_of(domain)
    other = next(s for s in SERVICES if s != svc)
    probe = "\n".join(
        [
            "import sqlalchemy",  # 1
            "from aiokafka import AIOKafkaConsumer",  # 2
            "from crm_common.db import Database",  # 3
            f"from crm_{svc}.repository import anything",  # 4
            "from ..handlers import anything_else",  # 5
            f"import crm_{other}.domain",  # 6
            "from crm_common.clock import clock_from_env",  # 7
            "",
            "",
            "def late() -> None:",
            "    import httpx",  # 11: an import inside a function is no way round
            "",
        ]
    )
    found = _ruff(str(domain / "contract_probe.py"), probe)
    assert [(line, code) for line, code, _ in found] == [
        (1, "TID251"),
        (2, "TID251"),
        (3, "TID251"),
        (4, "TID251"),
        (5, "TID251"),  # ruff resolves the relative import to crm_<svc>.handlers
        (5, "TID252"),
        (6, "TID251"),
        (7, "TID251"),
        (11, "TID251"),
    ]
    assert "`sqlalchemy` is banned: domain/ does no I/O" in found[0][2]
    assert f"`crm_{svc}.repository` is banned" in found[3][2]
    assert f"`crm_{svc}.handlers` is banned" in found[4][2]
    assert f"`crm_{other}` is banned: crm_{svc} imports crm_common only" in found[6][2]


@pytest.mark.parametrize("domain", DOMAINS, ids=str)
def test_a_pure_domain_module_passes(domain: Path) -> None:
    svc = _service_of(domain)
    sibling = sorted(p.stem for p in (ROOT / domain).glob("*.py") if p.stem != "__init__")[0]
    probe = (
        "from decimal import Decimal\n"
        "from pydantic import BaseModel\n"
        "from crm_common.clock import Clock\n"
        "from crm_common.events import Frozen\n"
        "from crm_common.normalize import normalize_email\n"
        f"from crm_{svc}.domain import {sibling}\n"
    )
    assert _ruff(str(domain / "contract_probe.py"), probe) == []


@pytest.mark.parametrize("svc", SERVICES)
def test_ruff_reports_a_service_importing_another(svc: str) -> None:
    others = [s for s in SERVICES if s != svc]
    probe = "".join(f"import crm_{o}.config\n" for o in others) + "import crm_localstack\n"
    probe += f"from crm_common.db import Database\nfrom crm_{svc}.config import Settings\n"
    found = _ruff(f"services/{svc}/src/crm_{svc}/contract_probe.py", probe)
    assert [(line, code) for line, code, _ in found] == [
        (n, "TID251") for n in range(1, len(others) + 2)
    ]
    assert f"`crm_{others[0]}` is banned: crm_{svc} imports crm_common only" in found[0][2]


def test_ruff_reports_crm_common_importing_a_service() -> None:
    found = _ruff("libs/common/src/crm_common/contract_probe.py", "import crm_profile.config\n")
    assert [(line, code) for line, code, _ in found] == [(1, "TID251")]


def test_root_tests_and_bench_may_drive_several_services() -> None:
    probe = "import crm_ingest.config\nimport crm_profile.config\nimport sqlalchemy\n"
    assert _ruff("tests/contract_probe.py", probe) == []
    assert _ruff("bench/contract_probe.py", probe) == []


def test_every_service_and_domain_is_under_the_contract() -> None:
    """A new domain/ package gets its ruff.toml, which repeats its service's bans."""
    for svc in SERVICES:
        assert (ROOT / f"services/{svc}/src/ruff.toml").is_file(), svc
    assert (ROOT / "libs/common/src/ruff.toml").is_file()
    assert {_service_of(d) for d in DOMAINS} >= {"ingest", "profile", "segment", "messaging"}
    for domain in DOMAINS:
        config = tomllib.loads((ROOT / domain / "ruff.toml").read_text())
        service = tomllib.loads((ROOT / domain.parents[1] / "ruff.toml").read_text())
        assert config["extend"] == "../../ruff.toml", domain
        bans = config["lint"]["flake8-tidy-imports"]["banned-api"]
        assert set(service["lint"]["flake8-tidy-imports"]["banned-api"]) <= set(bans), domain


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


@pytest.mark.parametrize("domain", DOMAINS, ids=str)
def test_domain_imports_nothing_of_its_service_but_domain(domain: Path) -> None:
    """Backstop for modules added after the ruff.toml was written (ruff bans by name)."""
    own = f"crm_{_service_of(domain)}"
    wrong = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in sorted((ROOT / domain).rglob("*.py"))
        for name in _imports(path)
        if name.split(".")[0] == own and not name.startswith(f"{own}.domain")
    ]
    assert wrong == []


def test_the_tree_keeps_the_contract() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--no-cache",
            "--output-format",
            "json",
            "services",
            "libs",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    found = json.loads(done.stdout)
    assert [
        f"{f['filename']}:{f['location']['row']} {f['message']}"
        for f in found
        if f["code"] in CONTRACT
    ] == []
