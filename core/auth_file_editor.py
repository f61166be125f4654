"""Changes to ``auth.json`` that keep what they do not understand.

Entries are edited as plain JSON objects, so fields another tool (or a later version) added
survive, in users and in API keys alike, and entries an edit does not touch are written back
as they were read. Every write goes through ``write_private_file``: atomic, fsynced, mode
0600. The result is parsed before it is written, so an edit can never leave a file this
package would refuse.

Several writers share the file: ``manage.py``, the setup page, and every instance behind a
load balancer upgrading Fooocus passwords at sign-in. Each read-modify-write holds an
advisory lock (``flock`` on ``auth.json.lock`` beside the file, mode 0600), so two of them
never both start from the same version and one's entry or field is never lost.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from .auth_file import lookup_key, parse_auth_file
from .errors import ConfigError
from .identity import Role
from .passwords import StoredPassword
from .set_password_links import FIELD as LINK_FIELD
from .state_files import ensure_private_dir, write_private_file

Entries = list[dict[str, Any]]
T = TypeVar("T")
EDIT_ATTEMPTS = 3
"""A writer that does not take the lock (a text editor): an edit that raced it is redone."""
LOCK_WAIT_SECONDS = 10.0
"""Edits hold the lock for milliseconds; longer means a stuck process, which is reported."""
LOCK_SUFFIX = ".lock"


def read_entries(path: Path) -> Entries:
    """The file's entries as JSON objects ([] when the file does not exist yet)."""
    return _entries(read_bytes(path), path)


def write_entries(path: Path, entries: Entries) -> None:
    data = (json.dumps(entries, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    parse_auth_file(data, path)
    ensure_private_dir(path.parent)
    write_private_file(path, data)


def edit_entries(path: Path, change: Callable[[Entries], T]) -> T:
    """Read the file, apply ``change`` to its entries and write the result back, locked.

    Under the lock the file is read, changed and written by this writer alone. It is read
    again just before the write all the same: a writer that ignores the lock (someone's
    editor) is not overwritten, the edit is redone on their version. ``change`` raises
    ``ConfigError`` to refuse; the file is then left untouched.
    """
    with locked(path):
        for _ in range(EDIT_ATTEMPTS):
            before = read_bytes(path)
            entries = _entries(before, path)
            result = change(entries)
            if read_bytes(path) == before:
                write_entries(path, entries)
                return result
    raise ConfigError(
        "the auth file kept changing while it was being edited",
        fix="try again; if it keeps happening, find what rewrites the file",
        path=path,
    )


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + LOCK_SUFFIX)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the advisory lock of the auth file ``path`` (every process editing it takes it).

    Without ``fcntl`` (Windows) there is no lock, and the re-read before each write is the
    only protection.
    """
    if sys.platform == "win32":
        yield
        return
    import fcntl

    ensure_private_dir(path.parent)
    lock_file = lock_path(path)
    try:
        descriptor = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as error:
        raise ConfigError(
            f"cannot open the lock file of the auth file ({error.strerror})",
            fix="run this as the user that runs ComfyUI, or make the directory writable",
            path=lock_file,
        ) from None
    try:
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as error:
                if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
                if time.monotonic() > deadline:
                    raise ConfigError(
                        "another process has held the auth file's lock for "
                        f"{LOCK_WAIT_SECONDS:.0f} seconds",
                        fix="try again; if it keeps happening, find the stuck process "
                        "(fuser on the lock file)",
                        path=lock_file,
                    ) from None
                time.sleep(0.01)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def read_bytes(path: Path) -> bytes | None:
    """The file's bytes, None when it does not exist yet; ConfigError when unreadable."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ConfigError(
            f"cannot read the auth file ({error.strerror})",
            fix="run this as the user that runs ComfyUI, or correct the path",
            path=path,
        ) from None


def _entries(data: bytes | None, path: Path) -> Entries:
    if data is None:
        return []
    parse_auth_file(data, path)  # refuse to edit a file that is already broken
    entries: Entries = json.loads(data.decode("utf-8-sig"))
    return entries


def find_entry(entries: Entries, name: str) -> dict[str, Any] | None:
    wanted = lookup_key(name)
    for entry in entries:
        if isinstance(entry.get("user"), str) and lookup_key(entry["user"]) == wanted:
            return entry
    return None


