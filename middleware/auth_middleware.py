"""The middleware at the front of ComfyUI's app: deny by default, decide before any handler.

Order of decisions for every request that is not on the public list:

1. who is calling: ``identity_provider.identify`` (API key, trusted-proxy header, session
   cookie, or HTTP Basic);
2. nobody: a browser navigation is sent to the login page, anything else gets 401;
3. may they: ``authorizer.refusal`` (the route's class, same-origin and CSRF for ambient
   credentials, the WebSocket ``clientId``), side-effect free; a refusal is a 403;
4. then the host's handler runs, with the identity on the request, through the rule that
   cuts its route to what the caller owns (``queue_isolation``, ``user_files``).

This module only orchestrates; it reads top to bottom with those two.

The middleware runs before any handler reads the request body, so an unauthenticated upload
is refused without being read. When the Redis store that several instances share does not
answer, this request and the package's own routes get a 503: never a 500, never a guess.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web

from ..core.errors import BadBody, MalformedCredentials, SharedStateUnavailable
from ..core.identity import Identity
from . import responses
from .activity_hook import note_use
from .authorizer import refusal
from .client_view import is_navigation, is_websocket
from .host_users import without_foreign_user_header
from .identity_provider import client_of, identify
from .isolated_call import Call, RuleTable
from .public_paths import is_public
from .queue_isolation import USER_RULES as PROMPT_RULES
from .queue_isolation import queue_prompt
from .return_path import safe_return_path
from .runtime import IDENTITY, AuthRuntime, Handler
from .user_files import FILE_RULES, REQUEST_CALLER, own_users

logger = logging.getLogger(__name__)


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
            client=client_of(runtime, request).address,
            route=request.path_qs,
            reason=error.reason,
        )
        return responses.malformed_credentials(error.reason)
    if isinstance(identity, web.StreamResponse):
        return identity
    if identity is None:
        return _not_signed_in(runtime, request)
    refused = refusal(runtime, request, identity)
    if refused is not None:
        runtime.audit.record(
            "access_refused",
            user=identity.name,
            client=client_of(runtime, request).address,
            route=request.path_qs,
            reason=refused,
        )
        return responses.forbidden(refused)
    note_use(runtime, request, identity)  # "last used": a dict entry at most every 5 s
    if is_websocket(request):  # the authorizer checked it is free or the caller's: claim it
        client_id = request.rel_url.query.get("clientId")
        if client_id:
            runtime.client_ids.claim(client_id, identity.name)
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


def _not_signed_in(runtime: AuthRuntime, request: web.Request) -> web.StreamResponse:
    runtime.audit.record(
        "access_refused",
        client=client_of(runtime, request).address,
        route=request.path_qs,
        reason="not signed in",
    )
    if is_navigation(request):
        return responses.redirect_to_login(safe_return_path(request.path_qs))
    return responses.unauthorized()
