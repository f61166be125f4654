"""Signing of the session cookie with itsdangerous (no hand-written HMAC code).

The cookie carries only a random session id; the signature lets the server drop forged or
tampered cookies before touching the session store. Keys are a list so they can be rotated:
the newest signs, all verify.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import NamedTuple

from itsdangerous import BadSignature, Signer

from .session_store import hash_session_id

_SALT = "comfyui-auth.session-cookie"
VERIFIED_CAPACITY = 10_000


class VerifiedCookie(NamedTuple):
    """A cookie whose signature held: the session id and its digest (the store's key)."""

    session_id: str
    id_hash: str


class CookieSigner:
    """Turns a session id into a cookie value and back."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("at least one signing key is needed")
        # itsdangerous signs with the last key and verifies with all of them.
        self._signer = Signer(list(keys), salt=_SALT, digest_method=hashlib.sha256)
        self._verified: dict[str, VerifiedCookie] = {}
        """Cookies whose signature held: a browser sends the same one all day. A signature
        never expires (the keys change only with a restart), and only valid cookies are
        kept, the oldest first out (a cookie pushed out is verified again), so forged ones
        cannot grow it."""

    def sign(self, session_id: str) -> str:
        return self._signer.sign(session_id.encode("ascii")).decode("ascii")

    def unsign(self, cookie: str) -> str | None:
        """The session id, or None for a forged, tampered or malformed cookie."""
        verified = self.verify(cookie)
        return verified.session_id if verified is not None else None

    def verify(self, cookie: str) -> VerifiedCookie | None:
        """``unsign`` with the id's digest, worked out once per cookie rather than per request."""
        known = self._verified.get(cookie)
        if known is not None:
            return known
        if not cookie or len(cookie) > 256 or not cookie.isascii():
            return None
        try:
            session_id = self._signer.unsign(cookie.encode("ascii")).decode("ascii")
        except (BadSignature, UnicodeDecodeError):
            return None
        verified = self._verified[cookie] = VerifiedCookie(session_id, hash_session_id(session_id))
        while len(self._verified) > VERIFIED_CAPACITY:
            del self._verified[next(iter(self._verified))]
        return verified
