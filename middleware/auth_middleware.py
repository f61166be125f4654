"""The middleware at the front of ComfyUI's app: deny by default, decide before any handler.

Order of decisions for every request that is not on the public list:

1. who is calling: ``identity_provider.warm_identity`` for a credential already known good
   (no await, no I/O), else ``identity_provider.identify`` (API key, trusted-proxy header,
   session cookie, or HTTP Basic);
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
from .identity_provider import client_of, identify, warm_identity
from .isolated_call import Call, RuleTable
from .public_paths import is_public
from .queue_isolation import USER_RULES as PROMPT_RULES
from .queue_isolation import queue_prompt
from .return_path import safe_return_path
from .runtime import IDENTITY, AuthRuntime, Handler
from .user_files import FILE_RULES, REQUEST_CALLER, custom_node_route, own_users

logger = logging.getLogger(__name__)


def make_auth_middleware(runtime: AuthRuntime) -> Callable[..., Awaitable[web.StreamResponse]]:
    """The middleware bound to one ``AuthRuntime``.

    Every request of a busy day (a tab polling, an image loading, a script) takes the top
    path of ``comfyui_auth`` alone: a warm identity (``warm_identity``), the authorizer, the
    handler. Only what is cold or wrong awaits anything before the handler runs.
    """

    @web.middleware
    async def comfyui_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            if is_public(request):  # the login routes among them
                return await handler(request)
            if runtime.host.cors_origin and _is_cors_preflight(request):
                return responses.cors_preflight(runtime.host.cors_origin)
            identity = warm_identity(runtime, request)
            if identity is None:
                found = await _identify(runtime, request)
                if not isinstance(found, Identity):
                    return found
                identity = found
            route = runtime.routes.info(request)
            websocket = route.may_upgrade and is_websocket(request)
            refused = refusal(runtime, request, identity, route, websocket)
            if refused is not None:
                _refused(runtime, request, refused, identity.name)
                return responses.forbidden(refused)
            note_use(runtime, request, identity)  # "last used": a dict entry every 5 s at most
            if websocket:  # the authorizer checked it is free or the caller's: claim it
                client_id = request.rel_url.query.get("clientId")
                if client_id:
                    runtime.client_ids.claim(client_id, identity.name)
            if route.serves_frontend and runtime.index.applies_to(request):
                return runtime.index.response(await handler(request))
            # ComfyUI's own handlers learn the user from the bound UserManager alone and save
            # no file while answering: a custom node's may read Comfy-User or save a file.
            host_only = route.core and runtime.host_users.bound
            if not host_only:
                request = without_foreign_user_header(request, identity.name)
            request[IDENTITY] = identity
            rule = EVERYONE_RULES.get(route.key)
            if rule is None and not identity.is_admin:
                rule = USER_RULES.get(route.key) or (
                    custom_node_route if route.checks_file_names else None
                )
            caller = None if host_only else REQUEST_CALLER.set(identity)  # user_files' hook
            try:
                if rule is None:
                    return await handler(request)
                return await rule(Call(runtime, request, identity, handler))
            finally:
                if caller is not None:
                    REQUEST_CALLER.reset(caller)
        except MalformedCredentials as error:
            _refused(runtime, request, error.reason)
            return responses.malformed_credentials(error.reason)
        except BadBody as error:
            return responses.bad_body(error)
        except SharedStateUnavailable as error:
            logger.warning("comfyui-auth refused %s with 503: %s", request.path, error)
            return responses.shared_state_unavailable()

    return comfyui_auth


async def _identify(runtime: AuthRuntime, request: web.Request) -> Identity | web.StreamResponse:
    """Every case ``warm_identity`` leaves: cold or bad credentials, and nobody."""
    identity = await identify(runtime, request)
    if identity is None:
        _refused(runtime, request, "not signed in")
        if is_navigation(request):
            return responses.redirect_to_login(safe_return_path(request.path_qs))
        return responses.unauthorized()
    return identity


EVERYONE_RULES: RuleTable = {("POST", "/prompt"): queue_prompt, ("GET", "/users"): own_users}
USER_RULES: RuleTable = {**PROMPT_RULES, **FILE_RULES}
"""The rule that cuts a route to what the caller owns, by ``RouteInfo.key``; administrators
skip ``USER_RULES``."""


def _refused(
    runtime: AuthRuntime, request: web.Request, reason: str, user: str | None = None
) -> None:
    runtime.audit.record(
        "access_refused",
        user=user,
        client=client_of(runtime, request).address,
        route=request.path_qs,
        reason=reason,
    )


def _is_cors_preflight(request: web.Request) -> bool:
    return (
        request.method == hdrs.METH_OPTIONS
        and hdrs.ORIGIN in request.headers
        and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers
    )
