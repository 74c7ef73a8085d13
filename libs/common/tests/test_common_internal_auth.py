"""Internal tokens (issue 12, item 1): signed, short-lived, bound to one service."""

from __future__ import annotations

import pytest
from itsdangerous import URLSafeSerializer
from pydantic import SecretStr

from crm_common.internal_auth import (
    MAX_TOKEN_SECONDS,
    InvalidToken,
    RoutePolicy,
    mint,
    verify,
)

PROFILE_KEY, SEGMENT_KEY = SecretStr("p" * 40), SecretStr("s" * 40)
NOW = 1_800_000_000.0


def _token(**claims: object) -> str:
    values: dict[str, object] = {
        "audience": "profile",
        "tenant_id": "shop-1",
        "role": "viewer",
        "now": NOW,
    }
    return mint(PROFILE_KEY, **(values | claims))  # type: ignore[arg-type]


def test_a_token_names_its_service_tenant_role_and_expiry() -> None:
    grant = verify(_token(subject="usr_1"), PROFILE_KEY, audience="profile", now=NOW + 30)
    assert (grant.audience, grant.tenant_id, grant.role, grant.operator) == (
        "profile",
        "shop-1",
        "viewer",
        False,
    )
    assert (grant.issuer, grant.subject, grant.expires_at) == ("dashboard", "usr_1", NOW + 60)


def test_a_token_for_profile_is_refused_by_segment_with_its_key_or_with_profiles() -> None:
    token = _token()
    with pytest.raises(InvalidToken, match="signature"):
        verify(token, SEGMENT_KEY, audience="segment", now=NOW)
    # Even a key shared by mistake: the audience salts the signature.
    with pytest.raises(InvalidToken, match="signature"):
        verify(token, PROFILE_KEY, audience="segment", now=NOW)


def test_an_expired_or_overlong_or_future_token_is_refused() -> None:
    with pytest.raises(InvalidToken, match="expired"):
        verify(_token(), PROFILE_KEY, audience="profile", now=NOW + 60 + 6)
    with pytest.raises(InvalidToken, match="lifetime"):
        verify(_token(seconds=MAX_TOKEN_SECONDS + 1), PROFILE_KEY, audience="profile", now=NOW)
    with pytest.raises(InvalidToken, match="lifetime"):
        verify(_token(now=NOW + 600), PROFILE_KEY, audience="profile", now=NOW)


def test_a_changed_claim_breaks_the_signature() -> None:
    token = _token()
    genuine = URLSafeSerializer("any").loads_unsafe(token.removeprefix("crmi1."))[1]
    signature = token.rpartition(".")[2]
    payload = URLSafeSerializer("any").dump_payload(genuine | {"role": "admin"}).decode()
    forged = f"crmi1.{payload}.{signature}"  # the viewer's signature on admin claims
    with pytest.raises(InvalidToken, match="signature"):
        verify(forged, PROFILE_KEY, audience="profile", now=NOW)
    with pytest.raises(InvalidToken):
        verify("dev-service-token", PROFILE_KEY, audience="profile", now=NOW)


def test_a_token_names_a_tenant_unless_it_is_an_operators() -> None:
    with pytest.raises(ValueError):
        _token(tenant_id=None)
    grant = verify(_token(tenant_id=None, operator=True), PROFILE_KEY, audience="profile", now=NOW)
    assert grant.tenant_id is None and grant.operator


def test_route_policy_reads_for_viewers_writes_for_marketers_and_declared_exceptions() -> None:
    policy = RoutePolicy(
        routes={"PUT /v1/settings": "admin", "POST /v1/x/preview": "viewer", "GET /v1/raw": None}
    )
    viewer = verify(_token(), PROFILE_KEY, audience="profile", now=NOW)
    marketer = verify(_token(role="marketer"), PROFILE_KEY, audience="profile", now=NOW)
    admin = verify(_token(role="admin"), PROFILE_KEY, audience="profile", now=NOW)
    assert policy.refusal(viewer, "GET", "/v1/things/{id}") is None
    assert policy.refusal(viewer, "POST", "/v1/x/preview") is None
    assert policy.refusal(viewer, "POST", "/v1/things") == (
        "POST /v1/things needs role marketer, the token has viewer"
    )
    assert policy.refusal(marketer, "DELETE", "/v1/things/{id}") is None
    assert policy.refusal(marketer, "PUT", "/v1/settings") is not None
    assert policy.refusal(admin, "PUT", "/v1/settings") is None
    assert policy.refusal(admin, "GET", "/v1/raw") == "GET /v1/raw is not open to internal callers"
    closed = RoutePolicy(reads=None, writes=None)
    assert closed.refusal(admin, "POST", "/v1/events") is not None
