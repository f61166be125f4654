"""What ``manage.py`` does, without the argument parsing: one function per subcommand.

Each function takes the resolved ``Settings`` (so the tool edits exactly the file the server
reads), does its work through ``auth_file_editor`` (atomic 0600 writes that keep unknown
fields) and returns the text to show. Refusals raise ``AuthError`` subclasses whose message
is one sentence; secrets (passwords, keys, digests) never appear in a message, except the new
API key, which ``create_key`` hands back once for the caller to print.

A running server needs no restart and no signal after an edit: it polls ``auth.json``,
replaces its credential store within two seconds, and every session remembers a tag of
the credential it was opened with (``CredentialStore.credential_tag``: the stored password
and role, or the key digest and role), so a changed password, a changed role, a revoked key
or a removed user ends the affected sessions at their next request.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TextIO, TypeVar

from . import auth_file_editor as editor
from .api_keys import digest_token, generate_token
from .auth_file import UserRecord, lookup_key, parse_auth_file
from .credentials import load_credentials
from .errors import AuthError, ConfigError
from .identity import Role
from .password_policy import password_problem
from .passwords import PasswordVerifier, make_hasher
from .set_password_links import digest_of, new_token, plausible
from .settings import Settings, load_settings
from .state_files import read_or_create_signing_key

T = TypeVar("T")
MAX_EXPIRY_DAYS = 36500
LIVE_SERVER_NOTE = "A running ComfyUI applies this within two seconds; no restart needed."
LAST_ADMIN = (
    "This is the last administrator; make another user an administrator first, so that "
    "someone can still manage this server."
)
INVALID_LINK = "This link is invalid, already used or expired. Ask an administrator for a new one."
_PASSWORD_FORMS = {
    "argon2id": "argon2id",
    "sha256": "sha256 (Fooocus; becomes argon2id at the next sign-in)",
    "plain": "plain text (Fooocus; becomes argon2id at the next sign-in)",
}


class Refused(AuthError):
    """The operator asked for something that cannot be done; the message says why."""


@dataclass(frozen=True)
class NewKey:
    """A key just created: the key itself (shown once, never stored) and a description."""

    token: str
    message: str


# --- where the files are ---------------------------------------------------------------


def host_user_dir(package_root: Path) -> Path:
    """ComfyUI's default user directory, seen from ``<ComfyUI>/custom_nodes/<this folder>``."""
    return package_root.parent.parent / "user"


def resolve_settings(
    environ: Mapping[str, str], package_root: Path, auth_file: Path | None = None
) -> Settings:
    """The server's settings as ``load_settings`` reads them, with ``--auth-file`` on top.

    The default auth file sits in ComfyUI's user directory, two folders above this package.
    When the package is not inside a ``custom_nodes`` folder (a development checkout) that
    guess would point somewhere unrelated, so the tool refuses instead of creating a file
    the server never reads.
    """
    user_dir = host_user_dir(package_root)
    settings = load_settings(environ, user_dir)
    if auth_file is not None:
        return replace(settings, auth_file=auth_file, auth_file_explicit=True)
    if package_root.parent.name != "custom_nodes" and _is_inside(settings.auth_file, user_dir):
        raise ConfigError(
            f"{package_root} is not inside ComfyUI's custom_nodes folder, so the default "
            "auth file location is unknown",
            fix="pass --auth-file PATH, or set COMFYUI_AUTH_FILE",
        )
    return settings


def _is_inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


# --- passwords -------------------------------------------------------------------------


def read_new_password(
    name: str, *, from_stdin: bool, stdin: TextIO, ask: Callable[[str], str]
) -> str:
    """A new password for ``name``: one line of ``stdin``, or asked twice with ``ask``.

    Never from the command line, where other users see it in the process list and the
    shell keeps it in its history. The rule is checked after the first prompt, so nobody
    types a refused password twice.
    """
    if from_stdin:
        line = stdin.readline()
        if not line:
            raise Refused("no password on standard input (--password-stdin reads one line)")
        password = line.removesuffix("\n").removesuffix("\r")
        _check_password(password)
        return password
    password = ask(f"New password for {name}: ")
    _check_password(password)
    if ask("Repeat the password: ") != password:
        raise Refused("the two passwords differ; nothing was changed")
    return password


