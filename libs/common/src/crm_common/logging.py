"""Structured JSON logging that never prints personal data or secrets.

Fields passed with ``extra=`` whose names suggest personal data or secrets are
replaced by ``[redacted]``; email addresses and phone numbers inside messages
and other values are masked as well, so a careless log line cannot leak them,
and so are the values that database and validation errors quote (SQLAlchemy's
``[parameters: ...]``, PostgreSQL's ``DETAIL: Key (email)=(...)`` and ``Failing
row contains (...)``, pydantic's ``input_value=...``). Dead letters run their
error text through the same :func:`scrub` (:mod:`crm_common.kafka._dlq`).
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

_SENSITIVE_KEYS = re.compile(
    r"(email|phone|address|postal|zip|name|kana|birthday|password|secret|token|api_key|"
    r"authorization|cookie|hmac|signature)",
    re.IGNORECASE,
)
_SAFE_KEYS = {"consumer", "topic", "service", "route", "tenant_id", "event_id", "name_of_job"}
# "@" also URL-encoded: request URLs (httpx's logs, access logs) carry query strings.
_EMAIL = re.compile(r"[\w.+%-]+(?:@|%40)[\w-]+(\.[\w-]+)+", re.IGNORECASE)
_PLUS = re.compile(r"%2B(?=\d)", re.IGNORECASE)
_PHONE = re.compile(r"(?<![\w])(\+?\d[\d\- ]{8,}\d)(?![\w])")
# Values quoted by errors, on one line each (a traceback goes on after them):
# (pattern, replacement keeping what says where, not what).
_QUOTED_VALUES = (
    (re.compile(r"\[parameters: [^\n]*"), "[parameters: redacted]"),
    (re.compile(r"(DETAIL:\s*(?:Key \([^)\n]*\)=)?)[^\n]*"), r"\1[redacted]"),
    (re.compile(r"Failing row contains [^\n]*"), "Failing row contains [redacted]"),
    (
        re.compile(r"input_value=[^\n]*?(?=, input_type=)|input_value=[^\n]*"),
        "input_value=[redacted]",
    ),
    (re.compile(r"(invalid input for query argument \$\d+:)[^\n]*"), r"\1 [redacted]"),
    (re.compile(r"(invalid input (?:syntax|value) for [^:\n]*:)[^\n]*"), r"\1 [redacted]"),
)
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def scrub(text: str) -> str:
    """Mask email addresses and phone-number-like digit runs in free text (URL-encoded
    ones too: ``%40`` for "@", ``%2B`` before an international number), and the values
    database and validation errors quote (names, addresses: no pattern finds those)."""
    for pattern, replacement in _QUOTED_VALUES:
        text = pattern.sub(replacement, text)
    text = _PLUS.sub("+", text)
    return _PHONE.sub("[phone]", _EMAIL.sub("[email]", text))


def _clean(key: str, value: Any) -> Any:
    if key not in _SAFE_KEYS and _SENSITIVE_KEYS.search(key):
        return "[redacted]"
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _clean(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(key, v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = _clean(key, value)
        if record.exc_info:
            entry["exc"] = scrub(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route every logger (uvicorn's included) through the JSON formatter on stderr;
    uvicorn's access log is off."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # No access log: a line per request through this formatter cost the webhook front
    # about a fifth of its CPU. uvicorn asks hasHandlers() per connection, so nothing is
    # even formatted; answer times per route and status are crm_http_request_seconds.
    access = logging.getLogger("uvicorn.access")
    access.handlers[:] = []
    access.propagate = False
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
    # One INFO line per outgoing request (with its query string) is noise, not an audit.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
