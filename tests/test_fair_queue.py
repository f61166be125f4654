"""The fair scheduler on ComfyUI's heap: round-robin by least recently served user.

Every prompt goes through the real scheduler into the host double's ``PromptQueue`` (the same
heap ComfyUI uses), as ``POST /prompt`` does; the order of starts is what the worker takes.
A reference model picks, at every start, the waiting user served least recently.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from comfyui_auth.core.fair_queue import FairScheduler
from comfyui_auth.tests.fair_queue_sim import SharedQueue

USERS = ("ann", "bob", "cat", "dan")
START = "start"
FRONT = "front"  # an administrator's "front": true
PROPERTY = settings(max_examples=300, deadline=None)


class LeastRecentlyServed:
    """The rule itself: the waiting user served longest ago (never first), earliest prompt."""

    def __init__(self) -> None:
        self.waiting: dict[str, deque[str]] = {}
        self.last_served: dict[str, int] = {}
        self.arrival: dict[str, int] = {}
        self.clock = 0

    def arrive(self, user: str, prompt_id: str) -> None:
        self.clock += 1
        self.arrival[prompt_id] = self.clock
        self.waiting.setdefault(user, deque()).append(prompt_id)

    def _turn(self, user: str) -> tuple[int, int]:
        return self.last_served.get(user, -1), self.arrival[self.waiting[user][0]]

    def start(self) -> str | None:
        users = [user for user, prompts in self.waiting.items() if prompts]
        if not users:
            return None
        user = min(users, key=self._turn)
        self.clock += 1
        self.last_served[user] = self.clock
        return self.waiting[user].popleft()


@dataclass(frozen=True)
class Case:
    name: str
    arrivals: str  # users in arrival order, all queued before anything starts
    starts: str  # owners in the order the worker must start them


CASES = [
    Case("invokeai-example", "A A B C C A", "A B C A C A"),
    Case("one-user-keeps-order", "A A A", "A A A"),
    Case("late-users-take-turns", "A A A A B B C", "A B C A B A A"),
    Case("newcomer-ties-keep-arrival", "A B C", "A B C"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_prompts_queued_together_start_round_robin(case: Case) -> None:
    shared = SharedQueue()
    for user in case.arrivals.split():
        shared.submit(user)
    started = [shared.start() for _ in case.arrivals.split()]
    assert [shared.owner[p] for p in started if p is not None] == case.starts.split()


def test_a_prompt_queued_behind_fifty_of_another_user_is_next() -> None:
    shared = SharedQueue()
    for _ in range(50):
        shared.submit("A")
    shared.start()  # A's first runs
    late = shared.submit("B")
    assert shared.pending()[0] == late
    assert len(shared.pending()) == 50


def test_a_user_whose_prompts_were_all_deleted_gets_a_fair_place_not_the_back() -> None:
    shared = SharedQueue()
    for _ in range(5):
        shared.submit("A")
        shared.submit("B")
    for prompt_id in [p for p in shared.pending() if shared.owner[p] == "A"]:
        shared.delete(prompt_id)
    again = shared.submit("A")
    assert [shared.owner[p] for p in shared.pending()].index("A") <= 1
    assert again in shared.pending()[:2]


def test_deleting_ones_own_prompts_never_moves_one_ahead() -> None:
    """A deleted prompt counts as served: the deleter goes behind the user who waited."""
    shared = SharedQueue()
    shared.submit("A")
    shared.submit("B")
    shared.delete(shared.pending()[0])  # A's
    again = shared.submit("A")
    assert shared.pending() == [shared.pending()[0], again]
    assert shared.owner[shared.pending()[0]] == "B"


def test_an_administrators_front_prompt_goes_first_and_stays_first() -> None:
    shared = SharedQueue()
    for user in ["A", "A", "B"]:
        shared.submit(user)
    urgent = shared.submit("root", first=True)
    newcomer = shared.submit("C")
    assert shared.pending()[0] == urgent
    assert shared.pending().index(newcomer) >= 1


@pytest.mark.parametrize(
    ("limit", "accepted"), [(1, 1), (3, 3), (None, 5)], ids=["one", "three", "unlimited"]
)
def test_the_limit_counts_what_has_not_started(limit: int | None, accepted: int) -> None:
    shared = SharedQueue()
    answers = [shared.submit("A", limit=limit) for _ in range(5)]
    assert sum(a is not None for a in answers) == accepted
    assert shared.submit("B", limit=limit) is not None  # another user is not held back
    shared.start()  # one of A's starts: room for exactly one more
    assert shared.submit("A", limit=limit) is not None
    assert (shared.submit("A", limit=limit) is None) is (limit is not None)


def test_requests_still_being_validated_count_against_the_limit() -> None:
    """Admission happens before ComfyUI's handler awaits: two requests at once cannot both pass."""
    scheduler = FairScheduler()
    first = scheduler.admit("A", [], 1)
    assert first is not None
    assert scheduler.admit("A", [], 1) is None
    scheduler.close(first, queued=False)  # ComfyUI refused the graph: nothing waits
    assert scheduler.admit("A", [], 1) is not None