def _check_password(password: str) -> None:
    problem = password_problem(password)
    if problem is not None:
        raise Refused(f"{problem} Nothing was changed.")


def hash_password(settings: Settings, password: str) -> str:
    """An argon2id hash with the server's own parameters (``make_hasher``)."""
    hasher = make_hasher(cheap_for_tests=settings.cheap_hashing_for_tests)
    return PasswordVerifier(hasher).hash(password)


# --- users -----------------------------------------------------------------------------


def ensure_user_can_be_added(settings: Settings, name: str, role: Role) -> None:
    """Refuse a duplicate or invalid name before anyone types a password for it.

    A dry run of the edit, parsed like every write: the name rules are the server's own.
    """
    editor.add_user(editor.read_entries(settings.auth_file), name, "0" * 64, role.value)
    alone = [{"user": name, "hash": "0" * 64, "role": role.value}]
    try:
        parse_auth_file(json.dumps(alone).encode(), settings.auth_file)
    except ConfigError as error:
        problem = error.problem.removeprefix("entry 1").lstrip(": ")  # the only entry
        raise Refused(f'cannot add user "{name}": {problem}. Fix: {error.fix}') from None


def add_user(settings: Settings, name: str, password_hash: str, role: Role) -> str:
    path = settings.auth_file
    _edit(path, lambda entries: editor.add_user(entries, name, password_hash, role.value))
    return f'added {role.value} "{name}" to {path}. {LIVE_SERVER_NOTE}'


def change_password(settings: Settings, name: str, password_hash: str) -> str:
    path = settings.auth_file
    _edit(path, lambda entries: editor.set_password_hash(entries, name, password_hash))
    return (
        f'changed the password of "{name}" in {path}. {LIVE_SERVER_NOTE} Their signed-in '
        "sessions end then; their API keys keep working."
    )


def ensure_user_exists(settings: Settings, name: str) -> None:
    """Refuse an unknown name before anyone types a new password for it."""
    if editor.find_entry(editor.read_entries(settings.auth_file), name) is None:
        raise Refused(f'no user "{name}" in {settings.auth_file} (see manage.py list-users)')


def set_role(settings: Settings, name: str, role: Role) -> str:
    path = settings.auth_file
    _edit(path, lambda entries: editor.set_role(entries, name, role))
    return (
        f'"{name}" is now {_article(role)} {role.value} in {path}. {LIVE_SERVER_NOTE} '
        "Their open sessions end then and they sign in again with the new role."
        + _admin_warning(path)
    )


def remove_user(settings: Settings, name: str) -> str:
    path = settings.auth_file
    removed = _edit(path, lambda entries: editor.remove_user(entries, name))
    keys = removed.get("api_keys", [])
    with_keys = f" and {len(keys)} API key(s)" if keys else ""
    return (
        f'removed "{removed["user"]}"{with_keys} from {path}. {LIVE_SERVER_NOTE} Their '
        "sessions end then." + _admin_warning(path)
    )


def set_disabled(settings: Settings, name: str, disabled: bool) -> str:
    """Disable a user (nothing of theirs signs in; sessions end, keys stop) or enable them.

    The entry stays, keys and password included, so enabling gives everything back; the
    credential store keeps disabled users apart (``CredentialStore.disabled``), which is
    what makes every session, key and Basic pair of theirs fail at its next use.
    """
    path = settings.auth_file
    _edit(path, lambda entries: editor.set_disabled(entries, name, disabled))
    if disabled:
        return (
            f'disabled "{name}" in {path}. {LIVE_SERVER_NOTE} Their sessions end then and '
            "their API keys stop working until they are enabled again." + _admin_warning(path)
        )
    return f'enabled "{name}" in {path}. {LIVE_SERVER_NOTE}'


