"""Round-robin by user over ComfyUI's one queue, through the numbers ComfyUI already honours.

ComfyUI runs the pending prompt with the lowest ``number`` next (its queue is a heap), and an
``on_prompt`` handler may choose that number. The scheduler picks, for each new prompt, the
number that puts it where "least recently served user goes next" would start it; ComfyUI's
worker, queue and history are left as they are.

The rule, applied when a prompt of user ``u`` arrives: walk the real pending queue in the
order ComfyUI will start it, replaying who is served when; the new prompt goes right before
the first prompt whose owner would by then have been served more recently than ``u``, and
never before ``u``'s own earlier prompts (order within a user is kept) or an administrator's
``front`` prompt. Without deletions this gives exactly least-recently-served round-robin
(``tests/test_fair_queue.py`` checks it against the rule for any arrivals); whatever was
deleted, between a user's new prompt and their previous one (or the head of the queue, or
the last ``front`` prompt) there is at most one prompt of each other user.

"Served" is learnt from the queue itself, not from history (which a user may clear): a
numbered prompt that has left the pending queue counts as served, in the order of the
numbers. A prompt that a user deleted therefore counts as their turn too: deleting and
queueing again does not move anyone ahead of the users who wait, and a user whose prompts
were all deleted comes back at their fair place (not behind everyone's numbers).

The numbers only order what is pending, so they start again from ``ORIGIN`` whenever the
queue is empty; the service order lives in a separate counter. Everything here runs on the
event loop (the ``on_prompt`` hook and the middleware), so nothing is locked.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

STEP = 1.0
ORIGIN = 0.0
MAX_REMEMBERED_USERS = 10_000
NEVER_SERVED = -1


@dataclass(eq=False)
class Ticket:
    """One ``POST /prompt`` from its admission to its start (or refusal)."""

    user: str
    number: float | None = None
    pinned: bool = False
    """An administrator's ``front`` prompt: nothing is ever placed before it."""
    in_flight: bool = True
    """Numbered but maybe not in ComfyUI's queue yet (it validates the graph first)."""


@dataclass(frozen=True)
class _Entry:
    number: float
    owner: str | None  # None: a prompt the scheduler did not number
    pinned: bool


class FairScheduler:
    """Chooses queue numbers; remembers only what is pending and when each user was served.

    A user's service time is forgotten oldest first past ``remembered_users``: a forgotten
    user counts as never served, which is where the least recently served user stands anyway.
    """

    def __init__(self, remembered_users: int = MAX_REMEMBERED_USERS) -> None:
        self._numbered: dict[float, Ticket] = {}
        self._open: list[Ticket] = []
        self._served: OrderedDict[str, int] = OrderedDict()
        self._services = 0
        self._remembered_users = remembered_users

    def admit(self, user: str, pending: Sequence[float], limit: int | None) -> Ticket | None:
        """A ticket for one more prompt of ``user``, or None when they already have ``limit``.

        Called before ComfyUI's handler, so prompts still being validated count too: several
        requests sent at once cannot pass the limit together.
        """
        self._observe(pending)
        if limit is not None and self.waiting(user) >= limit:
            return None
        ticket = Ticket(user)
        self._open.append(ticket)
        return ticket

    def waiting(self, user: str) -> int:
        """Prompts of ``user`` that have not started: pending, being validated, or admitted."""
        numbered = sum(1 for t in self._numbered.values() if t.user == user)
        admitted = sum(1 for t in self._open if t.user == user and t.number is None)
        return numbered + admitted

    def place(self, ticket: Ticket, pending: Sequence[float], *, first: bool = False) -> float:
        """The number that gives ``ticket`` its fair place (``first``: before everything)."""
        self._observe(pending)
        queue = self._queue(pending)
        index = 0 if first else self._fair_index(ticket.user, queue)
        number = _number_at(queue, index)
        ticket.number, ticket.pinned = number, first
        self._numbered[number] = ticket
        return number

    def adopt(self, ticket: Ticket, number: float) -> None:
        """An administrator chose the number: keep it, and count the prompt as theirs."""
        ticket.number = number
        self._numbered.setdefault(number, ticket)

    def close(self, ticket: Ticket, *, queued: bool) -> None:
        """ComfyUI's handler has answered: the prompt is in its queue, or it never will be."""
        self._open.remove(ticket)
        if ticket.number is None or self._numbered.get(ticket.number) is not ticket:
            return
        if queued:
            ticket.in_flight = False
        else:
            del self._numbered[ticket.number]

    def _observe(self, pending: Sequence[float]) -> None:
        """Numbered prompts that left the queue have been served, in the order of their numbers."""
        present = set(pending)
        gone = sorted(
            number
            for number, ticket in self._numbered.items()
            if not ticket.in_flight and number not in present
        )
        for number in gone:
            self._record_service(self._numbered.pop(number).user)

    def _record_service(self, user: str) -> None:
        self._services += 1
        self._served[user] = self._services
        self._served.move_to_end(user)
        while len(self._served) > self._remembered_users:
            self._served.popitem(last=False)

    def _queue(self, pending: Sequence[float]) -> list[_Entry]:
        """What will start, in ComfyUI's order: the real queue plus prompts being validated."""
        numbers = list(pending)
        present = set(numbers)
        numbers += [n for n, t in self._numbered.items() if t.in_flight and n not in present]
        entries = []
        for number in numbers:
            ticket = self._numbered.get(number)
            owner = ticket.user if ticket is not None else None
            entries.append(_Entry(number, owner, ticket is not None and ticket.pinned))
        return sorted(entries, key=lambda entry: entry.number)

    def _fair_index(self, user: str, queue: list[_Entry]) -> int:
        """Where ``user``'s new prompt goes: replay the services the queue will give."""
        start = max(
            (i + 1 for i, entry in enumerate(queue) if entry.pinned or entry.owner == user),
            default=0,
        )
        last_served: dict[str | None, int] = {}
        last_served.update(self._served)
        clock = self._services
        for index, entry in enumerate(queue):
            mine = last_served.get(user, NEVER_SERVED)
            if index >= start and mine < last_served.get(entry.owner, NEVER_SERVED):
                return index
            clock += 1
            last_served[entry.owner] = clock
        return len(queue)


def _number_at(queue: list[_Entry], index: int) -> float:
    """A number between the neighbours at ``index`` (after everything if floats run out)."""
    before = queue[index - 1].number if index > 0 else None
    after = queue[index].number if index < len(queue) else None
    if after is None:
        return ORIGIN if before is None else before + STEP
    if before is None:
        return after - STEP
    middle = (before + after) / 2
    return middle if before < middle < after else queue[-1].number + STEP
