"""What every session store keeps and offers, whether SQLite (one instance) or Redis (several).

A store keeps only the SHA-256 digest of each session id, so a copy of it (a database file, a
Redis dump) signs nobody in: the id itself lives only in the browser's signed cookie. Each
record remembers the credential tag it was created under (see ``credentials``) and its own
CSRF token.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class SessionRecord:
    """What the server knows about one signed-in browser."""

    id_hash: str
    user: str
    key_id: str | None
    tag: str
    csrf_token: str
    created: float
    expires: float
    persistent: bool


def hash_session_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("ascii", "replace")).hexdigest()


def new_session(
    *, user: str, key_id: str | None, tag: str, lifetime: float, persistent: bool, now: float
) -> tuple[str, SessionRecord]:
    """A fresh random session id (returned once, for the cookie) and the record to store."""
    session_id = secrets.token_urlsafe(32)
    record = SessionRecord(
        id_hash=hash_session_id(session_id),
        user=user,
        key_id=key_id,
        tag=tag,
        csrf_token=secrets.token_urlsafe(32),
        created=now,
        expires=now + lifetime,
        persistent=persistent,
    )
    return session_id, record


class SessionStore(Protocol):
    """Create, find and end sessions; ending one ends it for every instance sharing the store."""

    shared: bool
    """True when other instances change the store too (Redis): cached reads then expire fast."""

    def create(
        self, *, user: str, key_id: str | None, tag: str, lifetime: float, persistent: bool
    ) -> tuple[str, SessionRecord]:
        """Store a new session; its id (for the cookie) and its record."""
        ...

    def find(self, session_id: str) -> SessionRecord | None:
        """The live record for ``session_id``, or None (an expired one is ended)."""
        ...

    def end(self, id_hash: str) -> bool:
        """End one session by the digest of its id; True if it existed."""
        ...

    def end_user(self, user: str) -> int:
        """End every session of ``user``; the number ended."""
        ...

    def for_user(self, user: str) -> list[SessionRecord]:
        """The live sessions of ``user``, oldest first (the account page lists them)."""
        ...

    def purge_expired(self) -> int:
        """Delete expired sessions the store does not expire by itself; the number deleted."""
        ...

    def count(self) -> int:
        """Sessions currently stored."""
        ...

    def close(self) -> None: ...