def refuse_last_admin(settings: Settings, name: str) -> None:
    """Refuse an edit that would leave ``auth.json`` without an enabled administrator.

    The browser API calls this before removing, demoting or disabling someone; with the
    CLI an operator on the machine gets a warning instead (they can always edit the file).
    """
    admins = [lookup_key(user.name) for user in _admins(settings.auth_file)]
    if admins == [lookup_key(name)]:
        raise Refused(LAST_ADMIN)


@dataclass(frozen=True)
class NewLink:
    """A set-password link's token (put into the link once, never stored) and its expiry."""

    token: str
    expires: datetime
    message: str


def create_set_password_link(settings: Settings, name: str, now: datetime | None = None) -> NewLink:
    """A one-time token that lets ``name`` choose a password; replaces any earlier link.

    Only the token's digest and the expiry (``COMFYUI_AUTH_LINK_HOURS``) are written. The
    current password keeps working until the link is used.
    """
    expires = (now or datetime.now(timezone.utc)) + timedelta(
        hours=settings.set_password_link_hours
    )
    token = new_token()
    path = settings.auth_file
    _edit(path, lambda entries: editor.set_link(entries, name, digest_of(token), expires))
    return NewLink(
        token,
        expires,
        f'made a one-time set-password link for "{name}", valid until '
        f"{_when(expires.timestamp())}. {LIVE_SERVER_NOTE}",
    )


def add_user_with_link(
    settings: Settings, name: str, role: Role, now: datetime | None = None
) -> NewLink:
    """A new user without a password of their own, and the link that lets them choose one.

    ``auth.json`` needs a password for every entry, so the user gets the hash of a random
    secret nobody knows: until the link is used nobody can sign in as them.
    """
    add_user(settings, name, hash_password(settings, secrets.token_urlsafe(32)), role)
    return create_set_password_link(settings, name, now)


def use_set_password_link(
    settings: Settings, token: str, password_hash: str, now: float | None = None
) -> str:
    """Store ``password_hash`` for the user whose link ``token`` opens; their name.

    Finding the link, storing the password and removing the link are one locked edit, so
    two requests with the same token cannot both succeed. A disabled user's link does not
    open. Refuses with ``INVALID_LINK`` for any token that does not open a link now.
    """
    if not plausible(token):
        raise Refused(INVALID_LINK)
    moment = now if now is not None else datetime.now(timezone.utc).timestamp()
    path = settings.auth_file

    def change(entries: editor.Entries) -> str:
        records = parse_auth_file(json.dumps(entries).encode("utf-8"), path)
        opened = [r for r in records if r.link is not None and r.link.opens_with(token, moment)]
        if len(opened) != 1 or opened[0].disabled:
            raise Refused(INVALID_LINK)
        name = opened[0].name
        editor.set_password_hash(entries, name, password_hash)
        editor.drop_link(entries, name)
        return name

    return _edit(path, change)


def link_user(settings: Settings, token: str, now: float | None = None) -> str | None:
    """The user whose link ``token`` opens now, or None (shows the page; changes nothing)."""
    if not plausible(token):
        return None
    moment = now if now is not None else datetime.now(timezone.utc).timestamp()
    for user in _users(settings.auth_file):
        if user.link is not None and not user.disabled and user.link.opens_with(token, moment):
            return user.name
    return None


def list_users(settings: Settings) -> str:
    users = _users(settings.auth_file)
    if not users:
        return f"no users in {settings.auth_file}"
    rows = [("USER", "ROLE", "API KEYS", "PASSWORD", "STATE")]
    rows += [
        (
            _printable(user.name),
            user.role.value,
            str(len(user.api_keys)),
            _PASSWORD_FORMS.get(user.password.kind, user.password.kind),
            _state(user),
        )
        for user in users
    ]
    return _table(rows)


# --- API keys --------------------------------------------------------------------------


