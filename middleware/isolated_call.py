"""One request on its way to a host route that is cut to what its caller owns.

The rules in ``queue_isolation`` (prompts) and ``user_files`` (files) decide on exactly what
ComfyUI's handler will read: a JSON body is read with ``request.json()``, as ComfyUI reads it
(declared charset included, and aiohttp keeps the bytes for the handler), path parameters
come from the router's own ``match_info``, and a body that cannot be read that way is
refused with 400 instead of being passed through.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..core.errors import BadBody
from ..core.identity import Identity
from .host_users import host_user_id
from .runtime import AuthRuntime, Handler


@dataclass(frozen=True)
class Call:
    """One request on its way to ComfyUI, with who sends it."""

    runtime: AuthRuntime
    request: web.Request
    identity: Identity
    handler: Handler

    @property
    def user(self) -> str:
        return self.identity.name

    @property
    def folder(self) -> str:
        """The caller's folder name under ``input/``, ``output/``, ``temp/`` and ``user/``."""
        return host_user_id(self.identity.name)

    def owns(self, prompt_id: object) -> bool:
        return self.runtime.prompt_owners.is_owned_by(prompt_id, self.user)

    async def forward(self) -> web.StreamResponse:
        return await self.handler(self.request)


Rule = Callable[[Call], Awaitable[web.StreamResponse]]
RuleTable = dict[tuple[str, str], Rule]
"""Rules keyed by ``host_routes.route_key``: ``(method, template without /api)``."""


async def json_body(request: web.Request, *, empty: Any = None) -> Any:
    """The body as ComfyUI's ``await request.json()`` reads it.

    ``empty`` is what a handler that tolerates an invalid body uses instead (``/interrupt``
    reads ``{}``); without it an invalid body raises ``BadBody``. A charset Python does not
    know, bytes that do not decode, or JSON nested too deep raise ``BadBody`` either way:
    ComfyUI would fail on them with a 500, and nothing passes unread.
    """
    try:
        return await request.json()
    except json.JSONDecodeError:
        if empty is not None:
            return empty
        raise BadBody("the body is not valid JSON") from None
    except (LookupError, UnicodeDecodeError, RecursionError, ValueError):
        raise BadBody("the body cannot be read in its declared charset") from None


async def json_object(request: web.Request, *, empty: Any = None) -> dict[str, Any]:
    """``json_body`` that must be a JSON object (ComfyUI's handlers index it as one)."""
    body = await json_body(request, empty=empty)
    if not isinstance(body, dict):
        raise BadBody("the body must be a JSON object")
    return body


def json_answer(response: web.StreamResponse) -> Any:
    """The JSON of a 200 answer ComfyUI built in memory, else None."""
    if response.status != 200 or not isinstance(response, web.Response):
        return None
    if not isinstance(response.body, bytes):
        return None
    try:
        return json.loads(response.body)
    except (ValueError, RecursionError):
        return None


def rewrite(response: web.StreamResponse, transform: Callable[[Any], Any]) -> web.StreamResponse:
    """ComfyUI's JSON answer, transformed; its headers (cache control and the like) kept.

    An answer that is not a JSON object or list (an error, a stream) is returned as it is.
    """
    answer = json_answer(response)
    if not isinstance(answer, (dict, list)):
        return response
    headers = {
        name: value
        for name, value in response.headers.items()
        if name.lower() not in ("content-length", "content-type", "content-encoding")
    }
    return web.json_response(transform(answer), status=response.status, headers=headers)
