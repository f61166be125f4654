"""Just enough of ``execution.PromptQueue``: same method names, tuple shape and locking."""

from __future__ import annotations

import heapq
import threading
from typing import Any

QueueItem = tuple[int, str, dict[str, Any], dict[str, Any], list[str], dict[str, Any]]


class PromptQueue:
    """A heap of ``(number, prompt_id, prompt, extra_data, outputs, sensitive)`` tuples."""

    def __init__(self) -> None:
        self.mutex = threading.RLock()
        self.queue: list[QueueItem] = []
        self.currently_running: dict[int, QueueItem] = {}
        self.history: dict[str, dict[str, Any]] = {}

    def put(self, item: QueueItem) -> None:
        with self.mutex:
            heapq.heappush(self.queue, item)

    def get_current_queue_volatile(self) -> tuple[list[QueueItem], list[QueueItem]]:
        with self.mutex:
            return list(self.currently_running.values()), list(self.queue)

    def get_tasks_remaining(self) -> int:
        with self.mutex:
            return len(self.queue) + len(self.currently_running)

    def get_history(
        self, prompt_id: str | None = None, max_items: int | None = None, offset: int = -1
    ) -> dict[str, Any]:
        with self.mutex:
            if prompt_id is not None:
                return {prompt_id: self.history[prompt_id]} if prompt_id in self.history else {}
            items = list(self.history.items())
            if max_items is not None:
                items = items[-max_items:]
            return dict(items)

    def wipe_queue(self) -> None:
        with self.mutex:
            self.queue = []

    def delete_queue_item(self, matches: Any) -> bool:
        with self.mutex:
            for index, item in enumerate(self.queue):
                if matches(item):
                    self.queue.pop(index)
                    heapq.heapify(self.queue)
                    return True
        return False

    def delete_history_item(self, prompt_id: str) -> None:
        with self.mutex:
            self.history.pop(prompt_id, None)

    def wipe_history(self) -> None:
        with self.mutex:
            self.history.clear()