def create_key(
    settings: Settings,
    name: str,
    label: str,
    expires_days: int | None,
    now: datetime | None = None,
) -> NewKey:
    """A new ``cak_`` key for ``name``: only its SHA-256 digest is written."""
    if expires_days is not None and not 1 <= expires_days <= MAX_EXPIRY_DAYS:
        raise Refused(f"--expires-days must be from 1 to {MAX_EXPIRY_DAYS}")
    if not label.strip() or not label.isprintable():
        raise Refused("--label must be printable text, e.g. --label laptop")
    created = now or datetime.now(timezone.utc)
    expires = created + timedelta(days=expires_days) if expires_days is not None else None

    def change(entries: editor.Entries) -> tuple[str, str]:
        token, key_id = generate_token()
        while key_id in editor.all_key_ids(entries):
            token, key_id = generate_token()
        editor.add_api_key(
            entries,
            name,
            key_id=key_id,
            digest=digest_token(token.encode()),
            label=label,
            created=created,
            expires=expires,
        )
        return token, key_id

    token, key_id = _edit(settings.auth_file, change)
    until = f"until {_when(expires.timestamp())}" if expires is not None else "with no expiry"
    return NewKey(
        token,
        f'created API key {key_id} ("{label}") for "{name}", valid {until}. This is the only '
        "time the key is shown: store it now. Only its SHA-256 digest is in "
        f"{settings.auth_file}. {LIVE_SERVER_NOTE}",
    )


def list_keys(settings: Settings, name: str | None = None, now: float | None = None) -> str:
    """Every key's id, user, label, dates and whether it expired; never a digest."""
    users = _users(settings.auth_file)
    if name is not None:
        ensure_user_exists(settings, name)
        users = tuple(user for user in users if lookup_key(user.name) == lookup_key(name))
    moment = now if now is not None else datetime.now(timezone.utc).timestamp()
    rows = [("ID", "USER", "LABEL", "CREATED", "EXPIRES", "EXPIRED")]
    for user in users:
        rows += [
            (
                key.key_id,
                _printable(user.name),
                _printable(key.name) or "-",
                _when(key.created),
                _when(key.expires, "never"),
                "yes" if key.is_expired(moment) else "no",
            )
            for key in user.api_keys
        ]
    if len(rows) == 1:
        return "no API keys" + (f' for "{name}"' if name is not None else "")
    return _table(rows)


def revoke_key(settings: Settings, key_id: str) -> str:
    path = settings.auth_file
    owner = _edit(path, lambda entries: editor.revoke_api_key(entries, key_id.strip()))
    return (
        f'revoked API key {key_id.strip().lower()} of "{owner}" in {path}. {LIVE_SERVER_NOTE} '
        "The key stops working then, and sessions opened with it end."
    )


# --- check -----------------------------------------------------------------------------


def check(settings: Settings) -> str:
    """Load the auth file and the key file exactly as the server does at start-up.

    Raises ``ConfigError`` with the server's own explanation; returns "ok: N users, M keys"
    followed by notes worth knowing (legacy passwords, expired keys, lax file modes).
    """
    if settings.auth_file_explicit and not settings.auth_file.exists():
        raise ConfigError(
            f"the auth file {settings.auth_file} does not exist",
            fix="create it with manage.py add-user, or correct --auth-file / COMFYUI_AUTH_FILE",
        )
    store = load_credentials(settings, secrets.token_bytes(32))
    now = datetime.now(timezone.utc).timestamp()
    users = list(store.users.values())
    keys = [key for user in users for key in user.api_keys]
    lines = [f"ok: {len(users)} users, {len(keys)} keys", f"auth file: {settings.auth_file}"]
    if store.admin_key is not None:
        source = "COMFYUI_API_KEY_FILE" if settings.api_key_file else "COMFYUI_API_KEY"
        lines.append(f"administrator API key: set ({source})")
    if settings.disabled:
        lines.append("warning: COMFYUI_AUTH_DISABLED is set: the server is open to everyone")
    if store.is_empty:
        lines.append("note: no user and no key: the server offers the first-run setup link")
    legacy = [_printable(user.name) for user in users if user.password.is_legacy]
    if legacy:
        lines.append(f"note: Fooocus passwords, upgraded at next sign-in: {', '.join(legacy)}")
    expired = [key.key_id for key in keys if key.is_expired(now)]
    if expired:
        lines.append(f"note: expired API keys (revoke them): {', '.join(expired)}")
    lines += _mode_warnings([settings.auth_file, *filter(None, [settings.api_key_file])])
    if settings.redis_url is not None:
        lines += _shared_checks(settings)
    return "\n".join(lines)


