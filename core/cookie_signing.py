"""Signing of the session cookie with itsdangerous (no hand-written HMAC code).

The cookie carries only a random session id; the signature lets the server drop forged or
tampered cookies before touching the session store. Keys are a list so they can be rotated:
the newest signs, all verify.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from itsdangerous import BadSignature, Signer

_SALT = "comfyui-auth.session-cookie"


class CookieSigner:
    """Turns a session id into a cookie value and back."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("at least one signing key is needed")
        # itsdangerous signs with the last key and verifies with all of them.
        self._signer = Signer(list(keys), salt=_SALT, digest_method=hashlib.sha256)

    def sign(self, session_id: str) -> str:
        return self._signer.sign(session_id.encode("ascii")).decode("ascii")

    def unsign(self, cookie: str) -> str | None:
        """The session id, or None for a forged, tampered or malformed cookie."""
        if not cookie or len(cookie) > 256 or not cookie.isascii():
            return None
        try:
            return self._signer.unsign(cookie.encode("ascii")).decode("ascii")
        except (BadSignature, UnicodeDecodeError):
            return None
