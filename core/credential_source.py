"""The live credential store, reloaded when ``auth.json`` or the key file changes.

A watcher polls the files' ``stat`` (cheap, works on every filesystem and in containers where
inotify does not reach bind mounts). A broken edit keeps the last good store and is reported;
it never opens the server.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .credentials import CredentialStore, load_credentials
from .errors import ConfigError
from .settings import Settings

logger = logging.getLogger(__name__)

FileSignature = tuple[tuple[int, int, int, int] | None, ...]


@dataclass(frozen=True)
class ReloadOutcome:
    """What a reload did: ``changed`` files, a new ``store``, or the ``error`` that kept the old."""

    changed: bool
    store: CredentialStore | None = None
    error: ConfigError | None = None


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
        self._signature = self._file_signature()
        self._store = loader(settings, tag_key)

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
        """Re-read the files if their ``stat`` changed; keep the last good store on error."""
        signature = self._file_signature()
        if signature == self._signature:
            return ReloadOutcome(changed=False)
        self._signature = signature
        try:
            store = self._loader(self._settings, self._tag_key)
        except ConfigError as error:
            return ReloadOutcome(changed=True, error=error)
        self._store = store
        return ReloadOutcome(changed=True, store=store)

    def replace(self, store: CredentialStore) -> None:
        """Install a store this process just wrote, without waiting for the watcher."""
        self._signature = self._file_signature()
        self._store = store

    def reload_now(self) -> CredentialStore:
        """Re-read the files at once (after this process wrote them); raise on error."""
        store = self._loader(self._settings, self._tag_key)
        self.replace(store)
        return store

    def _file_signature(self) -> FileSignature:
        return tuple(_stat(path) for path in self.watched_files)


def _stat(path: Path) -> tuple[int, int, int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size, info.st_ino, info.st_mode)
