"""Who owns a WebSocket ``clientId``.

ComfyUI sends a prompt's progress and preview images only to the socket registered under the
``clientId`` that queued it, and a new socket with an existing ``clientId`` replaces the old
one. Without a check, one user could connect with another's ``clientId`` and receive their
previews. The first authenticated user to use a ``clientId`` owns it; anyone else is refused.
"""

from __future__ import annotations

from collections import OrderedDict

MAX_TRACKED = 50_000
TAKEN = "this clientId belongs to another user"
"""Why a request naming another user's ``clientId`` is refused (WebSocket or prompt)."""


class ClientIdOwners:
    """A bounded map from ``clientId`` to the user who first used it."""

    def __init__(self, capacity: int = MAX_TRACKED) -> None:
        self._owners: OrderedDict[str, str] = OrderedDict()
        self._capacity = capacity

    def owner(self, client_id: str) -> str | None:
        return self._owners.get(client_id)

    def is_taken(self, client_id: str, user: str) -> bool:
        """True if another user already owns ``client_id`` (a check: nothing is claimed)."""
        owner = self._owners.get(client_id)
        return owner is not None and owner != user

    def claim(self, client_id: str, user: str) -> bool:
        """True if ``user`` may use ``client_id`` (it is new, or already theirs)."""
        owner = self._owners.get(client_id)
        if owner is not None and owner != user:
            return False
        self._owners[client_id] = user
        self._owners.move_to_end(client_id)
        while len(self._owners) > self._capacity:
            self._owners.popitem(last=False)
        return True
