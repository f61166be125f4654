"""HTTP Basic credentials verified lately, so a client that sends them on every request pays
one password hash, not one per request.

``comfy-api-simplified``, ComfyScript's ``aiohttp.BasicAuth`` and browsers behind Fooocus-style
setups send the user name and password with every request and WebSocket; an argon2id
verification per request would cost tens of milliseconds of a worker thread each. After one
successful verification the pair is remembered:

- under an HMAC of the user name and password with the server's signing key, never the
  password itself nor an unkeyed digest of it (a memory dump gives nothing to brute-force
  offline without the key);
- with the credential tag the store had then (``CredentialStore.credential_tag``): an entry
  counts only while the tag is unchanged, so a new password, a new role or a removed user
  forgets it at its next use;
- at most ``capacity`` entries, least recently used dropped first. Only verified pairs are
  stored, so an attacker cannot fill the memory with guesses.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections import OrderedDict

from .auth_file import UserRecord, lookup_key
from .credentials import CredentialStore

DEFAULT_CAPACITY = 1024
_DOMAIN = b"comfyui-auth.basic-credentials\0"


class BasicMemory:
    """Bounded LRU of verified (user, password) digests and the tag each was verified under."""

    def __init__(self, key: bytes, capacity: int = DEFAULT_CAPACITY) -> None:
        self._key = key
        self._capacity = capacity
        self._lock = threading.Lock()
        self._entries: OrderedDict[bytes, tuple[str, str]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def digest(self, user: str, password: str) -> bytes:
        """The keyed digest a pair is remembered under (user names match as in ``auth.json``)."""
        message = b"\0".join(
            part.encode("utf-8", "surrogatepass") for part in (lookup_key(user), password)
        )
        return hmac.new(self._key, _DOMAIN + message, hashlib.sha256).digest()

    def recall(self, digest: bytes, store: CredentialStore, now: float) -> UserRecord | None:
        """The user a remembered pair proves, while its credential tag is unchanged."""
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            name, tag = entry
            current = store.credential_tag(name, None, now)
            if current is None or not hmac.compare_digest(current, tag):
                del self._entries[digest]
                return None
            self._entries.move_to_end(digest)
        return store.user(name)

    def remember(self, digest: bytes, name: str, tag: str) -> None:
        with self._lock:
            self._entries[digest] = (name, tag)
            self._entries.move_to_end(digest)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
