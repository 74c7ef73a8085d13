"""The webhook front's per-request path: nothing is logged per ignored webhook."""

from __future__ import annotations

import logging

import pytest

from crm_ingest.handlers import webhooks


def test_ignored_topics_are_logged_once_a_minute_per_topic(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    now = [1000.0]
    monkeypatch.setattr(webhooks.time, "monotonic", lambda: now[0])
    sampled = webhooks._SampledLog(every=60.0)
    with caplog.at_level(logging.WARNING, logger=webhooks.log.name):
        for _ in range(500):
            sampled.note("products/update", "t_1")
        sampled.note("themes/publish", "t_1")
        now[0] += 61
        sampled.note("products/update", "t_1")
    lines = [(r.topic, r.not_logged_since) for r in caplog.records]  # type: ignore[attr-defined]
    assert lines == [("products/update", 0), ("themes/publish", 0), ("products/update", 499)]
