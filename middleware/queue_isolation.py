"""Per-user queue, history and jobs on a shared ComfyUI.

ComfyUI has one queue and one history for everyone: any caller may list every prompt (with
its workflow), cancel it, or wipe the lot. Here a user sees and changes only the prompts they
queued (``core.prompt_owners``); administrators keep ComfyUI's view of everything.

- ``POST /prompt``: a ``prompt_id`` or ``client_id`` that belongs to another user is refused;
  the owner of the queued prompt is recorded from ComfyUI's answer.
- ``GET /queue``, ``/history``, ``/history/{id}``, ``/api/jobs``, ``/api/jobs/{id}``: ComfyUI
  answers, then other users' prompts are taken out (a job of someone else is "not found").
- ``POST /queue``, ``POST /history``: deleting another user's prompt is refused; ``clear``
  removes the caller's own prompts only (ComfyUI's handler, which would wipe everyone's, is
  not called for it).
- ``POST /interrupt``: only the caller's own running prompt may be interrupted.
- A user's prompt queued without a ``client_id`` (a script) gets a private one through
  ComfyUI's ``on_prompt`` hook: ComfyUI would otherwise send its progress and preview images
  to every open socket, everyone's. Administrators keep ComfyUI's behaviour.

Paths are matched on their canonical form (``route_policy.canonical_path``), so the ``/api``
twins and every other spelling are covered. Anything the package cannot read (a body that is
not JSON, an answer that is not 200) goes to or comes from ComfyUI unchanged.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..core.identity import Identity
from . import responses
from .client_ids import TAKEN as CLIENT_ID_TAKEN
from .fair_queue import AHEAD, prompts_ahead, queue_fairly
from .route_policy import canonical_path
from .runtime import AuthRuntime, Handler

NOT_YOURS = "this prompt belongs to another user"


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

    def owns(self, prompt_id: object) -> bool:
        return self.runtime.prompt_owners.is_owned_by(prompt_id, self.user)


Rule = Callable[[Call], Awaitable[web.StreamResponse]]


async def call_with_isolation(
    runtime: AuthRuntime, request: web.Request, identity: Identity, handler: Handler
) -> web.StreamResponse:
    """Run ``handler`` for ``request``, within what ``identity`` may see and change."""
    route = (request.method, _route_name(request.path))
    if route == ("POST", "/prompt"):
        return await _queue_prompt(Call(runtime, request, identity, handler))
    rule = None if identity.is_admin else _USER_RULES.get(route)
    if rule is None:
        return await handler(request)
    return await rule(Call(runtime, request, identity, handler))


def _route_name(path: str) -> str:
    """``/api/jobs/x`` and ``/api/api/jobs/x`` are both ``/jobs/{id}``; ids are replaced."""
    route = canonical_path(path)
    if route.startswith("/api/"):
        route = route[len("/api") :]
    parts = route.split("/")
    if len(parts) == 3 and parts[1] in ("history", "jobs"):
        return f"/{parts[1]}/{{id}}"
    return route


PROMPT_CALLER: ContextVar[Identity | None] = ContextVar("comfyui_auth_prompt_caller", default=None)
"""Who sent the ``POST /prompt`` that ComfyUI is handling (administrators too). Set in the
request's task, so the ``on_prompt`` hooks that ComfyUI calls from its handler see it."""


def private_client_ids(runtime: AuthRuntime) -> Callable[[Any], Any]:
    """An ``on_prompt`` hook: a user's prompt without ``client_id`` gets one only they own."""

    def give_private_client_id(json_data: Any) -> Any:
        caller = PROMPT_CALLER.get()
        user = None if caller is None or caller.is_admin else caller.name
        if user is not None and isinstance(json_data, dict) and "client_id" not in json_data:
            client_id = f"comfyui-auth-{secrets.token_hex(16)}"
            runtime.client_ids.claim(client_id, user)
            json_data["client_id"] = client_id
        return json_data

    return give_private_client_id


async def _queue_prompt(call: Call) -> web.StreamResponse:
    body = await _json_object(call.request)
    if body is not None:
        prompt_id = body.get("prompt_id")
        owner = call.runtime.prompt_owners.owner(str(prompt_id)) if prompt_id else None
        if owner is not None and owner != call.user:
            return responses.forbidden(NOT_YOURS)
        client_id = body.get("client_id")
        if isinstance(client_id, str) and not call.runtime.client_ids.claim(client_id, call.user):
            return responses.forbidden(CLIENT_ID_TAKEN)
    caller = PROMPT_CALLER.set(call.identity)
    try:
        response = await queue_fairly(call.runtime, call.identity, call.handler, call.request)
    finally:
        PROMPT_CALLER.reset(caller)
    answer = _json_answer(response)
    if isinstance(answer, dict) and isinstance(answer.get("prompt_id"), str):
        call.runtime.prompt_owners.record(answer["prompt_id"], call.user)
    return response


async def _own_queue(call: Call) -> web.StreamResponse:
    def keep_own(queue: dict[str, Any]) -> dict[str, Any]:
        own = {
            name: [item for item in items if _is_item(item) and call.owns(item[1])]
            if isinstance(items, list)
            else items
            for name, items in queue.items()
        }
        return {**own, AHEAD: prompts_ahead(queue, call.owns)}

    return _rewrite(await call.handler(call.request), keep_own)


async def _own_history(call: Call) -> web.StreamResponse:
    def keep_own(history: dict[str, Any]) -> dict[str, Any]:
        return {prompt_id: entry for prompt_id, entry in history.items() if call.owns(prompt_id)}

    return _rewrite(await call.handler(call.request), keep_own)


