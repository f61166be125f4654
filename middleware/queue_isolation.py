"""Per-user queue, history and jobs on a shared ComfyUI.

ComfyUI has one queue and one history for everyone: any caller may list every prompt (with
its workflow), cancel it, or wipe the lot. Here a user sees and changes only the prompts they
queued (``core.prompt_owners``); administrators keep ComfyUI's view of everything.

- ``POST /prompt``: a ``prompt_id`` or ``client_id`` that belongs to another user is refused,
  and so is a graph that names another user's file (``user_files``). The ``on_prompt`` hook
  (``own_prompts``) gives the prompt an id when it has none and records its owner before
  ComfyUI queues it, so the worker always knows whose prompt it runs.
- ``GET /queue``, ``/history``, ``/history/{id}``, ``/api/jobs``, ``/api/jobs/{id}``: ComfyUI
  answers, then other users' prompts are taken out (a job of someone else is "not found").
- ``POST /queue``, ``POST /history``: deleting another user's prompt is refused; ``clear``
  removes the caller's own prompts only (ComfyUI's handler, which would wipe everyone's, is
  not called for it).
- ``POST /interrupt``, ``POST /api/jobs/{id}/cancel``, ``POST /api/jobs/cancel``: only the
  caller's own prompts may be interrupted or cancelled.
- A user's prompt queued without a ``client_id`` (a script) gets a private one, so ComfyUI
  does not send its progress and previews to every open socket.

Rules are keyed by the route the router matched (``host_routes.route_key``), so ``HEAD`` is
``GET``, the ``/api`` twins are one route, and ids are the router's own decoded values.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Any

from aiohttp import web

from ..core.identity import Identity
from . import responses
from .client_ids import TAKEN as CLIENT_ID_TAKEN
from .fair_queue import AHEAD, prompts_ahead, queue_fairly
from .isolated_call import Call, RuleTable, json_answer, json_object, rewrite
from .runtime import AuthRuntime
from .user_files import refused_file_reference

NOT_YOURS = "this prompt belongs to another user"

PROMPT_CALLER: ContextVar[Identity | None] = ContextVar("comfyui_auth_prompt_caller", default=None)
"""Who sent the ``POST /prompt`` that ComfyUI is handling (administrators too). Set in the
request's task, so the ``on_prompt`` hooks that ComfyUI calls from its handler see it."""


def own_prompts(runtime: AuthRuntime) -> Callable[[Any], Any]:
    """The ``on_prompt`` hook: every prompt gets an id and an owner before it is queued.

    ComfyUI runs the hook inside its handler, after reading the same body the middleware
    checked, and before validation and queueing; an exception here would only be logged,
    so the hook refuses nothing (the middleware did that) and only completes the prompt.
    """

    def record_owner(json_data: Any) -> Any:
        caller = PROMPT_CALLER.get()
        if caller is None or not isinstance(json_data, dict):
            return json_data
        if "prompt_id" not in json_data:  # ComfyUI would make a uuid4 itself, unrecorded
            json_data["prompt_id"] = str(uuid.uuid4())
        runtime.prompt_owners.record(str(json_data["prompt_id"]), caller.name)
        if not caller.is_admin and "client_id" not in json_data:
            client_id = f"comfyui-auth-{secrets.token_hex(16)}"
            runtime.client_ids.claim(client_id, caller.name)
            json_data["client_id"] = client_id
        return json_data

    return record_owner


async def queue_prompt(call: Call) -> web.StreamResponse:
    """``POST /prompt`` for everyone: ownership checks, then ComfyUI with the caller known."""
    body = await json_object(call.request)
    prompt_id = body.get("prompt_id")
    owner = call.runtime.prompt_owners.owner(str(prompt_id)) if prompt_id is not None else None
    if owner is not None and owner != call.user:
        return responses.forbidden(NOT_YOURS)
    client_id = body.get("client_id")
    if isinstance(client_id, str) and not call.runtime.client_ids.claim(client_id, call.user):
        return responses.forbidden(CLIENT_ID_TAKEN)
    if not call.identity.is_admin:
        refusal = refused_file_reference(call, body.get("prompt"))
        if refusal is not None:
            return responses.forbidden(refusal)
    caller = PROMPT_CALLER.set(call.identity)
    try:
        response = await queue_fairly(call.runtime, call.identity, call.handler, call.request)
    finally:
        PROMPT_CALLER.reset(caller)
    answer = json_answer(response)  # hosts without on_prompt hooks: record from the answer
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

    return rewrite(await call.forward(), keep_own)


