"""What the instances sharing one Redis must have in common, published so a mismatch shows.

Every instance behind one load balancer needs the same signing key (a cookie signed by A is
checked by B) and the same ``auth.json``. An instance whose key differs would otherwise
refuse every cookie from the others with a silent 401. So each instance publishes, under
``comfyui-auth:config:``:

- a fingerprint of its signing key (an HMAC of a fixed label under the key, never the key):
  the first instance claims it, and a later one with another fingerprint refuses to start,
  failing closed with a ``ConfigError`` that names the key file and the fix;
- a digest of its ``auth.json`` (an HMAC under the key, so the file's contents cannot be
  guessed from it), one entry per instance: a copy that differs from another instance's for
  longer than an edit takes is reported, and ``manage.py check`` lists them.

Entries live ``TTL_SECONDS`` and each running instance refreshes its own every poll, so once
every instance stops, a new key (rotated everywhere at once) is accepted again.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path

import redis

from .errors import ConfigError
from .redis_connection import KEY_PREFIX

SIGNING_KEY_ENTRY = f"{KEY_PREFIX}:config:signing-key"
AUTH_FILE_ENTRIES = f"{KEY_PREFIX}:config:auth-file:"
TTL_SECONDS = 60
FINGERPRINT_LABEL = b"comfyui-auth signing key fingerprint v1"
DIFFERENT_FOR_POLLS = 5
"""A shared file rewritten by one instance differs from the others' copies for a poll or two."""


def signing_key_fingerprint(signing_key: bytes) -> str:
    return hmac.new(signing_key, FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:32]


def auth_file_digest(signing_key: bytes, path: Path) -> str:
    """A digest of the file's bytes under the key ("missing" when there is no file)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return "missing"
    return hmac.new(signing_key, b"auth-file\0" + data, hashlib.sha256).hexdigest()[:32]


def key_mismatch(key_path: Path) -> ConfigError:
    return ConfigError(
        "this instance's signing key differs from the one the other instances sharing "
        "COMFYUI_AUTH_REDIS_URL use, so none of their cookies would work here",
        fix="copy the secret_key file from the first instance (user/__auth/secret_key) to "
        "this path and restart this instance",
        path=key_path,
    )


@dataclass
class SharedConfig:
    """This instance's published fingerprints, and how its copies compare with the others'."""

    client: redis.Redis
    signing_key: bytes = field(repr=False)
    key_path: Path
    auth_file: Path
    instance: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    )
    different_polls: int = 0

    def claim(self) -> None:
        """At start-up: claim the key fingerprint or match it (``ConfigError`` if not), and
        publish this copy's ``auth.json`` digest."""
        try:
            self._claim()
            self._publish_and_compare()
        except redis.RedisError:
            raise ConfigError(
                "cannot use the Redis server named by COMFYUI_AUTH_REDIS_URL",
                fix="start it, or correct COMFYUI_AUTH_REDIS_URL",
            ) from None

    def refresh(self) -> list[str]:
        """Each poll: refresh this instance's entries; the problems to report (maybe none).

        A Redis that does not answer is reported by the requests that need it (503), so it
        is no problem of this check's.
        """
        try:
            self._claim()
        except ConfigError as error:
            return [error.explanation]
        except redis.RedisError:
            return []
        try:
            others = self._publish_and_compare()
        except redis.RedisError:
            return []
        self.different_polls = self.different_polls + 1 if others else 0
        if self.different_polls == DIFFERENT_FOR_POLLS:
            return [
                f"this instance's {self.auth_file} differs from the one {others} other "
                "instance(s) sharing COMFYUI_AUTH_REDIS_URL use. Fix: let every instance read "
                "the same file (a shared path), or copy it; manage.py check compares them"
            ]
        return []

    def _claim(self) -> None:
        mine = signing_key_fingerprint(self.signing_key)
        pipe = self.client.pipeline()
        pipe.set(SIGNING_KEY_ENTRY, mine, nx=True, ex=TTL_SECONDS)
        pipe.get(SIGNING_KEY_ENTRY)
        _, claimed = pipe.execute()
        if claimed is not None and _text(claimed) != mine:
            raise key_mismatch(self.key_path)
        self.client.expire(SIGNING_KEY_ENTRY, TTL_SECONDS)

    def _publish_and_compare(self) -> int:
        """Publish this copy's digest; the number of live instances whose copy differs."""
        mine = auth_file_digest(self.signing_key, self.auth_file)
        self.client.set(AUTH_FILE_ENTRIES + self.instance, mine, ex=TTL_SECONDS)
        return sum(1 for digest in published_digests(self.client).values() if digest != mine)


def published_digests(client: redis.Redis) -> dict[str, str]:
    """Every live instance's ``auth.json`` digest, by instance name."""
    names = list(client.scan_iter(match=AUTH_FILE_ENTRIES + "*", count=100))
    values = client.mget(names) if names else []
    return {
        _text(name).removeprefix(AUTH_FILE_ENTRIES): _text(value)
        for name, value in zip(names, values, strict=True)
        if value is not None
    }


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
