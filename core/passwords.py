"""Stored password forms and their verification.

Three forms are read from ``auth.json``: argon2id hashes (what this package writes), SHA-256
hex digests and plain text (Fooocus's format). Every verification costs exactly one argon2
verification, whatever the stored form and whether the user exists, so timing tells an
attacker nothing. These functions are CPU-bound: callers run them off the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MAX_PASSWORD_LENGTH = 1024
"""Longer inputs are refused before hashing: no honest password is that long."""

_HASHING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="comfyui-auth-hashing")
"""One thread for every password check (argon2 already uses several cores per hash)."""

_PROCESS_KEY = secrets.token_bytes(32)
"""Key for keeping plain-text passwords from auth.json only as HMACs in memory."""


def make_hasher(*, cheap_for_tests: bool = False) -> argon2.PasswordHasher:
    """argon2id with RFC 9106's low-memory profile, or the cheapest one for test suites."""
    profile = argon2.profiles.CHEAPEST if cheap_for_tests else argon2.profiles.RFC_9106_LOW_MEMORY
    return argon2.PasswordHasher.from_parameters(profile)


def _encode(password: str) -> bytes:
    return password.encode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class StoredPassword:
    """A password as ``auth.json`` stores it; ``kind`` is argon2id, sha256 or plain."""

    kind: str
    material: str = field(repr=False)

    @classmethod
    def from_argon2(cls, encoded: str) -> StoredPassword:
        return cls("argon2id", encoded)

    @classmethod
    def from_sha256(cls, hexdigest: str) -> StoredPassword:
        return cls("sha256", hexdigest.lower())

    @classmethod
    def from_plain(cls, password: str) -> StoredPassword:
        digest = hmac.new(_PROCESS_KEY, _encode(password), hashlib.sha256).hexdigest()
        return cls("plain", digest)

    @property
    def is_legacy(self) -> bool:
        """True for Fooocus forms, which are upgraded to argon2id at the next login."""
        return self.kind != "argon2id"


class PasswordVerifier:
    """Checks a candidate password against a stored form in constant work."""

    def __init__(self, hasher: argon2.PasswordHasher) -> None:
        self._hasher = hasher
        self._dummy_hash = hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        """A new argon2id hash for ``password`` (for writes to auth.json)."""
        return self._hasher.hash(_encode(password))

    async def verify_off_loop(self, stored: StoredPassword | None, candidate: str) -> bool:
        """``verify`` in the package's one hashing thread.

        Attempts queue there instead of filling the event loop's shared thread pool: twenty
        wrong passwords at once hash one after the other, while ``/health``, session reads
        and everything else that needs a worker thread keep getting one.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_HASHING, self.verify, stored, candidate)

    def verify(self, stored: StoredPassword | None, candidate: str) -> bool:
        """True when ``candidate`` matches; ``None`` (unknown user) costs the same and fails."""
        if len(candidate) > MAX_PASSWORD_LENGTH:
            return False
        data = _encode(candidate)
        if stored is None or stored.kind != "argon2id":
            self._argon2(self._dummy_hash, data)  # equalise cost with argon2 users
            return stored is not None and self._legacy(stored, data)
        return self._argon2(stored.material, data)

    def needs_rehash(self, stored: StoredPassword) -> bool:
        """Legacy forms and argon2 hashes with weaker parameters than the current profile."""
        if stored.is_legacy:
            return True
        try:
            return self._hasher.check_needs_rehash(stored.material)
        except InvalidHashError:
            return True

    def _argon2(self, encoded: str, data: bytes) -> bool:
        try:
            return self._hasher.verify(encoded, data)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    @staticmethod
    def _legacy(stored: StoredPassword, data: bytes) -> bool:
        if stored.kind == "sha256":
            digest = hashlib.sha256(data).hexdigest()
        else:
            digest = hmac.new(_PROCESS_KEY, data, hashlib.sha256).hexdigest()
        return hmac.compare_digest(digest.encode("ascii"), stored.material.encode("ascii"))
