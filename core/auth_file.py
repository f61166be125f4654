"""Reading ``auth.json``: Fooocus's user list, extended with roles, argon2id and API keys.

The file is a JSON array of objects. Fooocus's fields are read exactly as Fooocus reads them
(``user``; ``hash`` wins over ``pass``); this package adds ``role``, ``api_keys``,
``disabled`` (``true``: the user cannot sign in by any means; the entry stays so it can be
enabled again) and ``set_password`` (a pending one-time link, ``set_password_links``). Every
problem raises ``ConfigError`` naming the file, the entry and the fix, never a password.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .api_keys import DIGEST_PREFIX, ApiKeyRecord
from .errors import ConfigError
from .identity import ENV_KEY_USER, Role
from .passwords import StoredPassword
from .set_password_links import DIGEST_PREFIX as LINK_DIGEST_PREFIX
from .set_password_links import FIELD as LINK_FIELD
from .set_password_links import SetPasswordLink

MAX_USER_NAME_LENGTH = 64
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
_KEY_ID = re.compile(r"[0-9a-f]{12}")
FORMAT_FIX = (
    'write a JSON array such as [{"user": "alice", "hash": "$argon2id$..."}] '
    "(see the README), or manage users with manage.py"
)


@dataclass(frozen=True)
class UserRecord:
    """One user of ``auth.json``."""

    name: str
    role: Role
    password: StoredPassword
    api_keys: tuple[ApiKeyRecord, ...] = ()
    disabled: bool = False
    link: SetPasswordLink | None = None
    """A pending set-password link (its digest and expiry), if an administrator made one."""


def lookup_key(name: str) -> str:
    """User names match case-insensitively after Unicode NFKC, so "Alice" is "alice"."""
    return unicodedata.normalize("NFKC", name).casefold()


def parse_auth_file(data: bytes, path: Path) -> tuple[UserRecord, ...]:
    """Parse the file's bytes; raise ``ConfigError`` for anything that is not valid."""
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ConfigError("auth file is not UTF-8 text", fix=FORMAT_FIX, path=path) from None
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"auth file is not valid JSON (line {error.lineno}, column {error.colno})",
            fix="correct the JSON syntax",
            path=path,
        ) from None
    except (ValueError, RecursionError):
        # Valid JSON syntax that Python refuses: a number of more than 4300 digits, or
        # arrays nested thousands deep. Must be a ConfigError like any other bad file, or
        # the credential watcher (which keeps the last good store on ConfigError) dies.
        raise ConfigError(
            "auth file holds a number too long or nesting too deep to read",
            fix=FORMAT_FIX,
            path=path,
        ) from None
    if not isinstance(document, list):
        raise ConfigError("auth file must hold a JSON array of users", fix=FORMAT_FIX, path=path)
    users = tuple(_user(entry, index, path) for index, entry in enumerate(document, start=1))
    _reject_duplicates(users, path)
    return users


def _user(entry: Any, index: int, path: Path) -> UserRecord:
    if not isinstance(entry, dict):
        raise ConfigError(f"entry {index} is not a JSON object", fix=FORMAT_FIX, path=path)
    where = f"entry {index}"
    name = entry.get("user")
    if not isinstance(name, str) or not _valid_name(name):
        raise ConfigError(
            f'{where} needs a "user" name of 1 to {MAX_USER_NAME_LENGTH} printable characters, '
            "without leading or trailing spaces and not starting with __",
            fix="correct the user name",
            path=path,
        )
    if lookup_key(name) == ENV_KEY_USER:
        raise ConfigError(
            f'{where}: the user name "{ENV_KEY_USER}" is reserved for COMFYUI_API_KEY',
            fix="choose another user name",
            path=path,
        )
    where = f'{where} (user "{name}")'
    return UserRecord(
        name=name,
        role=_role(entry.get("role", "user"), where, path),
        password=_password(entry, where, path),
        api_keys=_api_keys(entry.get("api_keys", []), where, path),
        disabled=_disabled(entry.get("disabled", False), where, path),
        link=_link(entry.get(LINK_FIELD), where, path),
    )


def _disabled(value: Any, where: str, path: Path) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(
            f'{where} has a "disabled" that is not true or false',
            fix='set "disabled" to true or false (manage.py disable / enable), or remove it',
            path=path,
        )
    return value