def add_user(entries: Entries, name: str, password_hash: str, role: str) -> None:
    if find_entry(entries, name) is not None:
        raise ConfigError(
            f'user "{name}" already exists (names match case-insensitively)',
            fix="choose another name, or change their password with manage.py passwd",
        )
    entries.append({"user": name, "hash": password_hash, "role": role})


def set_password_hash(entries: Entries, name: str, password_hash: str) -> None:
    """Store an argon2id hash; a Fooocus ``pass`` is removed so no plain text stays behind."""
    entry = _existing(entries, name)
    entry.pop("pass", None)
    entry["hash"] = password_hash


class _Unchanged(Exception):
    """Raised inside an edit to leave the file exactly as it is."""


def upgrade_password(path: Path, name: str, proved: StoredPassword, new_hash: str) -> bool:
    """Store ``new_hash`` for ``name`` if the entry still holds ``proved``; whether it did.

    Two instances can upgrade the same Fooocus password at once (two sign-ins), or an
    administrator can change it meanwhile: the first writer's hash stays, so the sessions
    opened under it are not ended by a second, different hash.
    """

    def change(entries: Entries) -> None:
        records = parse_auth_file(json.dumps(entries).encode("utf-8"), path)
        stored = {lookup_key(record.name): record for record in records}.get(lookup_key(name))
        if stored is None or stored.password != proved:
            raise _Unchanged
        set_password_hash(entries, name, new_hash)

    try:
        edit_entries(path, change)
    except _Unchanged:
        return False
    return True


def set_role(entries: Entries, name: str, role: Role) -> None:
    _existing(entries, name)["role"] = role.value


def remove_user(entries: Entries, name: str) -> dict[str, Any]:
    """Remove the user's entry (their API keys go with it); return what was removed."""
    entry = _existing(entries, name)
    entries.remove(entry)
    return entry


def add_api_key(
    entries: Entries,
    name: str,
    *,
    key_id: str,
    digest: str,
    label: str,
    created: datetime,
    expires: datetime | None,
) -> None:
    """Append a key record to the user's ``api_keys`` (only its digest, never the key)."""
    entry = _existing(entries, name)
    if key_id in all_key_ids(entries):
        raise ConfigError(f"API key id {key_id} is already in use", fix="try again")
    entry.setdefault("api_keys", []).append(
        {
            "id": key_id,
            "name": label,
            "hash": digest,
            "created": iso_time(created),
            "expires": iso_time(expires) if expires is not None else None,
        }
    )


def revoke_api_key(entries: Entries, key_id: str) -> str:
    """Remove the key with this id wherever it is; return the name of its user."""
    for entry in entries:
        keys = entry.get("api_keys", [])
        for item in keys:
            if isinstance(item, dict) and item.get("id") == key_id.lower():
                keys.remove(item)
                return str(entry["user"])
    raise ConfigError(f"no API key with id {key_id}", fix="list the ids with manage.py key-list")


def set_disabled(entries: Entries, name: str, disabled: bool) -> None:
    """Mark the user disabled (``"disabled": true``) or remove the mark."""
    entry = _existing(entries, name)
    if disabled:
        entry["disabled"] = True
    else:
        entry.pop("disabled", None)


def set_link(entries: Entries, name: str, digest: str, expires: datetime) -> None:
    """Store a set-password link's digest and expiry; a newer link replaces an older one."""
    _existing(entries, name)[LINK_FIELD] = {"hash": digest, "expires": iso_time(expires)}


def drop_link(entries: Entries, name: str) -> None:
    _existing(entries, name).pop(LINK_FIELD, None)


def all_key_ids(entries: Entries) -> set[str]:
    return {
        str(item.get("id"))
        for entry in entries
        for item in entry.get("api_keys", [])
        if isinstance(item, dict)
    }


def iso_time(moment: datetime) -> str:
    """How dates are written: ISO 8601 in UTC to the second, as the README shows."""
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat()


def _existing(entries: Entries, name: str) -> dict[str, Any]:
    entry = find_entry(entries, name)
    if entry is None:
        raise ConfigError(f'no user "{name}"', fix="check the name with manage.py list-users")
    return entry