async def _own_history(call: Call) -> web.StreamResponse:
    def keep_own(history: dict[str, Any]) -> dict[str, Any]:
        return {prompt_id: entry for prompt_id, entry in history.items() if call.owns(prompt_id)}

    return rewrite(await call.forward(), keep_own)


async def _own_job(call: Call) -> web.StreamResponse:
    response = await call.forward()
    if response.status == 200 and not call.owns(call.request.match_info.get("job_id")):
        return responses.json_answer(404, {"error": "Job not found"})
    return response


async def _own_jobs(call: Call) -> web.StreamResponse:
    """ComfyUI pages before it could filter, so the whole list is asked for and paged here."""
    query = call.request.rel_url.query
    page = _page(query.get("offset"), query.get("limit"))
    if page is None:  # let ComfyUI give its own 400
        return await call.forward()
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

    return rewrite(response, keep_own)


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
    body = await json_object(call.request)
    to_delete = body.get("delete", [])
    if not isinstance(to_delete, list):  # ComfyUI would iterate a dict's keys, a string's letters
        return responses.bad_request('"delete" must be a list of prompt ids')
    if not all(call.owns(item) for item in to_delete):
        return responses.forbidden(NOT_YOURS)
    if not body.get("clear"):
        return await call.forward()
    for prompt_id in [*to_delete, *own_ids(call)]:
        delete(prompt_id)
    return web.Response(status=200)


async def _interrupt(call: Call) -> web.StreamResponse:
    body = await json_object(call.request, empty={})  # ComfyUI reads an invalid body as {}
    prompt_id = body.get("prompt_id")
    if prompt_id:
        allowed = call.owns(prompt_id)
    else:  # ComfyUI interrupts whatever runs: only if all of it is the caller's
        running, _ = call.runtime.host.prompt_queue.get_current_queue_volatile()
        allowed = all(_is_item(item) and call.owns(item[1]) for item in running)
    if not allowed:
        return responses.forbidden(NOT_YOURS)
    return await call.forward()


async def _cancel_job(call: Call) -> web.StreamResponse:
    """``POST /api/jobs/{job_id}/cancel`` (ComfyUI 0.33+): only the caller's own job."""
    if not call.owns(call.request.match_info.get("job_id")):
        return responses.forbidden(NOT_YOURS)
    return await call.forward()


async def _cancel_jobs(call: Call) -> web.StreamResponse:
    """``POST /api/jobs/cancel`` with ``{"job_ids": [...]}``: every id must be the caller's."""
    body = await json_object(call.request)
    job_ids = body.get("job_ids")
    if not isinstance(job_ids, list):
        return responses.bad_request('"job_ids" must be a list of job ids')
    if not all(call.owns(job_id) for job_id in job_ids):
        return responses.forbidden(NOT_YOURS)
    return await call.forward()


USER_RULES: RuleTable = {
    ("GET", "/queue"): _own_queue,
    ("GET", "/history"): _own_history,
    ("GET", "/history/{prompt_id}"): _own_history,
    ("GET", "/jobs"): _own_jobs,
    ("GET", "/jobs/{job_id}"): _own_job,
    ("POST", "/queue"): _change_queue,
    ("POST", "/history"): _change_history,
    ("POST", "/interrupt"): _interrupt,
    ("POST", "/jobs/{job_id}/cancel"): _cancel_job,
    ("POST", "/jobs/cancel"): _cancel_jobs,
}
"""What non-administrators get on the prompt routes (``POST /prompt`` is for everyone)."""


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
