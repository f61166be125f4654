"""Sessions shared by several instances through Redis: a logout anywhere ends them everywhere.

Layout, under the ``comfyui-auth:`` prefix (use a separate Redis database per deployment):

- ``session:<sha256 of the id>``: the record as JSON, with the session's lifetime as its TTL,
  so Redis itself forgets expired sessions;
- ``user-sessions:<sha256 of the user name>``: a sorted set of that user's session digests
  scored by expiry, for ``end_user``; its TTL is kept at least as long as its longest member.

Only digests are stored, as with SQLite: someone who can read Redis learns no session id, and
someone who can write it can end sessions but cannot open one - the cookie that names a
session is signed with the instances' signing key, which never leaves their disks.
A failed Redis call raises ``SharedStateUnavailable`` (see ``redis_connection``).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict

import redis

from .redis_connection import KEY_PREFIX, answering
from .session_store import SessionRecord, hash_session_id, new_session

_SESSION = f"{KEY_PREFIX}:session:"
_USER_SESSIONS = f"{KEY_PREFIX}:user-sessions:"


class RedisSessionStore:
    """A ``SessionStore`` in Redis; redis-py's client is safe to share between threads.

    Calls are synchronous, like SQLite's, and ``Authenticator`` makes them in a worker thread:
    one round trip each, well under a millisecond to a Redis nearby; when Redis hangs, the
    timeouts of ``redis_connection`` bound the wait to about two seconds before the request
    gets a 503, and the event loop serves everyone else meanwhile.
    """

    shared = True  # every instance writes it

    def __init__(self, client: redis.Redis, *, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._clock = clock

    def create(
        self, *, user: str, key_id: str | None, tag: str, lifetime: float, persistent: bool
    ) -> tuple[str, SessionRecord]:
        """Store a new session and add it to its user's set, in one transaction."""
        now = self._clock()
        session_id, record = new_session(
            user=user, key_id=key_id, tag=tag, lifetime=lifetime, persistent=persistent, now=now
        )
        ttl_ms = max(1, round(lifetime * 1000))
        user_sessions = _user_sessions_key(user)
        with answering(), self._client.pipeline(transaction=True) as pipe:
            pipe.set(_SESSION + record.id_hash, _encode(record), px=ttl_ms)
            pipe.zremrangebyscore(user_sessions, "-inf", now)
            pipe.zadd(user_sessions, {record.id_hash: record.expires})
            pipe.pexpire(user_sessions, ttl_ms, nx=True)
            pipe.pexpire(user_sessions, ttl_ms, gt=True)
            pipe.execute()
        return session_id, record

    def find(self, session_id: str) -> SessionRecord | None:
        """The live record for ``session_id``; one that cannot be read is ended, not trusted."""
        id_hash = hash_session_id(session_id)
        with answering():
            raw = self._client.get(_SESSION + id_hash)
        if raw is None:
            return None
        record = _decode(id_hash, raw)
        if record is None or record.expires <= self._clock():
            self.end(id_hash)
            return None
        return record

    def end(self, id_hash: str) -> bool:
        """Delete the record; its digest stays in the user's set until its expiry passes."""
        with answering():
            return bool(self._client.delete(_SESSION + id_hash))

    def end_user(self, user: str) -> int:
        user_sessions = _user_sessions_key(user)
        with answering():
            digests = [_text(member) for member in self._client.zrange(user_sessions, 0, -1)]
            if not digests:
                return 0
            with self._client.pipeline(transaction=True) as pipe:
                pipe.delete(*(_SESSION + digest for digest in digests))
                pipe.zrem(user_sessions, *digests)
                deleted, _ = pipe.execute()
        return int(deleted)

    def for_user(self, user: str) -> list[SessionRecord]:
        """The user's set names the candidates; records that expired or went are skipped."""
        now = self._clock()
        with answering():
            digests = [
                _text(member)
                for member in self._client.zrangebyscore(_user_sessions_key(user), now, "+inf")
            ]
            raws = self._client.mget([_SESSION + digest for digest in digests]) if digests else []
        records = [
            _decode(digest, raw)
            for digest, raw in zip(digests, raws, strict=True)
            if raw is not None
        ]
        live = [record for record in records if record is not None and record.expires > now]
        return sorted(live, key=lambda record: record.created)

    def purge_expired(self) -> int:
        """Nothing to do: every key carries its own TTL, and Redis deletes expired keys."""
        return 0

    def count(self) -> int:
        with answering():
            return sum(1 for _ in self._client.scan_iter(match=_SESSION + "*", count=1000))

    def close(self) -> None:
        self._client.close()


def _user_sessions_key(user: str) -> str:
    """Hashed, so any user name (any Unicode, any length) makes a short ASCII key."""
    return _USER_SESSIONS + hashlib.sha256(user.encode("utf-8", "surrogatepass")).hexdigest()


def _encode(record: SessionRecord) -> str:
    fields = asdict(record)
    del fields["id_hash"]  # it is the key
    return json.dumps(fields, ensure_ascii=True, separators=(",", ":"))


def _text(member: object) -> str:
    """A set member as text (digests are ASCII hex; redis-py returns bytes)."""
    return member.decode("ascii") if isinstance(member, bytes) else str(member)


def _decode(id_hash: str, raw: bytes | str) -> SessionRecord | None:
    try:
        fields = json.loads(raw)
        return SessionRecord(
            id_hash=id_hash,
            user=str(fields["user"]),
            key_id=None if fields["key_id"] is None else str(fields["key_id"]),
            tag=str(fields["tag"]),
            csrf_token=str(fields["csrf_token"]),
            created=float(fields["created"]),
            expires=float(fields["expires"]),
            persistent=bool(fields["persistent"]),
        )
    except (ValueError, TypeError, KeyError):
        return None