def test_when_floats_run_out_between_neighbours_a_prompt_goes_last_never_on_a_taken_one() -> None:
    shared = SharedQueue()
    shared.submit("A")
    shared.submit("A")
    shared.start()
    for index in range(80):  # each newcomer halves the same gap before A's second prompt
        shared.submit(f"user{index}")
    numbers = shared.numbers()
    assert len(set(numbers)) == len(numbers) == 81


Event = str | tuple[str, int]


def _events(with_deletions: bool) -> st.SearchStrategy[list[Event]]:
    kinds: list[st.SearchStrategy[Event]] = [st.sampled_from(USERS), st.just(START)]
    if with_deletions:
        kinds += [st.tuples(st.just("delete"), st.integers(0, 30)), st.just(FRONT)]
    return st.lists(st.one_of(*kinds), max_size=60)


@PROPERTY
@given(_events(with_deletions=False))
def test_for_any_arrivals_the_starts_are_round_robin_by_least_recently_served(
    events: list[Event],
) -> None:
    shared, model = SharedQueue(), LeastRecentlyServed()
    for event in [*events, *[START] * 60]:
        if event == START:
            assert shared.start() == model.start()
        else:
            assert isinstance(event, str)
            prompt_id = shared.submit(event)
            assert prompt_id is not None
            model.arrive(event, prompt_id)


@PROPERTY
@given(_events(with_deletions=True), st.sampled_from([1, 2, 100]))
def test_whatever_is_deleted_or_put_first_order_is_kept_and_each_user_is_ahead_at_most_once(
    events: list[Event], remembered_users: int
) -> None:
    """Also when the scheduler forgets when most users were served (its memory bound)."""
    shared = SharedQueue(FairScheduler(remembered_users))
    submitted: list[str] = []
    started: list[str] = []
    fronts: set[str] = set()
    for event in [*events, *[START] * 60]:
        if isinstance(event, tuple):
            pending = shared.pending()
            if pending:
                shared.delete(pending[event[1] % len(pending)])
        elif event == START:
            prompt_id = shared.start()
            started += [] if prompt_id is None else [prompt_id]
        elif event == FRONT:
            prompt_id = shared.submit("root", first=True)
            assert prompt_id is not None
            assert shared.pending()[0] == prompt_id
            fronts.add(prompt_id)
        else:
            prompt_id = shared.submit(event)
            assert prompt_id is not None
            submitted.append(prompt_id)
            pending = shared.pending()
            mine = [i for i, p in enumerate(pending) if shared.owner[p] == event]
            after = [i + 1 for i, p in enumerate(pending) if p in fronts]
            previous = max([*after, mine[-2] + 1 if len(mine) > 1 else 0])
            between = [shared.owner[p] for p in pending[previous : mine[-1]]]
            assert len(between) == len(set(between))
            assert mine[-1] >= previous  # never before an administrator's front prompt
    for user in USERS:
        own = [p for p in started if shared.owner[p] == user]
        assert own == [p for p in submitted if p in own]
