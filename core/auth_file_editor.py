"""Changes to ``auth.json`` that keep what they do not understand.

Entries are edited as plain JSON objects, so fields another tool (or a later version) added
survive, in users and in API keys alike, and entries an edit does not touch are written back
as they were read. Every write goes through ``write_private_file``: atomic, fsynced, mode
0600. The result is parsed before it is written, so an edit can never leave a file this
package would refuse.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from .auth_file import lookup_key, parse_auth_file
from .errors import ConfigError
from .identity import Role
from .state_files import ensure_private_dir, write_private_file

Entries = list[dict[str, Any]]
T = TypeVar("T")
EDIT_ATTEMPTS = 3
"""The server rewrites the file itself (password upgrades): an edit that raced it is redone."""


def read_entries(path: Path) -> Entries:
    """The file's entries as JSON objects ([] when the file does not exist yet)."""
    return _entries(read_bytes(path), path)


def write_entries(path: Path, entries: Entries) -> None:
    data = (json.dumps(entries, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    parse_auth_file(data, path)
    ensure_private_dir(path.parent)
    write_private_file(path, data)


def edit_entries(path: Path, change: Callable[[Entries], T]) -> T:
    """Read the file, apply ``change`` to its entries and write the result back.

    The file is read again just before the write: if someone else (the running server
    upgrading a password, a second ``manage.py``) wrote it in between, the edit is redone on
    their version instead of silently overwriting it. ``change`` raises ``ConfigError`` to
    refuse; the file is then left untouched.
    """
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