async def _own_job(call: Call) -> web.StreamResponse:
    response = await call.handler(call.request)
    if response.status == 200 and not call.owns(call.request.match_info.get("job_id")):
        return responses.json_answer(404, {"error": "Job not found"})
    return response


async def _own_jobs(call: Call) -> web.StreamResponse:
    """ComfyUI pages before it could filter, so the whole list is asked for and paged here."""
    query = call.request.rel_url.query
    page = _page(query.get("offset"), query.get("limit"))
    if page is None:  # let ComfyUI give its own 400
        return await call.handler(call.request)
    offset, limit = page
    unpaged = call.request.rel_url.without_query_params("offset", "limit")
    response = await call.handler(call.request.clone(rel_url=unpaged))

    def keep_own(answer: dict[str, Any]) -> dict[str, Any]:
        jobs = [j for j in answer.get("jobs", []) if isinstance(j, dict) and call.owns(j.get("id"))]
        shown = jobs[offset : None if limit is None else offset + limit]
        pagination = {
            "offset": offset,
            "limit": limit,
            "total": len(jobs),
            "has_more": offset + len(shown) < len(jobs),
        }
        return {**answer, "jobs": shown, "pagination": pagination}

    return _rewrite(response, keep_own)


async def _change_queue(call: Call) -> web.StreamResponse:
    queue = call.runtime.host.prompt_queue
    return await _change(call, lambda prompt_id: _delete_pending(queue, prompt_id), _own_pending)


async def _change_history(call: Call) -> web.StreamResponse:
    queue = call.runtime.host.prompt_queue
    return await _change(call, queue.delete_history_item, _own_history_ids)


async def _change(
    call: Call, delete: Callable[[str], object], own_ids: Callable[[Call], Iterable[str]]
) -> web.StreamResponse:
    """``POST /queue`` and ``POST /history``: ``{"delete": [ids]}`` and ``{"clear": true}``."""
    body = await _json_object(call.request)
    if body is None:
        return await call.handler(call.request)
    to_delete = body.get("delete", [])
    if not isinstance(to_delete, list):  # ComfyUI would iterate a dict's keys, a string's letters
        return responses.bad_request('"delete" must be a list of prompt ids')
    if not all(call.owns(item) for item in to_delete):
        return responses.forbidden(NOT_YOURS)
    if not body.get("clear"):
        return await call.handler(call.request)
    for prompt_id in [*to_delete, *own_ids(call)]:
        delete(prompt_id)
    return web.Response(status=200)


async def _interrupt(call: Call) -> web.StreamResponse:
    body = await _json_object(call.request) or {}
    prompt_id = body.get("prompt_id")
    if prompt_id:
        allowed = call.owns(prompt_id)
    else:  # ComfyUI interrupts whatever runs: only if all of it is the caller's
        running, _ = call.runtime.host.prompt_queue.get_current_queue_volatile()
        allowed = all(_is_item(item) and call.owns(item[1]) for item in running)
    if not allowed:
        return responses.forbidden(NOT_YOURS)
    return await call.handler(call.request)


_USER_RULES: dict[tuple[str, str], Rule] = {
    ("GET", "/queue"): _own_queue,
    ("GET", "/history"): _own_history,
    ("GET", "/history/{id}"): _own_history,
    ("GET", "/jobs"): _own_jobs,
    ("GET", "/jobs/{id}"): _own_job,
    ("POST", "/queue"): _change_queue,
    ("POST", "/history"): _change_history,
    ("POST", "/interrupt"): _interrupt,
}


def _own_pending(call: Call) -> list[str]:
    _, pending = call.runtime.host.prompt_queue.get_current_queue_volatile()
    return [item[1] for item in pending if _is_item(item) and call.owns(item[1])]


def _own_history_ids(call: Call) -> list[str]:
    history = call.runtime.host.prompt_queue.get_history()
    return [prompt_id for prompt_id in history if call.owns(prompt_id)]


def _delete_pending(queue: Any, prompt_id: str) -> None:
    queue.delete_queue_item(lambda item: item[1] == prompt_id)


def _is_item(item: object) -> bool:
    """A queue entry: ``(number, prompt_id, prompt, extra_data, outputs, ...)``."""
    return isinstance(item, (list, tuple)) and len(item) > 1


def _page(offset: str | None, limit: str | None) -> tuple[int, int | None] | None:
    """ComfyUI's reading of ``offset``/``limit``; None where it would answer 400."""
    try:
        start = max(int(offset), 0) if offset is not None else 0
        count = int(limit) if limit is not None else None
    except ValueError:
        return None
    if count is not None and count <= 0:
        return None
    return start, count


async def _json_object(request: web.Request) -> dict[str, Any] | None:
    """The body as a JSON object (aiohttp keeps it for the handler), or None."""
    try:
        body = json.loads(await request.read())
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deep
        return None
    return body if isinstance(body, dict) else None


def _json_answer(response: web.StreamResponse) -> Any:
    if response.status != 200 or not isinstance(response, web.Response):
        return None
    if not isinstance(response.body, bytes):
        return None
    try:
        return json.loads(response.body)
    except (ValueError, RecursionError):
        return None


def _rewrite(
    response: web.StreamResponse, transform: Callable[[dict[str, Any]], dict[str, Any]]
) -> web.StreamResponse:
    """ComfyUI's JSON answer, filtered; its headers (cache control and the like) are kept."""
    answer = _json_answer(response)
    if not isinstance(answer, dict):
        return response
    headers = {
        name: value
        for name, value in response.headers.items()
        if name.lower() not in ("content-length", "content-type", "content-encoding")
    }
    return web.json_response(transform(answer), status=response.status, headers=headers)
