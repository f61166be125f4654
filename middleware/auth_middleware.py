"""The middleware at the front of ComfyUI's app: deny by default, decide before any handler.

Order of decisions for every request that is not on the public list:

1. who is calling (API key, trusted-proxy header, session cookie, or HTTP Basic) -
   ``identify``;
2. nobody: a browser navigation is sent to the login page, anything else gets 401;
3. may they reach this route (``route_policy``), and, for cookie or proxy callers, does a
   write or WebSocket come from this site with the CSRF token (``same_origin``);
4. then the host's handler runs, with the identity stored on the request.

The middleware runs before any handler reads the request body, so an unauthenticated upload
is refused without being read. When the Redis store that several instances share does not
answer, this request and the package's own routes get a 503: never a 500, never a guess.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web

from ..core.auth_file import lookup_key
from ..core.errors import BadBody, MalformedCredentials, SharedStateUnavailable
from ..core.identity import ENV_KEY_USER, Identity, Role, Via
from ..core.throttle import address_key, user_key
from . import responses
from .client_ids import TAKEN as CLIENT_ID_TAKEN
from .client_view import ClientView, client_view
from .host_users import without_foreign_user_header
from .isolated_call import Call, RuleTable
from .public_paths import is_public
from .queue_isolation import USER_RULES as PROMPT_RULES
from .queue_isolation import queue_prompt
from .request_credentials import (
    CSRF_HEADER,
    BasicCredentials,
    has_query_key,
    key_bytes,
    presented_basic,
    presented_key,
    session_cookie,
)
from .return_path import safe_return_path
from .runtime import IDENTITY, AuthRuntime, Handler
from .same_origin import is_cross_site, is_same_origin
from .user_files import FILE_RULES, REQUEST_CALLER, own_users

logger = logging.getLogger(__name__)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def make_auth_middleware(runtime: AuthRuntime) -> Callable[..., Awaitable[web.StreamResponse]]:
    """The middleware bound to one ``AuthRuntime``."""

    @web.middleware
    async def comfyui_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await _guard(runtime, request, handler)
        except SharedStateUnavailable as error:
            logger.warning("comfyui-auth refused %s with 503: %s", request.path, error)
            return responses.shared_state_unavailable()

    return comfyui_auth


async def _guard(
    runtime: AuthRuntime, request: web.Request, handler: Handler
) -> web.StreamResponse:
    """Decide, then call the handler (public routes, the login routes among them, at once)."""
    if is_public(request):
        return await handler(request)
    if runtime.host.cors_origin and _is_cors_preflight(request):
        return responses.cors_preflight(runtime.host.cors_origin)
    try:
        identity = await identify(runtime, request)
    except MalformedCredentials as error:
        runtime.audit.record(
            "access_refused",
            client=_view(runtime, request).address,
            route=request.path_qs,
            reason=error.reason,
        )
        return responses.malformed_credentials(error.reason)
    if isinstance(identity, web.StreamResponse):
        return identity
    if identity is None:
        return _not_signed_in(runtime, request)
    refusal = _refusal(runtime, request, identity)
    if refusal is not None:
        runtime.audit.record(
            "access_refused",
            user=identity.name,
            client=_view(runtime, request).address,
            route=request.path_qs,
            reason=refusal,
        )
        return responses.forbidden(refusal)
    if runtime.index.applies_to(request):
        return runtime.index.response()
    request = without_foreign_user_header(request, identity.name)
    request[IDENTITY] = identity
    caller = REQUEST_CALLER.set(identity)
    try:
        return await _call_host(runtime, request, identity, handler)
    except BadBody as error:
        return responses.bad_body(error)
    finally:
        REQUEST_CALLER.reset(caller)


EVERYONE_RULES: RuleTable = {("POST", "/prompt"): queue_prompt, ("GET", "/users"): own_users}
USER_RULES: RuleTable = {**PROMPT_RULES, **FILE_RULES}


async def _call_host(
    runtime: AuthRuntime, request: web.Request, identity: Identity, handler: Handler
) -> web.StreamResponse:
    """The host's handler, through the rule that cuts its route to what the caller owns."""
    key = runtime.routes.info(request).key
    rule = EVERYONE_RULES.get(key)
    if rule is None and not identity.is_admin:
        rule = USER_RULES.get(key)
    if rule is None:
        return await handler(request)
    return await rule(Call(runtime, request, identity, handler))


