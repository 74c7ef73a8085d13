"""Domain and handler errors -> the one API error shape, in one place."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from crm_common.errors import ApiError
from crm_segment.domain.errors import DefinitionError
from crm_segment.domain.limits import LimitExceededError
from crm_segment.domain.templates import UnknownTemplateError
from crm_segment.handlers.errors import (
    InvalidSegmentError,
    SegmentConflictError,
    SegmentNotFoundError,
)
from crm_segment.repository.timeouts import QueryTimeoutError


def as_api_error(exc: Exception) -> ApiError | None:
    match exc:
        case LimitExceededError():
            return ApiError(422, "limit_exceeded", str(exc), [exc.problem.as_detail()])
        case DefinitionError():
            details = [{"path": path, "message": message} for path, message in exc.errors]
            return ApiError(422, "invalid_definition", str(exc), details)
        case InvalidSegmentError():
            return ApiError(
                422, "invalid_request", str(exc), [{"path": exc.path, "message": str(exc)}]
            )
        case SegmentNotFoundError():
            return ApiError(404, "not_found", str(exc))
        case UnknownTemplateError():
            return ApiError(404, "not_found", f"no template {exc.args[0]!r}")
        case SegmentConflictError():
            return ApiError(409, exc.code, str(exc), exc.details)
        case QueryTimeoutError():
            detail = {"path": "", "message": str(exc), "limit": exc.setting, "max": exc.seconds}
            return ApiError(503, "query_timeout", str(exc), [detail])
    return None


@asynccontextmanager
async def mapped_errors() -> AsyncIterator[None]:
    """Re-raise the known errors of a handler as ApiError."""
    try:
        yield
    except (
        DefinitionError,
        InvalidSegmentError,
        SegmentNotFoundError,
        UnknownTemplateError,
        SegmentConflictError,
        QueryTimeoutError,
    ) as exc:
        api_error = as_api_error(exc)
        assert api_error is not None
        raise api_error from None
