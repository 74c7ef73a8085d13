"""The segment service's FastAPI app."""

from __future__ import annotations

from fastapi import FastAPI

from crm_common.service import create_service_app
from crm_segment.config import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_service_app(
        settings=settings,
        service=settings.service,
        title="CRM segment",
    )