def _is_cors_preflight(request: web.Request) -> bool:
    return (
        request.method == hdrs.METH_OPTIONS
        and hdrs.ORIGIN in request.headers
        and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers
    )


def _view(runtime: AuthRuntime, request: web.Request) -> ClientView:
    """The client behind the request, built when first needed (a valid key never needs it)."""
    return client_view(request, runtime.settings.trusted_proxies)


async def identify(
    runtime: AuthRuntime, request: web.Request
) -> Identity | web.StreamResponse | None:
    """The caller's identity, a refusal (bad or throttled credential), or None for nobody.

    An API key wins over everything else; HTTP Basic counts last, so a browser behind a
    proxy that adds its own Basic header keeps its session, and never when a browser says
    another site started the request (browsers resend Basic credentials on their own).
    """
    token = presented_key(request)
    if token is not None:
        return await _identify_key(runtime, request, token)
    proxied = _proxy_identity(runtime, request)
    if proxied is not None:
        return proxied
    cookie = session_cookie(request)
    if cookie:
        session_id = runtime.cookies.unsign(cookie)
        if session_id is not None:
            identity = await runtime.authenticator.identify_session(session_id)
            if identity is not None:
                return identity
    basic = presented_basic(request)
    if basic is not None and not is_cross_site(
        request, _view(runtime, request), runtime.settings.allowed_origins
    ):
        return await _identify_basic(runtime, request, basic)
    return None


async def _identify_key(
    runtime: AuthRuntime, request: web.Request, token: bytes
) -> Identity | web.StreamResponse:
    """A valid key passes whatever failed before it; only failures meet the throttle.

    Keys are long random strings, so counting failures guards nothing a guess could win,
    and consulting the throttle first would let a flood of bad keys from a shared address
    (a NAT, an untrusted proxy) lock out every holder of a good one there.
    """
    identity = runtime.authenticator.identify_key(token)
    if identity is not None:
        _audit_first_use(runtime, request, identity)
        return identity
    view = _view(runtime, request)
    key = address_key(view.address)
    wait = await runtime.throttle.retry_after(key)
    if wait:
        runtime.audit.record("throttled", client=view.address, route=request.path_qs)
        return responses.throttled(wait)
    await runtime.throttle.record_failure(key)
    runtime.audit.record(
        "access_refused", client=view.address, route=request.path_qs, reason="invalid API key"
    )
    return responses.unauthorized("invalid API key")


async def _identify_basic(
    runtime: AuthRuntime, request: web.Request, basic: BasicCredentials
) -> Identity | web.StreamResponse:
    """Basic: an API key as the password, a pair verified before, else one password hash.

    The hash is throttled like a sign-in (per address and user name, checked before it
    runs); a pair already verified and unchanged since is accepted without either.
    """
    authenticator = runtime.authenticator
    key = key_bytes(basic.password)
    identity = authenticator.identify_key(key) if key is not None else None
    if identity is not None:
        _audit_first_use(runtime, request, identity)
        return identity
    identity = authenticator.recall_basic(basic.user, basic.password)
    if identity is not None:
        return identity
    view = _view(runtime, request)
    known = authenticator.credentials.current.user(basic.user) is not None
    keys = (address_key(view.address), user_key(lookup_key(basic.user), known=known))
    wait = await runtime.throttle.retry_after(*keys)
    if wait:
        runtime.audit.record(
            "throttled", user=basic.user, client=view.address, route=request.path_qs
        )
        return responses.throttled(wait)
    identity = await authenticator.verify_basic(basic.user, basic.password)
    if identity is None:
        await runtime.throttle.record_failure(*keys)
        runtime.audit.record(
            "login_failure",
            user=basic.user,
            client=view.address,
            route=request.path_qs,
            reason="wrong user name or password (HTTP Basic)",
        )
        if _is_navigation(request):
            return responses.redirect_to_login(safe_return_path(request.path_qs))
        return responses.unauthorized("wrong user name or password")
    runtime.audit.record(
        "login_success",
        user=identity.name,
        client=view.address,
        route=request.path,
        reason="HTTP Basic password",
    )
    return identity


