"""Fair sharing of ComfyUI's one queue: each prompt's place, the per-user limit, positions.

``queue_fairly`` wraps ComfyUI's ``POST /prompt`` handler: past ``COMFYUI_AUTH_MAX_PENDING``
it answers 429 before the handler runs (ComfyUI's ``trigger_on_prompt`` swallows exceptions,
so an ``on_prompt`` hook cannot refuse). ``fair_numbers`` is the ``on_prompt`` hook that sets
the ``number`` ComfyUI queues the prompt under (``core.fair_queue`` chooses it): a user's own
``front`` and ``number`` are dropped, an administrator's are kept, so an administrator can
still put a prompt first. ``prompts_ahead`` tells a user how many prompts are ahead of each
of theirs.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from aiohttp import web

from ..core.fair_queue import Ticket
from ..core.identity import Identity
from . import responses
from .runtime import AuthRuntime, Handler

AHEAD = "comfyui_auth_ahead"
"""The key of a user's ``GET /queue`` answer that maps each of their pending prompts to the
number of prompts that start before it."""
_QUEUEING: ContextVar[tuple[Identity, Ticket] | None] = ContextVar(
    "comfyui_auth_queueing", default=None
)
"""Who sends the ``POST /prompt`` being handled, and its ticket, for the ``on_prompt`` hook."""


async def queue_fairly(
    runtime: AuthRuntime, identity: Identity, handler: Handler, request: web.Request
) -> web.StreamResponse:
    """Run ComfyUI's ``POST /prompt`` handler with a ticket, or refuse past the limit."""
    limit = None if identity.is_admin else runtime.settings.max_pending
    ticket = runtime.scheduler.admit(identity.name, pending_numbers(runtime), limit)
    if ticket is None:
        assert limit is not None  # noqa: S101 - only a limit refuses
        return responses.too_many_pending(limit)
    token = _QUEUEING.set((identity, ticket))
    queued = False
    try:
        response = await handler(request)
        queued = response.status == 200
        return response
    finally:
        _QUEUEING.reset(token)
        runtime.scheduler.close(ticket, queued=queued)


def fair_numbers(runtime: AuthRuntime) -> Callable[[Any], Any]:
    """An ``on_prompt`` hook: the prompt's ``number`` is its fair place in the queue."""

    def number_fairly(json_data: Any) -> Any:
        queueing = _QUEUEING.get()
        if queueing is None or not isinstance(json_data, dict):
            return json_data
        caller, ticket = queueing
        front = json_data.pop("front", False)
        chosen = json_data.pop("number", None)
        scheduler = runtime.scheduler
        if caller.is_admin and chosen is not None:
            json_data["number"] = chosen  # ComfyUI reads it (and answers 500 if it is no number)
            if _is_number(chosen):
                scheduler.adopt(ticket, float(chosen))
        else:
            first = caller.is_admin and bool(front)
            json_data["number"] = scheduler.place(ticket, pending_numbers(runtime), first=first)
        return json_data

    return number_fairly


def prompts_ahead(queue: dict[str, Any], owns: Callable[[object], bool]) -> dict[str, int]:
    """How many prompts start before each of the caller's pending ones, from ComfyUI's answer.

    ``queue`` is ComfyUI's ``GET /queue`` answer (its pending list is a heap, not sorted);
    the count includes the running prompts and is all a user learns of other users' work.
    """
    running, pending = queue.get("queue_running"), queue.get("queue_pending")
    if not isinstance(running, list) or not isinstance(pending, list):
        return {}
    in_order = sorted(filter(_is_numbered_entry, pending), key=lambda item: float(item[0]))
    return {item[1]: len(running) + index for index, item in enumerate(in_order) if owns(item[1])}


def pending_numbers(runtime: AuthRuntime) -> list[float]:
    """The numbers of ComfyUI's pending prompts (its queue holds only its own tuples)."""
    _, pending = runtime.host.prompt_queue.get_current_queue_volatile()
    return [float(item[0]) for item in pending]


def _is_numbered_entry(item: object) -> bool:
    """An entry of ComfyUI's queue answer: ``[number, prompt_id, prompt, extra_data, ...]``."""
    return isinstance(item, list) and len(item) > 1 and _is_number(item[0])


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
