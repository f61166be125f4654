"""ComfyUI's ``execution.PromptQueue``: the same method names, tuple shape and semantics.

A custom node (and comfyui-auth's ``/health``) reads the queue through these methods, so the
double keeps ComfyUI's names and return shapes: a heap of ``(number, prompt_id, prompt,
extra_data, outputs_to_execute, sensitive)`` tuples where the lowest number runs first, and a
history keyed by prompt id whose entries keep that tuple under ``"prompt"``.
"""

from __future__ import annotations

import copy
import heapq
import threading
from collections.abc import Callable
from typing import Any

QueueItem = tuple[Any, ...]
"""``(number, prompt_id, prompt, extra_data, outputs_to_execute, sensitive)``."""

MAXIMUM_HISTORY_SIZE = 10000


class PromptQueue:
    """A thread-safe heap of prompts plus a history; ``on_change`` is ``queue_updated``."""

    def __init__(self, on_change: Callable[[], None] = lambda: None) -> None:
        self.on_change = on_change
        self.mutex = threading.RLock()
        self.not_empty = threading.Condition(self.mutex)
        self.task_counter = 0
        self.queue: list[QueueItem] = []
        self.currently_running: dict[int, QueueItem] = {}
        self.history: dict[str, dict[str, Any]] = {}
        self.flags: dict[str, Any] = {}

    def put(self, item: QueueItem) -> None:
        with self.mutex:
            heapq.heappush(self.queue, item)
            self.on_change()
            self.not_empty.notify()

    def get(self, timeout: float | None = None) -> tuple[QueueItem, int] | None:
        """Take the next item and mark it running; None when ``timeout`` passes empty."""
        with self.not_empty:
            while not self.queue:
                self.not_empty.wait(timeout=timeout)
                if timeout is not None and not self.queue:
                    return None
            item = heapq.heappop(self.queue)
            task_id = self.task_counter
            self.currently_running[task_id] = copy.deepcopy(item)
            self.task_counter += 1
            self.on_change()
            return item, task_id

    def task_done(
        self,
        task_id: int,
        history_result: dict[str, Any],
        status: dict[str, Any] | None,
        process_item: Callable[[QueueItem], QueueItem] | None = None,
    ) -> None:
        """Move a running item into the history (ComfyUI drops ``sensitive`` on the way)."""
        with self.mutex:
            item = self.currently_running.pop(task_id)
            if process_item is not None:
                item = process_item(item)
            if len(self.history) > MAXIMUM_HISTORY_SIZE:
                self.history.pop(next(iter(self.history)))
            self.history[item[1]] = {"prompt": item, "outputs": {}, "status": status}
            self.history[item[1]].update(history_result)
            self.on_change()

    def get_current_queue(self) -> tuple[list[QueueItem], list[QueueItem]]:
        with self.mutex:
            return list(self.currently_running.values()), copy.deepcopy(self.queue)

    def get_current_queue_volatile(self) -> tuple[list[QueueItem], list[QueueItem]]:
        """``(running, pending)``; the lists are copies, the items are shared."""
        with self.mutex:
            return list(self.currently_running.values()), copy.copy(self.queue)

    def get_tasks_remaining(self) -> int:
        with self.mutex:
            return len(self.queue) + len(self.currently_running)

    def wipe_queue(self) -> None:
        with self.mutex:
            self.queue = []
            self.on_change()

    def delete_queue_item(self, function: Callable[[QueueItem], bool]) -> bool:
        """Remove the first pending item for which ``function`` is true."""
        with self.mutex:
            for index, item in enumerate(self.queue):
                if function(item):
                    if len(self.queue) == 1:
                        self.wipe_queue()
                    else:
                        self.queue.pop(index)
                        heapq.heapify(self.queue)
                    self.on_change()
                    return True
        return False

    def get_history(
        self, prompt_id: str | None = None, max_items: int | None = None, offset: int = -1
    ) -> dict[str, Any]:
        """ComfyUI's paging: a negative offset with ``max_items`` means the newest items."""
        with self.mutex:
            if prompt_id is not None:
                entry = self.history.get(prompt_id)
                return {} if entry is None else {prompt_id: copy.deepcopy(entry)}
            if offset < 0 and max_items is not None:
                offset = len(self.history) - max_items
            selected: dict[str, Any] = {}
            for index, key in enumerate(self.history):
                if index >= offset:
                    selected[key] = self.history[key]
                    if max_items is not None and len(selected) >= max_items:
                        break
            return selected

    def wipe_history(self) -> None:
        with self.mutex:
            self.history = {}

    def delete_history_item(self, id_to_delete: str) -> None:
        with self.mutex:
            self.history.pop(id_to_delete, None)

    def set_flag(self, name: str, data: Any) -> None:
        with self.mutex:
            self.flags[name] = data
            self.not_empty.notify()

    def get_flags(self, reset: bool = True) -> dict[str, Any]:
        with self.mutex:
            flags = self.flags if reset else self.flags.copy()
            if reset:
                self.flags = {}
            return flags
