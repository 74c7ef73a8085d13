"""Spool files of CSV imports hold customers' personal data: they are private (0600 in a
0700 directory), live only while an import may read them, and the upload that writes
them is capped whatever its framing (a chunked multipart body too)."""

from __future__ import annotations

import asyncio
import os
import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from ingest_it import ADMIN_TOKEN, create_tenant, run_service
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

pytestmark = pytest.mark.infra

CAP = 256 * 1024
BOUNDARY = "crm-test-boundary"
HEADER = "会員ID,メールアドレス,姓,名\n"


def _auth(tenant: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant['api_key']}"}


def _rows(count: int, start: int = 0) -> bytes:
    return "".join(
        f"S{i},spool{i}@example.jp,山田,太郎\n" for i in range(start, start + count)
    ).encode()


def _chunked_multipart(rows: int) -> Iterator[bytes]:
    """A multipart/form-data body sent with Transfer-Encoding: chunked (no length)."""
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="customers.csv"\r\nContent-Type: text/csv\r\n\r\n'
    ).encode()
    yield HEADER.encode()
    for start in range(0, rows, 500):
        yield _rows(min(500, rows - start), start)
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def _post_chunked(url: str, tenant: dict[str, Any], rows: int) -> httpx.Response:
    headers = {**_auth(tenant), "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    return httpx.post(
        f"{url}/v1/imports?kind=customers",
        content=_chunked_multipart(rows),
        headers=headers,
        timeout=60,
    )


async def _finished(url: str, tenant: dict[str, Any], import_id: str, timeout: float = 60) -> Any:
    deadline, body = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        body = httpx.get(f"{url}/v1/imports/{import_id}", headers=_auth(tenant), timeout=30).json()
        if body["status"] in ("completed", "failed"):
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"import {import_id} not finished: {body}")


async def _until(condition: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.2)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _env(spool: Path, **extra: str) -> dict[str, str]:
    return {"INGEST_ADMIN_TOKEN": ADMIN_TOKEN, "INGEST_IMPORT_SPOOL_DIR": str(spool), **extra}


async def test_a_chunked_multipart_upload_counts_against_the_import_cap(infra, tmp_path) -> None:
    spool = tmp_path / "spool"
    env = _env(spool, INGEST_MAX_IMPORT_BYTES=str(CAP))
    with run_service("ingest", infra, env) as svc:
        tenant = create_tenant(svc.url)

        over = _post_chunked(svc.url, tenant, rows=40_000)  # about 1.3 MB, no Content-Length
        within = _post_chunked(svc.url, tenant, rows=300)

        assert over.request.headers.get("transfer-encoding") == "chunked"
        assert "content-length" not in over.request.headers
        assert over.status_code == 413, over.text
        assert over.json()["error"] == {
            "code": "payload_too_large",
            "message": f"request body over {CAP} bytes",
            "details": [],
        }
        assert within.status_code == 202, within.text
        report = await _finished(svc.url, tenant, within.json()["import_id"])
        assert (report["status"], report["progress"]["accepted"]) == ("completed", 300)
        await _until(lambda: not any(spool.iterdir()), "the refused upload left no spool file")


async def _insert_finished_import(infra: Any, tenant_id: str, path: Path) -> str:
    import_id = path.stem
    engine = create_async_engine(infra.pg_url())
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO ingest.imports (import_id, tenant_id, kind, source, spool_path, "
                    "status, finished_at) VALUES (:i, :t, 'customers', 'csv', :p, 'failed', now())"
                ),
                {"i": import_id, "t": tenant_id, "p": str(path)},
            )
    finally:
        await engine.dispose()
    return import_id


def _spool_file(spool: Path, age_seconds: float = 0) -> Path:
    path = spool / f"imp_{uuid.uuid4().hex}.csv"
    path.write_bytes(HEADER.encode() + _rows(1))
    if age_seconds:
        then = time.time() - age_seconds
        os.utime(path, (then, then))
    return path


async def test_spool_files_are_private_and_deleted_once_no_import_needs_them(
    infra, tmp_path
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir(mode=0o755)  # as an older version left it
    spool.chmod(0o755)
    with run_service("ingest", infra, _env(spool, INGEST_ROLE="api")) as front:
        tenant = create_tenant(front.url)
        # What crashes left behind: an upload cut off two hours ago before it was
        # recorded, the file of an import that failed, and an upload still arriving.
        cut_off = _spool_file(spool, age_seconds=2 * 3600)
        leftover = _spool_file(spool)
        await _insert_finished_import(infra, tenant["tenant_id"], leftover)
        arriving = _spool_file(spool)

        good = httpx.post(
            f"{front.url}/v1/imports?kind=customers",
            files={"file": ("customers.csv", HEADER.encode() + _rows(20), "text/csv")},
            headers=_auth(tenant),
        )
        bad = httpx.post(  # no column the importer knows: the import fails
            f"{front.url}/v1/imports?kind=customers",
            content=b"foo,bar\n1,2\n",
            headers=_auth(tenant),
        )
        assert (good.status_code, bad.status_code) == (202, 202)
        queued = {spool / f"{r.json()['import_id']}.csv" for r in (good, bad)}
        # Queued (no worker yet): the files wait, readable by this user only.
        assert _mode(spool) == 0o700
        assert {path: _mode(path) for path in queued} == dict.fromkeys(queued, 0o600)

        with run_service("ingest", infra, _env(spool, INGEST_ROLE="worker")):
            reports = [
                await _finished(front.url, tenant, r.json()["import_id"]) for r in (good, bad)
            ]
            assert [r["status"] for r in reports] == ["completed", "failed"]
            assert reports[1]["error"].startswith("header: ")
            await _until(
                lambda: set(spool.iterdir()) == {arriving}, f"spool holds {list(spool.iterdir())}"
            )
    assert not cut_off.exists() and not leftover.exists()
