"""Device cookies (OWASP "Slow Down Online Guessing Attacks with Device Cookies").

A browser that signed in successfully as a user gets a signed cookie naming that user and a
random device id. When the user's name is being flooded from elsewhere, such a browser is
judged by its own failure record (``device:<id>``) instead of the user name's and the
address's, so a flood cannot take its sign-in away. Everyone else (untrusted devices) is
throttled as before. A device that fails too often loses that standing until its record
drains: it is then judged like any untrusted browser, never more leniently.

The cookie grants no access by itself, only an allowance of attempts for one user name; it
is signed with the server's key (itsdangerous, its own salt) and expires after
``TRUST_DAYS``.
"""

from __future__ import annotations

import secrets

from itsdangerous import BadSignature, URLSafeTimedSerializer

from .auth_file import lookup_key

TRUST_DAYS = 180
_SALT = "comfyui-auth.device-cookie"
_MAX_COOKIE_LENGTH = 1024


class TrustedDevices:
    """Issues device cookies and tells which failure record a presented one stands for."""

    def __init__(self, key: bytes) -> None:
        self._serializer = URLSafeTimedSerializer(key, salt=_SALT)

    @property
    def max_age(self) -> int:
        return TRUST_DAYS * 24 * 3600

    def issue(self, user_name: str) -> str:
        """A new cookie value for a browser that has just signed in as ``user_name``."""
        payload = {"user": lookup_key(user_name), "device": secrets.token_urlsafe(16)}
        return self._serializer.dumps(payload)

    def record_for(self, cookie: str | None, user_name: str) -> str | None:
        """The device's throttle record when ``cookie`` is a valid one for ``user_name``."""
        if not cookie or len(cookie) > _MAX_COOKIE_LENGTH:
            return None
        try:
            payload = self._serializer.loads(cookie, max_age=self.max_age)
        except BadSignature:  # also SignatureExpired
            return None
        if not isinstance(payload, dict):
            return None
        user, device = payload.get("user"), payload.get("device")
        if not isinstance(user, str) or not isinstance(device, str):
            return None
        if user != lookup_key(user_name):
            return None
        return f"device:{device}"
