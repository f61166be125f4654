"""The live credential store, reloaded when ``auth.json`` or the key file changes.

A watcher polls the files' ``stat`` (cheap, works on every filesystem and in containers where
inotify does not reach bind mounts). A broken edit keeps the last good store and is reported;
it never opens the server.

With several instances the watcher of one can be up to a poll behind another that just
rewrote the file (a password upgraded at sign-in). So a request that meets a session tag this
copy does not produce re-reads the files at once (``catch_up``), and the source remembers every
tag its snapshots have produced (``is_known_tag``): a tag seen before and no longer current is
a credential that really changed; a tag never seen is one this instance cannot judge yet.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .credentials import CredentialStore, load_credentials
from .errors import ConfigError
from .settings import Settings

logger = logging.getLogger(__name__)

FileSignature = tuple[tuple[int, int, int, int] | None, ...]
KNOWN_TAGS_CAPACITY = 100_000
"""Tags remembered across reloads (oldest forgotten first): thousands of users, many edits."""


@dataclass(frozen=True)
class ReloadOutcome:
    """What a reload did: ``changed`` files, a new ``store``, or the ``error`` that kept the old."""

    changed: bool
    store: CredentialStore | None = None
    error: ConfigError | None = None
    previous: CredentialStore | None = None
    """The store in force before the change (the watcher compares users against it)."""


class CredentialSource:
    """Holds the current ``CredentialStore`` and replaces it when its files change."""

    def __init__(
        self,
        settings: Settings,
        tag_key: bytes,
        loader: Callable[[Settings, bytes], CredentialStore] = load_credentials,
    ) -> None:
        self._settings = settings
        self._tag_key = tag_key
        self._loader = loader
        self._lock = threading.Lock()
        self._known: dict[str, None] = {}
        self._unreported: ReloadOutcome | None = None
        """A change ``catch_up`` applied for a request, still to be reported by the watcher."""
        self._signature = self._file_signature()
        self._store = loader(settings, tag_key)
        self._remember_tags(self._store)

    @property
    def current(self) -> CredentialStore:
        return self._store

    @property
    def watched_files(self) -> tuple[Path, ...]:
        files = [self._settings.auth_file]
        if self._settings.api_key_file is not None:
            files.append(self._settings.api_key_file)
        return tuple(files)

    def reload_if_changed(self) -> ReloadOutcome:
        """Re-read the files if their ``stat`` changed; keep the last good store on error.

        The outcome also covers a change ``catch_up`` already applied since the last call, so
        the watcher reports every change once (removed users, the audit trail).
        """
        with self._lock:
            fresh = self._reload_locked()
            held, self._unreported = self._unreported, None
        if held is None:
            return fresh
        if not fresh.changed:
            return held
        return ReloadOutcome(True, fresh.store, fresh.error, previous=held.previous)

    def catch_up(self) -> CredentialStore:
        """Re-read the files now if they changed (a request met a tag this copy lacks)."""
        with self._lock:
            outcome = self._reload_locked()
            if outcome.changed:
                held = self._unreported
                self._unreported = (
                    outcome
                    if held is None
                    else ReloadOutcome(True, outcome.store, outcome.error, previous=held.previous)
                )
            return self._store

    def is_known_tag(self, tag: str) -> bool:
        """Whether some snapshot of this process produced ``tag`` (current or superseded)."""
        return tag in self._known

    def replace(self, store: CredentialStore) -> None:
        """Install a store this process just wrote, without waiting for the watcher."""
        with self._lock:
            self._signature = self._file_signature()
            self._install(store)

    def reload_now(self) -> CredentialStore:
        """Re-read the files at once (after this process wrote them); raise on error."""
        store = self._loader(self._settings, self._tag_key)
        self.replace(store)
        return store

    def _reload_locked(self) -> ReloadOutcome:
        signature = self._file_signature()
        if signature == self._signature:
            return ReloadOutcome(changed=False)
        self._signature = signature
        previous = self._store
        try:
            store = self._loader(self._settings, self._tag_key)
        except ConfigError as error:
            return ReloadOutcome(changed=True, error=error, previous=previous)
        self._install(store)
        return ReloadOutcome(changed=True, store=store, previous=previous)

    def _install(self, store: CredentialStore) -> None:
        self._remember_tags(store)
        self._store = store

    def _remember_tags(self, store: CredentialStore) -> None:
        for tag in store.all_tags():
            self._known.pop(tag, None)
            self._known[tag] = None  # most recent last
        while len(self._known) > KNOWN_TAGS_CAPACITY:
            del self._known[next(iter(self._known))]

    def _file_signature(self) -> FileSignature:
        return tuple(_stat(path) for path in self.watched_files)


def _stat(path: Path) -> tuple[int, int, int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size, info.st_ino, info.st_mode)
