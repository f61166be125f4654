"""The credential store: an immutable snapshot of every user and key, built from the files.

A snapshot is replaced whole when the files change (see ``credential_source``), so a request
never sees half a reload. Each credential also has a *tag*, an HMAC of what the file stores
for it: a session remembers the tag it was created under and ends as soon as the tag changes
(password changed, role changed, key revoked, user removed or disabled).

A disabled user is kept apart (``disabled``): they are listed for administrators, but no
lookup that signs someone in finds them - no password, no key, no Basic pair, no session
tag - so disabling needs no check of its own anywhere on the request path.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from .api_keys import ApiKeyRecord, key_id_of
from .auth_file import UserRecord, lookup_key, parse_auth_file
from .errors import ConfigError
from .identity import ENV_KEY_ID, ENV_KEY_USER, Identity, Role, Via
from .secret import Secret
from .settings import Settings, check_api_key_shape


@dataclass(frozen=True)
class CredentialStore:
    """Users by lookup key, per-user keys by id, and the administrator key."""

    users: Mapping[str, UserRecord]
    """The users who may sign in (not disabled)."""
    admin_key: Secret | None
    tag_key: bytes = field(repr=False)
    disabled: Mapping[str, UserRecord] = field(default_factory=lambda: MappingProxyType({}))
    """Disabled users by lookup key: in ``auth.json``, but nothing of theirs is accepted."""
    keys_by_id: Mapping[str, tuple[UserRecord, ApiKeyRecord]] = field(init=False, repr=False)
    _tags: dict[tuple[str, ...], str] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    """Tags computed so far: a snapshot never changes, and a session's every request asks."""
    _valid_keys: dict[str, tuple[Identity, float | None]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    """Keys that proved valid in this snapshot: the identity and when the key expires. A
    script sends the same key all day; only valid keys get in, so it holds at most one entry
    per key of the snapshot. A lookup hashes the whole presented token with the process's
    random SipHash key and compares the text only on a 64-bit hash match, so its timing says
    nothing about how close a guess came (the cookie memo of ``cookie_signing`` is the same)."""

    def __post_init__(self) -> None:
        keys = {key.key_id: (user, key) for user in self.users.values() for key in user.api_keys}
        object.__setattr__(self, "keys_by_id", MappingProxyType(keys))

    @property
    def is_empty(self) -> bool:
        """No user and no key: the first-run setup flow is offered."""
        return not self.users and not self.disabled and self.admin_key is None

    def user(self, name: str) -> UserRecord | None:
        """The user of this name who may sign in; None for an unknown or disabled one."""
        return self.users.get(lookup_key(name))

    def listed(self, name: str) -> UserRecord | None:
        """The user of this name in ``auth.json``, disabled or not (for administration)."""
        key = lookup_key(name)
        return self.users.get(key) or self.disabled.get(key)

    def is_disabled(self, name: str) -> bool:
        return lookup_key(name) in self.disabled

    def recall_key(self, token: str, now: float) -> Identity | None:
        """The identity of a key that already proved valid in this snapshot, else None.

        ``token`` may be anything a request carried: only well-formed keys that proved
        valid are in the memo, so a script's every request is one dictionary read, and the
        well-formedness check is left for the tokens it does not know."""
        known = self._valid_keys.get(token)
        if known is None:
            return None
        remembered, expires = known
        return remembered if expires is None or now < expires else None

    def identify_key(self, token: str, now: float) -> Identity | None:
        """The identity a well-formed API key (``request_credentials.is_key_text``) proves."""
        if token in self._valid_keys:
            return self.recall_key(token, now)
        identity = self._check_key(token.encode("ascii"), now)
        if identity is not None:
            found = self.keys_by_id.get(identity.key_id or "")
            self._valid_keys[token] = (identity, found[1].expires if found else None)
        return identity

    def _check_key(self, token: bytes, now: float) -> Identity | None:
        key_id = key_id_of(token)
        if key_id is not None:
            found = self.keys_by_id.get(key_id)
            if found is None:
                return None
            user, record = found
            if record.is_expired(now) or not record.matches(token):
                return None
            return Identity(user.name, user.role, Via.API_KEY, key_id=key_id)
        if self.admin_key is not None and self.admin_key.matches(token):
            return Identity(ENV_KEY_USER, Role.ADMIN, Via.API_KEY, key_id=ENV_KEY_ID)
        return None

    def credential_tag(self, user_name: str, key_id: str | None, now: float) -> str | None:
        """The current tag of a credential, or None when it no longer exists or has expired."""
        if key_id == ENV_KEY_ID:
            if self.admin_key is None:
                return None
            return self._tag("env", hashlib.sha256(self.admin_key.reveal()).hexdigest())
        user = self.user(user_name)
        if user is None:
            return None
        if key_id is None:
            return self._tag("password", user.password.kind, user.password.material, user.role)
        found = self.keys_by_id.get(key_id)
        if found is None or found[0] is not user or found[1].is_expired(now):
            return None
        return self._tag("key", found[1].digest, user.role)

    def all_tags(self) -> list[str]:
        """The tag of every credential in this snapshot, expired keys included."""
        tags = [
            self._tag("password", user.password.kind, user.password.material, user.role)
            for user in self.users.values()
        ]
        tags += [self._tag("key", key.digest, user.role) for user, key in self.keys_by_id.values()]
        if self.admin_key is not None:
            tags.append(self._tag("env", hashlib.sha256(self.admin_key.reveal()).hexdigest()))
        return tags

    def _tag(self, *parts: str) -> str:
        known = self._tags.get(parts)
        if known is None:
            message = "\0".join(parts).encode("utf-8", "surrogatepass")
            known = self._tags[parts] = hmac.new(self.tag_key, message, hashlib.sha256).hexdigest()
        return known


def load_credentials(settings: Settings, tag_key: bytes) -> CredentialStore:
    """Read ``auth.json`` and the key file named by ``settings``; raise ``ConfigError``."""
    users = _read_users(settings)
    admin_key = settings.api_key
    if settings.api_key_file is not None:
        if admin_key is not None:
            raise ConfigError(
                "both COMFYUI_API_KEY and COMFYUI_API_KEY_FILE are set",
                fix="keep only one of them",
            )
        admin_key = _read_key_file(settings.api_key_file)
    by_key = {lookup_key(user.name): user for user in users if not user.disabled}
    off = {lookup_key(user.name): user for user in users if user.disabled}
    return CredentialStore(MappingProxyType(by_key), admin_key, tag_key, MappingProxyType(off))


def _read_users(settings: Settings) -> tuple[UserRecord, ...]:
    path = settings.auth_file
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if settings.auth_file_explicit:
            raise ConfigError(
                "COMFYUI_AUTH_FILE names a file that does not exist",
                fix="create it (see the README) or correct COMFYUI_AUTH_FILE",
                path=path,
            ) from None
        return ()
    except OSError as error:
        raise ConfigError(
            f"cannot read the auth file ({error.strerror})",
            fix="make it a readable file for the user running ComfyUI (mode 0600)",
            path=path,
        ) from None
    return parse_auth_file(data, path)


def _read_key_file(path: Path) -> Secret:
    try:
        with path.open("rb") as stream:
            first_line = stream.readline(4096)
    except OSError as error:
        raise ConfigError(
            f"cannot read COMFYUI_API_KEY_FILE ({error.strerror})",
            fix="point it at a readable file holding the key on its first line (mode 0600)",
            path=path,
        ) from None
    try:
        key = first_line.decode("utf-8").strip()
    except UnicodeDecodeError:
        key = ""
    if not key:
        raise ConfigError(
            "COMFYUI_API_KEY_FILE has no key on its first line",
            fix="write the key on the file's first line",
            path=path,
        )
    check_api_key_shape(key, source="COMFYUI_API_KEY_FILE", path=path)
    return Secret(key)
