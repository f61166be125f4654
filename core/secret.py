"""A value that must never be printed, and is only ever compared in constant time."""

from __future__ import annotations

import hmac


class Secret:
    """Wraps secret bytes so that ``repr``/``str``/logging show nothing of them."""

    __slots__ = ("_value",)

    def __init__(self, value: str | bytes) -> None:
        self._value = value.encode("utf-8") if isinstance(value, str) else bytes(value)

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def reveal(self) -> bytes:
        """The raw bytes, for the few places that must hash or send them."""
        return self._value

    def matches(self, candidate: bytes) -> bool:
        """Constant-time equality on bytes (``compare_digest`` raises on non-ASCII str)."""
        return hmac.compare_digest(self._value, candidate)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and self.matches(other._value)

    def __hash__(self) -> int:
        return hash(Secret)
