"""Refusing to run with secrets anyone can guess.

Every service names the secrets it holds (:meth:`ServiceSettings.secrets`, by
environment variable). Outside an explicit dev mode (``CRM_DEV_MODE=1``, which the
tests and ``make bench`` set), ``serve`` refuses to start when one is missing, is
one of the defaults that ship in this repository, or is shorter than
:data:`MIN_LENGTH`, and names the variable. ``make up`` generates random ones once
(``crm-stack secrets``, into ``.local/secrets.env``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import SecretStr

from crm_common.internal_auth import AUDIENCES, dev_key

DEV_MODE_VARIABLE = "CRM_DEV_MODE"
MIN_LENGTH = 24

KNOWN_DEFAULTS = frozenset(
    {
        "dev-service-token",
        *(dev_key(audience) for audience in AUDIENCES),
        "dev-admin-token",
        "dev-dashboard-session-secret",
        "dev-ingest-secrets-key",
        "change-me",
        "changeme",
        "secret",
        "postgres",
    }
)
"""Values published in this repository (defaults, examples): never secret."""


class UnsafeSecrets(RuntimeError):
    """Secrets a service must not start with; the message names every variable."""


def dev_mode(environ: Mapping[str, str] | None = None) -> bool:
    """True when ``CRM_DEV_MODE`` is set to 1/true/yes (local development, tests)."""
    value = (environ if environ is not None else os.environ).get(DEV_MODE_VARIABLE, "")
    return value.strip().lower() in {"1", "true", "yes"}


def problems(secrets: Mapping[str, SecretStr | None]) -> list[str]:
    """What is wrong with each secret, as ``VARIABLE: why`` (empty when all are sound)."""
    found = []
    for variable, secret in sorted(secrets.items()):
        value = secret.get_secret_value() if secret is not None else ""
        if not value:
            found.append(f"{variable}: missing")
        elif value in KNOWN_DEFAULTS:
            found.append(f"{variable}: the published default {value!r}")
        elif len(value) < MIN_LENGTH:
            found.append(f"{variable}: shorter than {MIN_LENGTH} characters")
    return found


def check_secrets(
    secrets: Mapping[str, SecretStr | None], environ: Mapping[str, str] | None = None
) -> None:
    """Raise :class:`UnsafeSecrets` unless every secret is sound or dev mode is on."""
    if dev_mode(environ):
        return
    found = problems(secrets)
    if found:
        raise UnsafeSecrets(
            "refusing to start with unsafe secrets (set them, e.g. from `make up`'s "
            f".local/secrets.env, or set {DEV_MODE_VARIABLE}=1 for local development): "
            + "; ".join(found)
        )