def _shared_checks(settings: Settings) -> list[str]:
    """With ``COMFYUI_AUTH_REDIS_URL``: this machine's key and file against the running ones.

    Only reads: a check never claims a fingerprint (nor creates a signing key).
    """
    try:
        from .redis_connection import connect
        from .shared_config import (
            SIGNING_KEY_ENTRY,
            auth_file_digest,
            key_mismatch,
            published_digests,
            signing_key_fingerprint,
        )
    except ImportError:
        return ["note: COMFYUI_AUTH_REDIS_URL is set but redis-py is missing: not compared"]

    assert settings.redis_url is not None  # noqa: S101 - checked by the caller
    key_path = settings.signing_key_path
    if not key_path.exists():
        return [f"note: no signing key at {key_path} yet: copy it from the first instance"]
    key = read_or_create_signing_key(key_path)
    shared = connect(settings.redis_url)
    try:
        claimed = shared.client.get(SIGNING_KEY_ENTRY)
        digests = published_digests(shared.client)
    finally:
        shared.client.close()
    if claimed is None:
        return ["shared Redis: no running instance has published its signing key yet"]
    if (claimed.decode() if isinstance(claimed, bytes) else claimed) != signing_key_fingerprint(
        key
    ):
        raise key_mismatch(key_path)
    mine = auth_file_digest(key, settings.auth_file)
    differ = sum(1 for digest in digests.values() if digest != mine)
    lines = [f"shared Redis: the signing key matches the running instances' ({key_path})"]
    if differ:
        lines.append(
            f"warning: {differ} of {len(digests)} running instances read an auth.json that "
            f"differs from {settings.auth_file}: let every instance read the same file"
        )
    elif digests:
        lines.append(f"shared Redis: all {len(digests)} running instances read this auth.json")
    return lines


def _mode_warnings(paths: Iterable[Path]) -> list[str]:
    warnings = []
    for path in paths:
        try:
            mode = path.stat().st_mode & 0o777
        except OSError:
            continue
        if mode & 0o077:
            warnings.append(f"warning: {path} is readable by others (mode {mode:o}): chmod 600")
    return warnings


# --- helpers ---------------------------------------------------------------------------


def _edit(path: Path, change: Callable[[editor.Entries], T]) -> T:
    """``edit_entries``, keeping the file's owner when the tool runs as root.

    ``sudo python manage.py`` would otherwise leave a root-owned 0600 file that the user
    running ComfyUI can no longer read - and a lock file it can no longer open, which would
    stop its password upgrades.
    """
    try:
        owner = path.stat()
    except OSError:
        owner = None
    result = editor.edit_entries(path, change)
    if owner is not None and hasattr(os, "geteuid") and os.geteuid() == 0 and owner.st_uid != 0:
        for written in (path, editor.lock_path(path)):
            os.chown(written, owner.st_uid, owner.st_gid)
    return result


def _users(path: Path) -> tuple[UserRecord, ...]:
    data = editor.read_bytes(path)
    return () if data is None else parse_auth_file(data, path)


def _admins(path: Path) -> list[UserRecord]:
    """The administrators who can sign in: disabled ones manage nothing."""
    return [user for user in _users(path) if user.role is Role.ADMIN and not user.disabled]


def _state(user: UserRecord) -> str:
    if user.disabled:
        return "disabled"
    return "link pending" if user.link is not None else "active"


def _admin_warning(path: Path) -> str:
    if _admins(path):
        return ""
    return (
        "\nwarning: no administrator is left in the file; only COMFYUI_API_KEY reaches "
        "administrator routes (manage.py set-role NAME --role admin)"
    )


def _article(role: Role) -> str:
    return "an" if role is Role.ADMIN else "a"


def _printable(text: str) -> str:
    """File contents shown on a terminal: control characters are escaped, not obeyed."""
    return text if text.isprintable() else ascii(text)


def _when(timestamp: float | None, missing: str = "-") -> str:
    if timestamp is None:
        return missing
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
