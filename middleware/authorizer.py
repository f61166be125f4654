"""May they: the authorizer's checks, each side-effect free (nothing is claimed or written).

For a caller already identified: the route's class (``host_routes``: administrators only, or
anyone signed in), then, for ambient credentials (cookie, proxy header, Basic from a
browser), same-origin for writes and WebSockets and the CSRF token for cookie writes, and a
WebSocket ``clientId`` that is not another user's. The answer is the reason for a refusal or
None; the middleware turns it into a 403 and, on success, claims the ``clientId``.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from ..core.identity import Identity, Via
from .client_ids import TAKEN as CLIENT_ID_TAKEN
from .client_view import client_view
from .host_routes import RouteInfo
from .request_credentials import CSRF_HEADER
from .runtime import AuthRuntime
from .same_origin import is_same_origin
from .user_files import ADMIN_ONLY

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def refusal(
    runtime: AuthRuntime,
    request: web.Request,
    identity: Identity,
    route: RouteInfo,
    websocket: bool,
) -> str | None:
    """Why an authenticated caller may not go on, or None. ``route`` and ``websocket`` are
    the request's, worked out once by the caller (``HostRoutes.info``, ``is_websocket``)."""
    if route.admin_only and not identity.is_admin:
        return ADMIN_ONLY
    if websocket:
        client_id = request.rel_url.query.get("clientId")
        if client_id and runtime.client_ids.is_taken(client_id, identity.name):
            return CLIENT_ID_TAKEN
    if not identity.uses_ambient_credentials:
        return None
    is_write = request.method not in SAFE_METHODS
    if not (is_write or websocket):
        return None
    allowed = runtime.settings.allowed_origins
    if not is_same_origin(
        request, client_view(request, runtime.settings.trusted_proxies), allowed, required=True
    ):
        return "cross-site request refused"
    if is_write and identity.via is Via.SESSION and not csrf_token_matches(request, identity):
        return "missing or wrong CSRF token"
    return None


def csrf_token_matches(request: web.Request, identity: Identity) -> bool:
    sent = request.headers.getall(CSRF_HEADER, [])
    if len(sent) != 1 or identity.csrf_token is None:
        return False
    return hmac.compare_digest(
        sent[0].encode("utf-8", "replace"), identity.csrf_token.encode("ascii")
    )
