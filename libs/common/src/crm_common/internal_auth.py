"""Internal calls: signed, short-lived, audience-bound tokens, and who may use which route.

The console (the dashboard service) is the only internal caller; services talk to
each other through topics. For every request it mints a token for the one service
it calls, naming the tenant, the signed-in user's role and whether the call is an
installation operator's, valid for :data:`TOKEN_SECONDS`::

    token = mint(keys["profile"], audience="profile", tenant_id="shop-1", role="viewer")
    grant = verify(token, settings.service.internal_key, audience="profile")

Keys are per audience (``CRM_INTERNAL_KEY_<SERVICE>``): a service holds only the key
that verifies tokens for itself; the console holds the four. A leaked service key
signs tokens for that one service, never another: the key differs, and the audience
is both a claim and the signature's salt, so a key reused by mistake still cannot
cross over. There is no shared master token any more.

Each service declares which role a route needs (:class:`RoutePolicy`): reads
``viewer``, writes ``marketer``, settings, keys and erasure ``admin``, and a route
can be closed to internal callers altogether (``None``). Tenant API keys are not
affected (a key acts as its own tenant, on every route of its service).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from itsdangerous import BadSignature, URLSafeSerializer
from pydantic import Field, SecretStr
from starlette.routing import compile_path

Role = Literal["viewer", "marketer", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
RANK: dict[str, int] = {role: rank for rank, role in enumerate(ROLES)}
AUDIENCES = ("ingest", "profile", "segment", "messaging")
ISSUERS = frozenset({"dashboard"})
PREFIX = "crmi1."
TOKEN_SECONDS = 60
MAX_TOKEN_SECONDS = 300  # a verifier refuses longer-lived tokens, whatever they claim
LEEWAY_SECONDS = 5  # clocks of two hosts differ a little
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


class InvalidToken(ValueError):
    """A token that does not grant anything (the message says why, no secret in it)."""


def dev_key(audience: str) -> str:
    """The published development key of ``audience`` (refused outside dev mode)."""
    return f"dev-internal-key-{audience}"


def key_variable(audience: str) -> str:
    """The environment variable holding the key that verifies ``audience``'s tokens."""
    return f"CRM_INTERNAL_KEY_{audience.upper()}"


def internal_key_field(audience: str) -> Any:
    """A settings field for ``audience``'s key (``CRM_INTERNAL_KEY_<AUDIENCE>``)."""
    return Field(default=SecretStr(dev_key(audience)), validation_alias=key_variable(audience))


@dataclass(frozen=True)
class Grant:
    """What a verified token allows: ``tenant_id`` None only for operator tokens."""

    audience: str
    issuer: str
    subject: str
    tenant_id: str | None
    role: Role
    operator: bool
    expires_at: int

    def at_least(self, role: Role) -> bool:
        return RANK[self.role] >= RANK[role]


def _serializer(key: SecretStr | str, audience: str) -> URLSafeSerializer:
    secret = key.get_secret_value() if isinstance(key, SecretStr) else key
    return URLSafeSerializer(
        secret,
        salt=f"crm-internal-token:{audience}",
        signer_kwargs={"digest_method": hashlib.sha256},
    )


def mint(
    key: SecretStr | str,
    *,
    audience: str,
    tenant_id: str | None,
    role: Role,
    operator: bool = False,
    subject: str = "",
    issuer: str = "dashboard",
    seconds: int = TOKEN_SECONDS,
    now: float | None = None,
) -> str:
    """A token for one call to ``audience`` (put it in ``Authorization: Bearer``)."""
    if tenant_id is None and not operator:
        raise ValueError("a token names a tenant unless it is an operator's")
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "tid": tenant_id,
        "role": role,
        "op": operator,
        "iat": issued,
        "exp": issued + seconds,
    }
    return PREFIX + str(_serializer(key, audience).dumps(claims))


def is_internal_token(presented: str) -> bool:
    return presented.startswith(PREFIX)


def verify(token: str, key: SecretStr | str, *, audience: str, now: float | None = None) -> Grant:
    """The grant of a token minted for ``audience`` with ``key``, or :class:`InvalidToken`."""
    if not is_internal_token(token):
        raise InvalidToken("not an internal token")
    try:
        claims = _serializer(key, audience).loads(token[len(PREFIX) :])
    except BadSignature:
        raise InvalidToken("bad signature (wrong key or another service's token)") from None
    if not isinstance(claims, dict):
        raise InvalidToken("malformed claims")
    return _grant(claims, audience, time.time() if now is None else now)


def _grant(claims: dict[str, Any], audience: str, now: float) -> Grant:
    try:
        grant = Grant(
            audience=str(claims["aud"]),
            issuer=str(claims["iss"]),
            subject=str(claims.get("sub") or ""),
            tenant_id=None if claims.get("tid") is None else str(claims["tid"]),
            role=claims["role"],
            operator=claims.get("op") is True,
            expires_at=int(claims["exp"]),
        )
        issued = int(claims["iat"])
    except (KeyError, TypeError, ValueError):
        raise InvalidToken("malformed claims") from None
    if grant.audience != audience:
        raise InvalidToken(f"token is for {grant.audience!r}, not {audience!r}")
    if grant.issuer not in ISSUERS:
        raise InvalidToken(f"unknown issuer {grant.issuer!r}")
    if grant.role not in RANK:
        raise InvalidToken(f"unknown role {grant.role!r}")
    if grant.tenant_id is None and not grant.operator:
        raise InvalidToken("token names no tenant")
    if grant.expires_at - issued > MAX_TOKEN_SECONDS or issued > now + LEEWAY_SECONDS:
        raise InvalidToken("token lifetime out of bounds")
    if grant.expires_at + LEEWAY_SECONDS < now:
        raise InvalidToken("token expired")
    return grant


@dataclass(frozen=True)
class RoutePolicy:
    """The least role an internal token needs per route; ``None``: closed to internal
    callers. ``routes`` keys are ``"METHOD /route/{template}"``, matched against the
    request's path (not the router's idea of it: included routers keep their own)."""

    reads: Role | None = "viewer"
    writes: Role | None = "marketer"
    routes: Mapping[str, Role | None] = field(default_factory=dict)
    _compiled: tuple[tuple[str, re.Pattern[str], Role | None], ...] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        compiled = []
        for route, role in self.routes.items():
            method, _, template = route.partition(" ")
            compiled.append((method.upper(), compile_path(template)[0], role))
        object.__setattr__(self, "_compiled", tuple(compiled))

    def required(self, method: str, path: str) -> Role | None:
        """The least role for ``method`` on the concrete ``path`` (None: closed)."""
        method = method.upper()
        for declared, pattern, role in self._compiled:
            if declared == method and pattern.match(path):
                return role
        return self.reads if method in _READS else self.writes

    def refusal(self, grant: Grant, method: str, path: str) -> str | None:
        """None when ``grant`` may call the route; else why not."""
        needed = self.required(method, path)
        if needed is None:
            return f"{method.upper()} {path} is not open to internal callers"
        if not grant.at_least(needed):
            return f"{method.upper()} {path} needs role {needed}, the token has {grant.role}"
        return None
