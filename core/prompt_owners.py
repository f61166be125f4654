"""Who queued each prompt, so that a user sees and cancels only their own work.

ComfyUI's queue and history carry no user: the package records the owner of every prompt it
lets through ``POST /prompt`` (the id is in ComfyUI's answer). Both live in memory, as
ComfyUI's queue and history do, and both start empty with the server. ComfyUI keeps at most
10 000 history items; the map keeps four times as many owners, oldest dropped first. A prompt
whose owner is unknown (dropped, or queued before this package loaded) is shown to
administrators only: unknown never means everyone's.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

MAX_OWNERS = 40_000


class PromptOwners:
    """A bounded map from prompt id to the user who queued it; safe across threads."""

    def __init__(self, capacity: int = MAX_OWNERS) -> None:
        self._owners: OrderedDict[str, str] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def record(self, prompt_id: str, user: str) -> None:
        with self._lock:
            self._owners[prompt_id] = user
            self._owners.move_to_end(prompt_id)
            while len(self._owners) > self._capacity:
                self._owners.popitem(last=False)

    def owner(self, prompt_id: str) -> str | None:
        with self._lock:
            return self._owners.get(prompt_id)

    def is_owned_by(self, prompt_id: object, user: str) -> bool:
        """True only for a prompt id known to belong to ``user``."""
        return isinstance(prompt_id, str) and self.owner(prompt_id) == user
