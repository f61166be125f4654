"""One-time set-password links: an administrator's way to give someone their first password.

The link is ``/auth/set-password?token=<token>`` and carries nothing but the token. The token
is 256 random bits; ``auth.json`` keeps only its SHA-256 digest and expiry beside the user
(``"set_password": {"hash": "sha256:...", "expires": "..."}``), so a copy of the file opens
nothing, every instance that reads the same file honours the link, and using it is the same
locked edit that stores the new password and removes the digest: a link works once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

PATH = "/auth/set-password"
"""The public page the link opens (``middleware/set_password_routes``)."""
TOKEN_PREFIX = "spl_"  # noqa: S105 - a prefix, not a secret
DIGEST_PREFIX = "sha256:"
FIELD = "set_password"
"""The entry's field in ``auth.json``."""
DEFAULT_LIFETIME_HOURS = 24
MAX_TOKEN_LENGTH = 128
"""Longer candidates are refused before hashing (a real token has 47 characters)."""


@dataclass(frozen=True)
class SetPasswordLink:
    """What ``auth.json`` stores of a link: the token's digest and when it stops working."""

    digest: str = field(repr=False)
    expires: float

    def is_expired(self, now: float) -> bool:
        return now >= self.expires

    def opens_with(self, candidate: str, now: float) -> bool:
        """Whether ``candidate`` is this link's token and the link is still valid.

        The digests are compared in constant time; an expired link refuses every token.
        """
        return not self.is_expired(now) and hmac.compare_digest(
            digest_of(candidate).encode(), self.digest.encode()
        )


def new_token() -> str:
    """A fresh token: shown once inside the link, only its digest is stored."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest_of(token: str) -> str:
    return DIGEST_PREFIX + hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def plausible(candidate: str | None) -> bool:
    """A token of the right shape (cheap check before any file is read)."""
    return (
        candidate is not None
        and candidate.startswith(TOKEN_PREFIX)
        and len(candidate) <= MAX_TOKEN_LENGTH
        and candidate.isascii()
        and candidate.isprintable()
    )
