"""The one-time token of the first-run setup link (valid once, for at most one hour)."""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable

LIFETIME_SECONDS = 3600.0


class SetupToken:
    """A random token that opens ``/auth/setup`` until it is used or expires."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._value = secrets.token_urlsafe(32)
        self._expires = clock() + LIFETIME_SECONDS
        self._used = False

    @property
    def value(self) -> str:
        return self._value

    def accepts(self, candidate: str | None) -> bool:
        """True for the right token, not yet used, not expired (constant-time compare)."""
        if not candidate or self._used or self._clock() >= self._expires:
            return False
        return hmac.compare_digest(candidate.encode("utf-8", "replace"), self._value.encode())

    def consume(self) -> None:
        self._used = True
