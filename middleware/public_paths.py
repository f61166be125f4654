"""The exact list of paths anyone may reach. Nothing else is public.

The list is matched against the *raw* request path, byte for byte: no decoding, no suffix or
prefix rule, no normalisation. A trick such as ``/%68ealth``, ``/health/``, ``//health`` or
``/health/../prompt`` is simply not on the list, so it needs credentials like any other path.
"""

from __future__ import annotations

from aiohttp import web

from ..core.set_password_links import PATH as SET_PASSWORD_PATH

LOGIN_PATH = "/auth/login"
LOGOUT_PATH = "/auth/logout"
SETUP_PATH = "/auth/setup"
HEALTH_PATH = "/health"
INJECT_PATHS = ("/auth/inject.js", "/auth_inject.js")
LEGACY_LOGIN_PATH = "/auth_login.html"
STATIC_ASSETS = {
    "/auth/static/login.css": "login.css",
    "/auth/static/login.js": "login.js",
    "/auth/static/set_password.js": "set_password.js",
}

PUBLIC_PATHS = frozenset(
    {
        HEALTH_PATH,
        LOGIN_PATH,
        LEGACY_LOGIN_PATH,
        LOGOUT_PATH,
        SETUP_PATH,
        SET_PASSWORD_PATH,
        *INJECT_PATHS,
    }
    | STATIC_ASSETS.keys()
)


def is_public(request: web.Request) -> bool:
    """True only for an exact, undecoded match of a public path."""
    return request.rel_url.raw_path in PUBLIC_PATHS
