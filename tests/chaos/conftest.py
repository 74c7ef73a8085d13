"""The fault run needs the whole machine for a few minutes: it runs after every other
test of the session (its own cluster on its own ports, so the run's shared broker and
database are never touched)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    chaos = [item for item in items if "tests/chaos/" in item.nodeid]
    if chaos:
        rest = [item for item in items if "tests/chaos/" not in item.nodeid]
        items[:] = rest + chaos
