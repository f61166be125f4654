"""Setting and clearing the session and CSRF cookies with safe attributes.

Session cookie: HttpOnly (scripts never see it), SameSite=Lax (sent on top-level
navigations only), Path=/, Secure when the request arrived over HTTPS (directly or through a
trusted proxy). The CSRF cookie is readable by the page's own script, which copies it into
the ``X-CSRF-Token`` header; SameSite=Strict. "Remember me" gives both a Max-Age; otherwise
they end with the browser. The device cookie (``trusted_devices``) is sent only to the
login routes (Path=/auth), HttpOnly and SameSite=Strict, and outlives sign-out on purpose.
"""

from __future__ import annotations

from aiohttp import web

from ..core.authenticator import NewSession
from .client_view import ClientView
from .request_credentials import CSRF_COOKIE, DEVICE_COOKIE, SESSION_COOKIE


def set_session_cookies(
    response: web.StreamResponse, signed_id: str, new: NewSession, view: ClientView
) -> None:
    max_age = int(new.record.expires - new.record.created) if new.record.persistent else None
    secure = view.scheme == "https"
    response.set_cookie(
        SESSION_COOKIE,
        signed_id,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=secure,
        max_age=max_age,
    )
    response.set_cookie(
        CSRF_COOKIE,
        new.record.csrf_token,
        path="/",
        httponly=False,
        samesite="Strict",
        secure=secure,
        max_age=max_age,
    )


def set_device_cookie(
    response: web.StreamResponse, value: str, max_age: int, view: ClientView
) -> None:
    response.set_cookie(
        DEVICE_COOKIE,
        value,
        path="/auth",
        httponly=True,
        samesite="Strict",
        secure=view.scheme == "https",
        max_age=max_age,
    )


def clear_session_cookies(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path="/")
    response.del_cookie(CSRF_COOKIE, path="/")
