"""Recently used sessions in memory, so a warm request reads no database and hops no thread.

The store stays the durable record and every change is written through to it (sign-in,
sign-out, revocation); the cache only saves the read. How long an entry is believed:

- one instance (SQLite): until the session expires, since every change to this store goes
  through this process and evicts the entry on its way;
- several instances (Redis): at most ``SHARED_TTL_S``, so a sign-out or a revocation on
  another instance is seen here within a second, and when Redis goes away the requests of
  cached sessions fail closed within that second, like every other.

Whatever the cache says, the credential tag is checked on every request (a password change
ends the session at once). The cache is bounded (the oldest entries go first; a live session
pushed out is read from the store again at its next request), so a flood of distinct cookies
cannot grow it: only valid sessions are ever cached. Reads take no lock (a dict read is atomic
and an entry is never changed in place); writers, some in worker threads, take one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from .identity import Identity
from .session_store import SessionRecord

CAPACITY = 10_000
SHARED_TTL_S = 1.0


@dataclass(frozen=True, slots=True)
class CachedSession:
    """A session's record, until when it is believed, and the identity last built for it
    with the credential snapshot it was checked against (the same snapshot means the same
    tag, so nothing is rebuilt)."""

    record: SessionRecord
    believed_until: float
    snapshot: object | None = None
    identity: Identity | None = None


class SessionCache:
    """A bounded map from session-id digest to its ``CachedSession``."""

    def __init__(self, *, ttl: float | None, capacity: int = CAPACITY) -> None:
        self._entries: dict[str, CachedSession] = {}
        self._ttl = ttl
        self._capacity = capacity
        self._lock = threading.Lock()

    def get(self, id_hash: str, now: float) -> CachedSession | None:
        """The entry, while it is believed; an entry past its time is dropped."""
        entry = self._entries.get(id_hash)
        if entry is None or now < entry.believed_until:
            return entry
        self.drop(id_hash)
        return None

    def put(self, record: SessionRecord, now: float) -> None:
        until = record.expires if self._ttl is None else min(record.expires, now + self._ttl)
        with self._lock:
            self._entries.pop(record.id_hash, None)  # to the back of the line
            self._entries[record.id_hash] = CachedSession(record, until)
            while len(self._entries) > self._capacity:
                del self._entries[next(iter(self._entries))]

    def remember_identity(self, id_hash: str, snapshot: object, identity: Identity) -> None:
        with self._lock:
            entry = self._entries.get(id_hash)
            if entry is not None:  # never outlives its record
                self._entries[id_hash] = replace(entry, snapshot=snapshot, identity=identity)

    def drop(self, id_hash: str) -> None:
        with self._lock:
            self._entries.pop(id_hash, None)

    def drop_user(self, user: str) -> None:
        with self._lock:
            for id_hash in [h for h, entry in self._entries.items() if entry.record.user == user]:
                del self._entries[id_hash]

    def __len__(self) -> int:
        return len(self._entries)
