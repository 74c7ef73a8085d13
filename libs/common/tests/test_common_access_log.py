"""No access log: uvicorn writes one only when ``uvicorn.access`` has handlers (asked per
connection), and a line per request through the redacting formatter cost the webhook
front about a fifth of its CPU; uvicorn's own messages still reach the JSON log."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from crm_common.logging import configure_logging

NAMES = ("", "uvicorn", "uvicorn.error", "uvicorn.access")


@pytest.fixture
def restored_logging() -> Iterator[None]:
    saved = {
        n: (
            logging.getLogger(n).handlers[:],
            logging.getLogger(n).propagate,
            logging.getLogger(n).level,
        )
        for n in NAMES
    }
    yield
    for name, (handlers, propagate, level) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:], logger.propagate, logger.level = handlers, propagate, level


def test_uvicorn_access_log_is_off_and_its_errors_are_on(restored_logging: None) -> None:
    # As `uvicorn.run(access_log=False)` leaves it, before the app's lifespan runs.
    logging.getLogger("uvicorn.access").propagate = False
    configure_logging("ingest", "INFO")
    assert not logging.getLogger("uvicorn.access").hasHandlers()
    assert logging.getLogger("uvicorn.error").hasHandlers()
    assert logging.getLogger("crm_ingest.api").hasHandlers()
