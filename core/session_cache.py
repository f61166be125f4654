"""Recently used sessions in memory, so a warm request reads no database and hops no thread.

The store stays the durable record and every change is written through to it (sign-in,
sign-out, revocation); the cache only saves the read. How long an entry is believed:

- one instance (SQLite): until the session expires, since every change to this store goes
  through this process and evicts the entry on its way;
- several instances (Redis): at most ``SHARED_TTL_S``, so a sign-out or a revocation on
  another instance is seen here within a second, and when Redis goes away the requests of
  cached sessions fail closed within that second, like every other.

Whatever the cache says, the credential tag is checked on every request (a password change
ends the session at once). The cache is bounded (least recently used entries go first), so
a flood of distinct cookies cannot grow it: only valid sessions are ever cached.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from .identity import Identity
from .session_store import SessionRecord

CAPACITY = 10_000
SHARED_TTL_S = 1.0


class SessionCache:
    """A bounded map from session-id digest to its record and until when it is believed."""

    def __init__(self, *, ttl: float | None, capacity: int = CAPACITY) -> None:
        self._entries: OrderedDict[str, tuple[SessionRecord, float]] = OrderedDict()
        self._identities: dict[str, tuple[object, Identity]] = {}
        """The identity last built for a session, with the credential snapshot it was
        checked against: the same snapshot means the same tag, so nothing is rebuilt."""
        self._ttl = ttl
        self._capacity = capacity
        self._lock = threading.Lock()

    def get(self, id_hash: str, now: float) -> SessionRecord | None:
        with self._lock:
            entry = self._entries.get(id_hash)
            if entry is None:
                return None
            record, believed_until = entry
            if now >= believed_until:
                del self._entries[id_hash]
                self._identities.pop(id_hash, None)
                return None
            self._entries.move_to_end(id_hash)
            return record

    def put(self, record: SessionRecord, now: float) -> None:
        until = record.expires if self._ttl is None else min(record.expires, now + self._ttl)
        with self._lock:
            self._entries[record.id_hash] = (record, until)
            self._entries.move_to_end(record.id_hash)
            while len(self._entries) > self._capacity:
                dropped, _ = self._entries.popitem(last=False)
                self._identities.pop(dropped, None)

    def identity(self, id_hash: str, snapshot: object) -> Identity | None:
        """The identity remembered for ``id_hash`` under ``snapshot``, or None."""
        remembered = self._identities.get(id_hash)
        return remembered[1] if remembered is not None and remembered[0] is snapshot else None

    def remember_identity(self, id_hash: str, snapshot: object, identity: Identity) -> None:
        with self._lock:
            if id_hash in self._entries:  # never outlives its record
                self._identities[id_hash] = (snapshot, identity)

    def drop(self, id_hash: str) -> None:
        with self._lock:
            self._entries.pop(id_hash, None)
            self._identities.pop(id_hash, None)

    def drop_user(self, user: str) -> None:
        with self._lock:
            for id_hash in [h for h, (r, _) in self._entries.items() if r.user == user]:
                del self._entries[id_hash]
                self._identities.pop(id_hash, None)

    def __len__(self) -> int:
        return len(self._entries)
