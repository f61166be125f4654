"""Per-user API keys: the shape of a key, and how it is stored (only as a SHA-256 digest).

A key is ``cak_<id>_<secret>``: the id finds the record without a search, the 256-bit secret
makes a plain SHA-256 digest safe to store (nothing to brute-force), and the prefix lets
secret scanners recognise a leaked key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

KEY_PREFIX = "cak_"
DIGEST_PREFIX = "sha256:"
_ID_BYTES = 6
_SECRET_BYTES = 32
# Exactly what generate_token writes (int(x, 16) would also take "0x12", "+1_2", " 12").
_KEY_ID = re.compile(rb"[0-9a-f]{%d}" % (2 * _ID_BYTES))


@dataclass(frozen=True)
class ApiKeyRecord:
    """A stored key: its public id and name, its digest, and when it stops working."""

    key_id: str
    name: str
    digest: str = field(repr=False)
    expires: float | None = None
    created: float | None = None

    def is_expired(self, now: float) -> bool:
        return self.expires is not None and now >= self.expires

    def matches(self, token: bytes) -> bool:
        """Constant-time comparison of the token's digest with the stored one."""
        return hmac.compare_digest(digest_token(token).encode(), self.digest.encode())


def generate_token() -> tuple[str, str]:
    """A new key and its id; the key is shown once and never stored."""
    key_id = secrets.token_hex(_ID_BYTES)
    return f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(_SECRET_BYTES)}", key_id


def key_id_of(token: bytes) -> str | None:
    """The id part of a well-formed per-user key, or None for any other string."""
    if not token.startswith(KEY_PREFIX.encode()):
        return None
    key_id, sep, rest = token[len(KEY_PREFIX) :].partition(b"_")
    if not sep or not rest or not _KEY_ID.fullmatch(key_id):
        return None
    return key_id.decode("ascii")


def digest_token(token: bytes) -> str:
    """The stored form: ``sha256:<hex>``."""
    return DIGEST_PREFIX + hashlib.sha256(token).hexdigest()