def _link(value: Any, where: str, path: Path) -> SetPasswordLink | None:
    if value is None:
        return None
    fix = f'remove "{LINK_FIELD}" and make a new link'
    digest = value.get("hash") if isinstance(value, dict) else None
    if (
        not isinstance(digest, str)
        or not digest.startswith(LINK_DIGEST_PREFIX)
        or not _SHA256_HEX.fullmatch(digest[len(LINK_DIGEST_PREFIX) :])
    ):
        raise ConfigError(f'{where}: "{LINK_FIELD}" has no valid "hash"', fix=fix, path=path)
    expires = _timestamp(value.get("expires"), f'{where}: "{LINK_FIELD}"', path)
    if expires is None:
        raise ConfigError(f'{where}: "{LINK_FIELD}" has no "expires"', fix=fix, path=path)
    return SetPasswordLink(digest=digest.lower(), expires=expires)


def _valid_name(name: str) -> bool:
    return (
        0 < len(name) <= MAX_USER_NAME_LENGTH
        and name.isprintable()
        and name == name.strip()
        and not name.startswith("__")
    )


def _role(value: Any, where: str, path: Path) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise ConfigError(
            f'{where} has a "role" other than "admin" or "user"',
            fix='set "role" to "admin" or "user", or remove it',
            path=path,
        ) from None


def _password(entry: Mapping[str, Any], where: str, path: Path) -> StoredPassword:
    stored_hash = entry.get("hash")
    if stored_hash is not None:
        if isinstance(stored_hash, str) and stored_hash.startswith("$argon2id$"):
            return StoredPassword.from_argon2(stored_hash)
        if isinstance(stored_hash, str) and _SHA256_HEX.fullmatch(stored_hash):
            return StoredPassword.from_sha256(stored_hash)
        raise ConfigError(
            f'{where} has a "hash" that is neither an argon2id hash nor a SHA-256 hex digest',
            fix='store an argon2id hash (manage.py passwd) or use "pass"',
            path=path,
        )
    plain = entry.get("pass")
    if isinstance(plain, str) and plain:
        return StoredPassword.from_plain(plain)
    raise ConfigError(
        f'{where} needs a "hash" or a non-empty "pass"',
        fix="set a password with manage.py passwd",
        path=path,
    )


def _api_keys(value: Any, where: str, path: Path) -> tuple[ApiKeyRecord, ...]:
    if not isinstance(value, list):
        raise ConfigError(f'{where}: "api_keys" must be an array', fix=FORMAT_FIX, path=path)
    return tuple(_api_key(item, where, path) for item in value)


def _api_key(item: Any, where: str, path: Path) -> ApiKeyRecord:
    fix = "recreate the key with manage.py key-create, or remove the entry"
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: an API key entry is not an object", fix=fix, path=path)
    key_id, digest, name = item.get("id"), item.get("hash"), item.get("name", "")
    if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
        raise ConfigError(f"{where}: an API key has no valid id", fix=fix, path=path)
    if (
        not isinstance(digest, str)
        or not digest.startswith(DIGEST_PREFIX)
        or not _SHA256_HEX.fullmatch(digest[len(DIGEST_PREFIX) :])
    ):
        raise ConfigError(f'{where}: API key {key_id} has no valid "hash"', fix=fix, path=path)
    if not isinstance(name, str):
        raise ConfigError(f"{where}: API key {key_id} has a non-text name", fix=fix, path=path)
    return ApiKeyRecord(
        key_id=key_id,
        name=name,
        digest=digest.lower(),
        expires=_timestamp(item.get("expires"), f"{where}: API key {key_id}", path),
        created=_timestamp(item.get("created"), f"{where}: API key {key_id}", path),
    )


def _timestamp(value: Any, where: str, path: Path) -> float | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None:
        raise ConfigError(
            f"{where} has a date that is not ISO 8601",
            fix="write dates like 2026-12-31T00:00:00+00:00",
            path=path,
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _reject_duplicates(users: tuple[UserRecord, ...], path: Path) -> None:
    seen_users: set[str] = set()
    seen_keys: set[str] = set()
    for user in users:
        key = lookup_key(user.name)
        if key in seen_users:
            raise ConfigError(
                f'user "{user.name}" appears twice (names match case-insensitively)',
                fix="keep one entry per user",
                path=path,
            )
        seen_users.add(key)
        for api_key in user.api_keys:
            if api_key.key_id in seen_keys:
                raise ConfigError(
                    f"API key id {api_key.key_id} appears twice", fix="revoke one", path=path
                )
            seen_keys.add(api_key.key_id)
