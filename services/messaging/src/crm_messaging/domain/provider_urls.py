"""Where a tenant may point its SMS and LINE provider accounts (no SSRF).

A tenant's ``base_url`` is called by the service with the tenant's credentials and
its answer shows in the send log, so an arbitrary URL would let a tenant probe the
service's own network (``http://127.0.0.1:5432``, a cloud metadata address). A
tenant URL must be ``https`` to one of the hosts the operator allows
(``MESSAGING_PROVIDER_HOSTS``, by default the public Twilio and LINE APIs), on the
default port, without credentials in it. The operator's own
``MESSAGING_SMS_API_URL`` / ``MESSAGING_LINE_API_URL`` are trusted as they are.
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urlsplit


def provider_url_problem(url: str, allowed_hosts: Collection[str]) -> str | None:
    """Why ``url`` may not be called for a tenant, or None when it may."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "not a URL"
    host = (parts.hostname or "").lower()
    if parts.scheme != "https":
        return "must be an https URL"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials"
    if port not in (None, 443):
        return "must use the default https port"
    if host not in {h.lower() for h in allowed_hosts}:
        return f"host {host!r} is not an allowed provider host ({', '.join(sorted(allowed_hosts))})"
    return None
