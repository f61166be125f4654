"""One instance's sessions in a small SQLite file, so logout and revocation end them at once.

Only a SHA-256 digest of each session id is stored (see ``session_store``). WAL journaling with
``synchronous=FULL`` means a committed login or logout survives a crash or a restart. Several
instances behind one load balancer share sessions through Redis instead (``redis_sessions``).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .errors import ConfigError
from .session_store import SessionRecord, hash_session_id, new_session

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    key_id TEXT,
    tag TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL NOT NULL,
    persistent INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user);
CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires);
"""
_COLUMNS = "id_hash, user, key_id, tag, csrf_token, created, expires, persistent"


class SqliteSessionStore:
    """A ``SessionStore`` in one SQLite file; safe to call from several threads."""

    shared = False  # only this process writes it

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as error:
            raise ConfigError(
                f"cannot open the session database ({error})",
                fix="make the file writable, or delete it to start with no sessions",
                path=path,
            ) from None
        path.chmod(0o600)

    def create(
        self, *, user: str, key_id: str | None, tag: str, lifetime: float, persistent: bool
    ) -> tuple[str, SessionRecord]:
        """A fresh random session id (returned once, for the cookie) and its record."""
        session_id, record = new_session(
            user=user,
            key_id=key_id,
            tag=tag,
            lifetime=lifetime,
            persistent=persistent,
            now=self._clock(),
        )
        with self._lock:
            self._db.execute(
                f"INSERT INTO sessions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608 - constant column list
                (
                    record.id_hash,
                    record.user,
                    record.key_id,
                    record.tag,
                    record.csrf_token,
                    record.created,
                    record.expires,
                    int(record.persistent),
                ),
            )
        return session_id, record

    def find(self, session_id: str) -> SessionRecord | None:
        """The live record for ``session_id``; an expired one is deleted and not returned."""
        id_hash = hash_session_id(session_id)
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM sessions WHERE id_hash = ?",  # noqa: S608 - constant column list
                (id_hash,),
            ).fetchone()
        if row is None:
            return None
        id_hash_, user, key_id, tag, csrf_token, created, expires, persistent = row
        record = SessionRecord(
            id_hash_, user, key_id, tag, csrf_token, created, expires, bool(persistent)
        )
        if record.expires <= self._clock():
            self.end(id_hash)
            return None
        return record

    def end(self, id_hash: str) -> bool:
        """End one session by the digest of its id; True if it existed."""
        with self._lock:
            cursor = self._db.execute("DELETE FROM sessions WHERE id_hash = ?", (id_hash,))
        return cursor.rowcount > 0

    def end_user(self, user: str) -> int:
        """End every session of ``user``; the number ended."""
        with self._lock:
            cursor = self._db.execute("DELETE FROM sessions WHERE user = ?", (user,))
        return cursor.rowcount

    def for_user(self, user: str) -> list[SessionRecord]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM sessions WHERE user = ? AND expires > ? "  # noqa: S608 - constant column list
                "ORDER BY created",
                (user, self._clock()),
            ).fetchall()
        return [
            SessionRecord(id_hash, user_, key_id, tag, csrf, created, expires, bool(persistent))
            for id_hash, user_, key_id, tag, csrf, created, expires, persistent in rows
        ]

    def purge_expired(self) -> int:
        with self._lock:
            cursor = self._db.execute("DELETE FROM sessions WHERE expires <= ?", (self._clock(),))
        return cursor.rowcount

    def count(self) -> int:
        with self._lock:
            (total,) = self._db.execute("SELECT COUNT(*) FROM sessions").fetchone()
        return int(total)

    def close(self) -> None:
        with self._lock:
            self._db.close()