def _audit_first_use(runtime: AuthRuntime, request: web.Request, identity: Identity) -> None:
    key_id = identity.key_id or identity.name
    if key_id not in runtime.keys_seen:
        runtime.keys_seen.add(key_id)  # bounded: only ids of valid keys get here
        runtime.audit.record(
            "key_used",
            user=identity.name,
            client=_view(runtime, request).address,
            route=request.path,
            reason=key_id,
        )


def _proxy_identity(runtime: AuthRuntime, request: web.Request) -> Identity | None:
    """Single sign-on: a user header counts only when set by a trusted proxy."""
    settings = runtime.settings
    if settings.proxy_user_header is None or not _view(runtime, request).via_trusted_proxy:
        return None
    name = request.headers.get(settings.proxy_user_header, "").strip()
    if not name or len(name) > 256 or not name.isprintable():
        return None
    if lookup_key(name) == ENV_KEY_USER:  # reserved for the admin key, as in auth.json
        return None
    groups: set[str] = set()
    if settings.proxy_groups_header is not None:
        raw = request.headers.get(settings.proxy_groups_header, "")
        groups = {group.strip() for group in raw.split(",") if group.strip()}
    role = Role.ADMIN if groups & settings.proxy_admin_groups else Role.USER
    return Identity(name, role, Via.PROXY)


def _not_signed_in(runtime: AuthRuntime, request: web.Request) -> web.StreamResponse:
    runtime.audit.record(
        "access_refused",
        client=_view(runtime, request).address,
        route=request.path_qs,
        reason="not signed in",
    )
    if _is_navigation(request):
        return responses.redirect_to_login(safe_return_path(request.path_qs))
    return responses.unauthorized()


def _refusal(runtime: AuthRuntime, request: web.Request, identity: Identity) -> str | None:
    """Why an authenticated caller may not go on, or None."""
    if not identity.is_admin and runtime.routes.info(request).admin_only:
        return "this route is for administrators"
    if _is_websocket(request):
        client_id = request.rel_url.query.get("clientId")
        if client_id and not runtime.client_ids.claim(client_id, identity.name):
            return CLIENT_ID_TAKEN
    if not identity.uses_ambient_credentials:
        return None
    is_write = request.method not in SAFE_METHODS
    if not (is_write or _is_websocket(request)):
        return None
    allowed = runtime.settings.allowed_origins
    if not is_same_origin(request, _view(runtime, request), allowed, required=True):
        return "cross-site request refused"
    if is_write and identity.via is Via.SESSION and not _csrf_token_matches(request, identity):
        return "missing or wrong CSRF token"
    return None


def _csrf_token_matches(request: web.Request, identity: Identity) -> bool:
    sent = request.headers.getall(CSRF_HEADER, [])
    if len(sent) != 1 or identity.csrf_token is None:
        return False
    return hmac.compare_digest(
        sent[0].encode("utf-8", "replace"), identity.csrf_token.encode("ascii")
    )


def _is_websocket(request: web.Request) -> bool:
    return request.headers.get(hdrs.UPGRADE, "").lower() == "websocket"


def _is_navigation(request: web.Request) -> bool:
    """A browser loading a page: GET with HTML accepted, and no API key being tried."""
    if request.method not in ("GET", "HEAD") or _is_websocket(request) or has_query_key(request):
        return False
    mode = request.headers.get("Sec-Fetch-Mode")
    if mode is not None:
        return mode == "navigate"
    return "text/html" in request.headers.get(hdrs.ACCEPT, "")
