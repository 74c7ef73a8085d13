"""Webhook secrets sealed at rest: AES-256-GCM under keys from ``INGEST_SECRETS_KEY``.

``INGEST_SECRETS_KEY`` holds one key or several, comma-separated, newest first: the
newest seals, every one opens. To rotate, put a new key in front and restart; the
worker reseals every secret under the newest key (:func:`crm_ingest.handlers.tenants.
reseal_secrets`) and logs when it is done, after which the old key can be dropped.
A key is any random string of at least 24 characters (``openssl rand -base64 32``):
the AES key is derived from it with HKDF-SHA256.

A sealed value is ``v1.<key id>.<base64url(nonce | ciphertext and tag)>``. The key
id (the first 8 bytes of an HMAC of the derived key, in hex: it names the key without
telling anything about it) picks the key that opens it, so nothing is decrypted by
trial. The associated data is the row the value belongs to (tenant id and secret id):
a sealed secret copied into another tenant's row does not open, so write access to
the database is not enough to plant a secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v1"
_NONCE_BYTES = 12
_INFO = b"crm-ingest webhook secrets v1"


class SealError(ValueError):
    """A sealed value that cannot be opened (unknown key, altered, another row's)."""


@dataclass(frozen=True)
class _Key:
    key_id: str
    aead: AESGCM


def _derive(secret: str) -> _Key:
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret.encode())
    key_id = hmac.new(raw, b"key id", hashlib.sha256).hexdigest()[:16]
    return _Key(key_id, AESGCM(raw))


class SecretBox:
    """Seals with the newest key, opens with whichever key sealed."""

    def __init__(self, secrets: Sequence[str]) -> None:
        keys = [_derive(s) for s in secrets if s]
        if not keys:
            raise ValueError("INGEST_SECRETS_KEY: at least one key is needed")
        self._newest = keys[0]
        self._keys = {k.key_id: k for k in keys}

    @classmethod
    def from_setting(cls, value: str) -> SecretBox:
        """From ``INGEST_SECRETS_KEY``'s value: keys comma-separated, newest first."""
        return cls([part.strip() for part in value.split(",")])

    @property
    def newest_key_id(self) -> str:
        return self._newest.key_id

    def seal(self, plaintext: str, *, row: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._newest.aead.encrypt(nonce, plaintext.encode(), row.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{VERSION}.{self._newest.key_id}.{body}"

    def open(self, sealed: str, *, row: str) -> str:
        version, key_id, body = _parts(sealed)
        key = self._keys.get(key_id)
        if version != VERSION or key is None:
            raise SealError(f"sealed with an unknown key ({version}.{key_id})")
        data = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        try:
            plain = key.aead.decrypt(data[:_NONCE_BYTES], data[_NONCE_BYTES:], row.encode())
        except InvalidTag as exc:
            raise SealError("sealed value altered or of another row") from exc
        return plain.decode()


def key_id_of(sealed: str) -> str:
    """The id of the key that sealed ``sealed``."""
    return _parts(sealed)[1]


def secret_row(tenant_id: str, secret_id: str) -> str:
    """The associated data binding a sealed webhook secret to its row."""
    return f"webhook_secrets/{tenant_id}/{secret_id}"


def _parts(sealed: str) -> tuple[str, str, str]:
    version, _, rest = sealed.partition(".")
    key_id, _, body = rest.partition(".")
    if not (version and key_id and body):
        raise SealError("not a sealed value")
    return version, key_id, body


@cache
def secret_box() -> SecretBox:
    """This process's box, from ``INGEST_SECRETS_KEY`` (read once, on first use)."""
    from crm_ingest.config import IngestService

    return SecretBox.from_setting(IngestService().secrets_key.get_secret_value())
