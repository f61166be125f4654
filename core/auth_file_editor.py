"""Changes to ``auth.json`` that keep what they do not understand.

Entries are edited as plain JSON objects, so fields another tool (or a later version) added
survive. Every write goes through ``write_private_file``: atomic, fsynced, mode 0600. The
result is parsed before it is written, so an edit can never leave a file this package would
refuse.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .auth_file import lookup_key, parse_auth_file
from .errors import ConfigError
from .state_files import ensure_private_dir, write_private_file

Entries = list[dict[str, Any]]


def read_entries(path: Path) -> Entries:
    """The file's entries as JSON objects ([] when the file does not exist yet)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    parse_auth_file(data, path)  # refuse to edit a file that is already broken
    entries: Entries = json.loads(data.decode("utf-8-sig"))
    return entries


def write_entries(path: Path, entries: Entries) -> None:
    data = (json.dumps(entries, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    parse_auth_file(data, path)
    ensure_private_dir(path.parent)
    write_private_file(path, data)


def find_entry(entries: Entries, name: str) -> dict[str, Any] | None:
    wanted = lookup_key(name)
    for entry in entries:
        if isinstance(entry.get("user"), str) and lookup_key(entry["user"]) == wanted:
            return entry
    return None


def add_user(entries: Entries, name: str, password_hash: str, role: str) -> None:
    if find_entry(entries, name) is not None:
        raise ConfigError(f'user "{name}" already exists', fix="choose another name")
    entries.append({"user": name, "hash": password_hash, "role": role})


def set_password_hash(entries: Entries, name: str, password_hash: str) -> None:
    """Store an argon2id hash; a Fooocus ``pass`` is removed so no plain text stays behind."""
    entry = _existing(entries, name)
    entry.pop("pass", None)
    entry["hash"] = password_hash


def _existing(entries: Entries, name: str) -> dict[str, Any]:
    entry = find_entry(entries, name)
    if entry is None:
        raise ConfigError(f'no user "{name}"', fix="check the name with manage.py list")
    return entry
