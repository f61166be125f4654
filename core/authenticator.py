"""The one place that decides who a caller is, from a key, a password or a session.

A warm session is served from memory (``session_cache``): no database read, no thread hop.
Session-store calls that remain (a cold session, sign-in, sign-out) run in a worker thread:
SQLite fsyncs on every login and logout, and a Redis that hangs must stall one request, not
the event loop that serves everyone.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from .auth_file import UserRecord
from .auth_file_editor import upgrade_password
from .basic_memory import BasicMemory
from .credential_source import CredentialSource
from .credentials import CredentialStore
from .errors import ConfigError
from .identity import ENV_KEY_ID, Identity, Role, Via
from .passwords import PasswordVerifier
from .session_cache import SHARED_TTL_S, SessionCache
from .session_store import SessionRecord, SessionStore, hash_session_id
from .settings import Settings

HOUR = 3600.0
DAY = 24 * HOUR
logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class NewSession:
    """A session just created: the id goes into the signed cookie, the record stays here."""

    session_id: str
    record: SessionRecord
    identity: Identity


class Authenticator:
    """Checks credentials against the live store and manages the sessions they open."""

    def __init__(
        self,
        settings: Settings,
        credentials: CredentialSource,
        sessions: SessionStore,
        verifier: PasswordVerifier,
        *,
        on_revoked: Callable[[SessionRecord], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.credentials = credentials
        self.sessions = sessions
        self.verifier = verifier
        self._on_revoked = on_revoked
        self._clock = clock
        self._cache = SessionCache(ttl=SHARED_TTL_S if sessions.shared else None)
        self.basic = BasicMemory(credentials.current.tag_key)

    def recall_key(self, token: str) -> Identity | None:
        """A key already proved valid under the credentials in force: one dictionary read."""
        return self.credentials.current.recall_key(token, self._clock())

    def identify_key(self, token: str) -> Identity | None:
        """The identity a well-formed API key proves (a digest and a constant-time compare:
        no thread)."""
        return self.credentials.current.identify_key(token, self._clock())

    async def identify_key_caught_up(self, token: str) -> Identity | None:
        """A key this copy of ``auth.json`` does not know, checked again once the file is
        re-read, if it changed since the last poll.

        The watcher can be a poll behind: a key just created through another instance or
        ``manage.py`` would otherwise be refused here for up to a second, and counted as a
        failure by the throttle. Called only for a key that failed (and, by the caller, only
        once the throttle let it try), so a flood of wrong keys costs a ``stat`` each at most.
        """
        return await self._find_once_caught_up(
            lambda store: store.identify_key(token, self._clock())
        )

    async def find_caught_up(self, find: Callable[[CredentialStore], T | None]) -> T | None:
        """What ``find`` finds in the credentials in force, else in ``auth.json`` re-read if it
        changed since the last poll: a user or a link just made through another instance or
        ``manage.py`` is found at once, not a poll later. A miss costs a ``stat`` at most."""
        found = find(self.credentials.current)
        return found if found is not None else await self._find_once_caught_up(find)

    async def _find_once_caught_up(self, find: Callable[[CredentialStore], T | None]) -> T | None:
        """``find`` in the credentials re-read from ``auth.json``; None when the file had not
        changed since the last poll (the store in force already answered)."""
        before = self.credentials.current
        store = await asyncio.to_thread(self.credentials.catch_up)
        return None if store is before else find(store)

    async def check_password(self, username: str, password: str) -> UserRecord | None:
        """The user whose password this is, or None; the hashing runs off the event loop.

        A wrong password is checked once more only if re-reading ``auth.json`` (when it
        changed since the last poll) gives this user another stored password: a password
        just set through another instance or ``manage.py`` works at once on every instance,
        instead of failing, and counting toward the throttle, until the watcher's next poll.
        """
        user = self.credentials.current.user(username)
        stored = user.password if user is not None else None
        if await self.verifier.verify_off_loop(stored, password):
            return user
        fresh = (await asyncio.to_thread(self.credentials.catch_up)).user(username)
        if fresh is None or fresh.password == stored:
            return None
        return fresh if await self.verifier.verify_off_loop(fresh.password, password) else None

    async def upgrade_legacy_password(self, user: UserRecord, password: str) -> bool:
        """Rehash on sign-in: a Fooocus password (plain or SHA-256) becomes argon2id.

        The user has just proved the password, so it is hashed properly without asking them
        anything, off the event loop. The entry keeps Fooocus's shape (``user``, ``hash``),
        so Fooocus can still read the file; the rewrite is a locked edit that changes it only
        if it still holds the password just proved (``auth_file_editor.upgrade_password``).
        True when this call upgraded it; a failure to write is logged, never a failed login.
        """
        try:
            return await asyncio.to_thread(self._rewrite_password, user, password)
        except (ConfigError, OSError) as error:
            logger.warning("could not upgrade the stored password of %s: %s", user.name, error)
            return False

    def _rewrite_password(self, user: UserRecord, password: str) -> bool:
        """Upgrade the entry, then read the file back either way: when another instance upgraded
        it first, the session about to open must carry the tag of that instance's hash."""
        new_hash = self.verifier.hash(password)  # slow: before taking the lock
        upgraded = upgrade_password(self.settings.auth_file, user.name, user.password, new_hash)
        self.credentials.reload_now()
        return upgraded

    def recall_basic(self, username: str, password: str) -> Identity | None:
        """The identity of a Basic pair verified before, while its credential is unchanged."""
        digest = self.basic.digest(username, password)
        user = self.basic.recall(digest, self.credentials.current, self._clock())
        return Identity(user.name, user.role, Via.BASIC) if user is not None else None

    async def verify_basic(self, username: str, password: str) -> Identity | None:
        """Check a Basic pair's password (off the event loop); remember the pair if it holds."""
        store = self.credentials.current
        user = await self.check_password(username, password)
        if user is None:
            return None
        tag = store.credential_tag(user.name, None, self._clock())
        if tag is not None:
            self.basic.remember(self.basic.digest(username, password), user.name, tag)
        return Identity(user.name, user.role, Via.BASIC)

    def recall_session(self, id_hash: str) -> Identity | None:
        """The identity of a session this process holds (by the digest of its id), checked
        under the credentials in force now (the same snapshot, so the same tag); None when
        that needs the store."""
        entry = self._cache.get(id_hash, self._clock())
        if entry is None or entry.snapshot is not self.credentials.current:
            return None
        if entry.record.key_id is not None and not self._key_still_valid(entry.record):
            return None
        return entry.identity

    async def identify_session(self, session_id: str) -> Identity | None:
        """The identity of a live session whose credential has not changed since login."""
        id_hash = hash_session_id(session_id)
        known = self.recall_session(id_hash)
        if known is not None:
            return known
        now = self._clock()
        cached = self._cache.get(id_hash, now)
        record = (
            cached.record
            if cached is not None
            else await asyncio.to_thread(self.sessions.find, session_id)
        )
        if record is None:
            return None
        if cached is None:
            self._cache.put(record, now)
        store = self.credentials.current
        tag = store.credential_tag(record.user, record.key_id, now)
        if tag != record.tag:
            # This copy of auth.json may be behind the instance that opened the session (it
            # upgraded a password at sign-in and rewrote the file): catch up before judging.
            store = await asyncio.to_thread(self.credentials.catch_up)
            tag = store.credential_tag(record.user, record.key_id, now)
        if tag != record.tag:
            if self._superseded(record.tag):
                # The password, role or key changed (or went) since login: the session ends
                # here, at its first use after the change, and the audit trail says so.
                self._cache.drop(record.id_hash)
                await asyncio.to_thread(self.sessions.end, record.id_hash)
                if self._on_revoked is not None:
                    self._on_revoked(record)
            return None
        identity = Identity(
            record.user,
            self._role_of(record),
            Via.SESSION,
            key_id=record.key_id,
            session_id_hash=record.id_hash,
            csrf_token=record.csrf_token,
        )
        self._cache.remember_identity(id_hash, store, identity)
        return identity

    def _superseded(self, tag: str) -> bool:
        """Whether a session tag the current copy does not produce belongs to an old credential.

        With one instance every change goes through this copy, so any other tag is old. With a
        shared store, a tag this process never saw may come from a newer ``auth.json`` that is
        not visible here yet (a network filesystem's cache): that request is refused, but the
        session is left for the instances that can judge it, instead of ended for everyone.
        """
        return not self.sessions.shared or self.credentials.is_known_tag(tag)

    def _key_still_valid(self, record: SessionRecord) -> bool:
        """A session opened with a key ends when the key expires, snapshot or not."""
        return (
            self.credentials.current.credential_tag(record.user, record.key_id, self._clock())
            == record.tag
        )

    async def start_session(self, identity: Identity, *, remember: bool) -> NewSession:
        """Open a new session (a fresh id at every login defeats session fixation)."""
        store = self.credentials.current
        tag = store.credential_tag(identity.name, identity.key_id, self._clock())
        if tag is None:
            raise LookupError("the credential disappeared while signing in")
        lifetime = (
            self.settings.remember_days * DAY
            if remember
            else self.settings.browser_session_hours * HOUR
        )
        session_id, record = await asyncio.to_thread(
            functools.partial(
                self.sessions.create,
                user=identity.name,
                key_id=identity.key_id,
                tag=tag,
                lifetime=lifetime,
                persistent=remember,
            )
        )
        self._cache.put(record, self._clock())
        return NewSession(
            session_id,
            record,
            Identity(
                identity.name,
                identity.role,
                Via.SESSION,
                key_id=identity.key_id,
                session_id_hash=record.id_hash,
                csrf_token=record.csrf_token,
            ),
        )

    async def end_session(self, session_id: str) -> SessionRecord | None:
        """End the session ``session_id`` names; its record if it was live (for the audit)."""
        return await asyncio.to_thread(self._end_session, session_id)

    def _end_session(self, session_id: str) -> SessionRecord | None:
        id_hash = hash_session_id(session_id)
        self._cache.drop(id_hash)
        record = self.sessions.find(session_id)
        self.sessions.end(id_hash)
        return record

    async def end_user_sessions(self, user: str) -> int:
        """End every session of ``user`` (removed from ``auth.json``); the number ended."""
        self._cache.drop_user(user)
        return await asyncio.to_thread(self.sessions.end_user, user)

    async def end_session_by_hash(self, id_hash: str) -> bool:
        """End one session by its digest (the account page's "sign out" of another device)."""
        self._cache.drop(id_hash)
        return await asyncio.to_thread(self.sessions.end, id_hash)

    async def end_key_sessions(self, user: str, key_id: str) -> int:
        """End the sessions ``user`` opened with the key ``key_id`` (the key was just revoked).

        Its tag would end them at their next request anyway, but another instance's copy of
        ``auth.json`` can be a poll behind: gone from the shared store, they end everywhere
        within the second an instance remembers a session.
        """
        ended = 0
        for record in await self.user_sessions(user):
            if record.key_id == key_id and await self.end_session_by_hash(record.id_hash):
                ended += 1
        return ended

    async def user_sessions(self, user: str) -> list[SessionRecord]:
        """The live sessions of ``user`` (for the account page), read off the event loop."""
        return await asyncio.to_thread(self.sessions.for_user, user)

    def _role_of(self, record: SessionRecord) -> Role:
        if record.key_id == ENV_KEY_ID:
            return Role.ADMIN
        user = self.credentials.current.user(record.user)
        return user.role if user is not None else Role.USER
