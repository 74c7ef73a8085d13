"""CSV imports (tenant API key): upload streams to a spool file, a background worker
maps it; ``GET`` shows progress and the rejected rows (paginated).

``preset`` names the cart export the file is (``eccube4``, ``futureshop``,
``makeshop``: :mod:`crm_ingest.domain.csv_presets`), chosen by the uploader, never
guessed from the header; ``GET /v1/imports/presets`` lists them. A preset's platform
is the import's source unless ``source`` (or ``X-Cart-Platform``) says otherwise, so
an order imported from EC-CUBE's CSV and the same order sent live through the
generic API as ``ec-cube`` are one order."""

from __future__ import annotations

import uuid
from contextlib import aclosing
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import ORJSONResponse
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from crm_common.errors import ApiError
from crm_common.inputs import INT64_MAX
from crm_ingest.api.body import limited_chunks
from crm_ingest.api.deps import CallerDep, Ctx
from crm_ingest.api.events import platform_source
from crm_ingest.csvfile import canonical_encoding, create_private, private_dir
from crm_ingest.domain import RowKind
from crm_ingest.domain.csv_presets import Preset, UnknownPreset, preset_for, presets
from crm_ingest.handlers.errors import NotFound
from crm_ingest.repository import imports as repo

router = APIRouter(prefix="/v1/imports", tags=["imports"])

_COPY_CHUNK = 1024 * 1024


@router.post("", status_code=202, summary="Upload a customers or orders CSV")
async def create_import(
    request: Request,
    ctx: Ctx,
    caller: CallerDep,
    kind: RowKind = Query(...),
    encoding: str | None = Query(None, description="utf-8 or shift_jis; detected if omitted"),
    preset: str | None = Query(
        None,
        max_length=40,
        description="the cart export the file is (GET /v1/imports/presets), e.g. eccube4",
    ),
) -> ORJSONResponse:
    codec = _codec(encoding)
    chosen = _preset(preset, kind)
    default = chosen.platform if chosen is not None else "csv"
    source = platform_source(request, {"source": request.query_params.get("source", default)})
    import_id = f"imp_{uuid.uuid4().hex}"
    path = private_dir(ctx.settings.service.import_spool_dir) / f"{import_id}.csv"
    try:
        size = await _spool(request, path, ctx.settings.service.max_import_bytes)
        async with ctx.db.transaction() as session:
            await repo.create_import(
                session,
                import_id=import_id,
                tenant_id=caller.tenant_id,
                kind=kind.value,
                source=source,
                encoding=codec,
                preset=chosen.name if chosen is not None else None,
                spool_path=str(path),
            )
    except BaseException:  # refused, cut off or not recorded: nobody will read the file
        path.unlink(missing_ok=True)
        raise
    if ctx.settings.service.role == "all":
        ctx.imports.submit(import_id)  # else a worker process claims it (start_queued)
    body = {"import_id": import_id, "status": "queued", "bytes": size}
    return ORJSONResponse(body, status_code=202)


@router.get("/presets", summary="The cart exports an import can read as they are")
async def list_presets(_caller: CallerDep) -> dict[str, Any]:
    return {"presets": [p.summary() for p in presets()]}


@router.get("/{import_id}", summary="Progress and rejected rows of an import")
async def get_import(
    import_id: str,
    ctx: Ctx,
    caller: CallerDep,
    offset: int = Query(0, ge=0, le=INT64_MAX),  # a bigint OFFSET (2**63 was a 500)
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    async with ctx.db.transaction() as session:
        row = await repo.get_import(session, caller.tenant_id, import_id)
        if row is None:
            raise NotFound(f"unknown import {import_id!r}")
        rejected = await repo.rejections(session, import_id, offset, limit)
    return {
        "import_id": row.import_id,
        "kind": row.kind,
        "source": row.source,
        "preset": row.preset,
        "encoding": row.encoding,
        "status": row.status,
        "error": row.error,
        "progress": {
            "rows_read": row.rows_read,
            "accepted": row.accepted,
            "rejected": row.rejected,
            "duplicates": row.duplicates,
            "events": row.events,
        },
        "created_at": row.created_at,
        "finished_at": row.finished_at,
        "rejected_rows": {
            "offset": offset,
            "limit": limit,
            "total": row.rejected,
            "items": [{"line": r.line, "reason": r.reason} for r in rejected],
        },
    }


def _preset(name: str | None, kind: RowKind) -> Preset | None:
    if not name:
        return None
    try:
        return preset_for(name, kind)
    except UnknownPreset as exc:
        detail = [{"path": "preset", "message": str(exc)}]
        raise ApiError(422, "invalid_request", f"preset: {exc}", detail) from exc


def _codec(encoding: str | None) -> str | None:
    if encoding is None:
        return None
    try:
        return canonical_encoding(encoding)
    except ValueError as exc:
        detail = [{"path": "encoding", "message": str(exc)}]
        raise ApiError(422, "invalid_request", f"encoding: {exc}", detail) from exc


async def _spool(request: Request, path: Path, limit: int) -> int:
    """Write the upload to ``path`` chunk by chunk (multipart ``file`` part or raw body).

    Every byte received counts against ``limit``, whatever the framing: a declared
    ``Content-Length`` over it is refused before reading, a chunked body (multipart
    or raw) as soon as the limit is passed (413 with the limit)."""
    size = 0
    with create_private(path) as out:
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            upload = await _multipart_file(request, limit)
            try:
                while chunk := await upload.read(_COPY_CHUNK):
                    size += len(chunk)
                    out.write(chunk)
            finally:
                await upload.close()
        else:
            async for chunk in limited_chunks(request, limit):
                size += len(chunk)
                out.write(chunk)
    if size == 0:
        raise ApiError(422, "invalid_request", "file: the upload is empty")
    return size


async def _multipart_file(request: Request, limit: int) -> UploadFile:
    """The ``file`` part, parsed from the size-limited body stream (starlette's own
    ``request.form()`` reads the whole stream, however long)."""
    async with aclosing(limited_chunks(request, limit)) as chunks:
        try:
            form = await MultiPartParser(request.headers, chunks, max_files=1).parse()
        except MultiPartException as exc:
            raise ApiError(400, "bad_request", f"multipart body: {exc.message}") from exc
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        await form.close()
        raise ApiError(422, "invalid_request", "file: multipart part 'file' is required")
    return upload
