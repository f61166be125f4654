"""ComfyUI's heap (the host double's ``PromptQueue``) fed through the real scheduler.

Each ``submit`` does what ``POST /prompt`` does with the package installed: the middleware
admits a ticket, the ``on_prompt`` hook places it, ComfyUI pushes ``(number, prompt_id, ...)``
and the middleware closes the ticket. ``start`` is ComfyUI's worker taking the next prompt.
Used by the scheduler's unit tests and by ``benchmarks/fair_queue.py``.
"""

from __future__ import annotations

from itertools import count

from comfyui_auth.core.fair_queue import FairScheduler
from comfyui_auth.devhost.prompt_queue import PromptQueue


class SharedQueue:
    """One queue, several users, the scheduler choosing every number."""

    def __init__(self, scheduler: FairScheduler | None = None) -> None:
        self.queue = PromptQueue()
        self.scheduler = scheduler or FairScheduler()
        self.owner: dict[str, str] = {}
        self._ids = count(1)

    def numbers(self) -> list[float]:
        return [float(item[0]) for item in self.queue.get_current_queue_volatile()[1]]

    def submit(self, user: str, *, first: bool = False, limit: int | None = None) -> str | None:
        """Queue one prompt of ``user``; None when the limit refuses it."""
        ticket = self.scheduler.admit(user, self.numbers(), limit)
        if ticket is None:
            return None
        number = self.scheduler.place(ticket, self.numbers(), first=first)
        prompt_id = f"{user}{next(self._ids)}"
        self.queue.put((number, prompt_id, {}, {}, [], {}))
        self.scheduler.close(ticket, queued=True)
        self.owner[prompt_id] = user
        return prompt_id

    def start(self) -> str | None:
        """The worker takes the next prompt and finishes it at once; None when idle."""
        taken = self.queue.get(timeout=0)
        if taken is None:
            return None
        item, task_id = taken
        self.queue.task_done(task_id, {}, None)
        return str(item[1])

    def delete(self, prompt_id: str) -> None:
        self.queue.delete_queue_item(lambda item: item[1] == prompt_id)

    def pending(self) -> list[str]:
        """Pending prompt ids in the order ComfyUI will start them."""
        return [item[1] for item in sorted(self.queue.get_current_queue_volatile()[1])]
