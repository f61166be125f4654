"""How fair is the shared queue? Each user's time to result, relative to their fair share.

Three users share one GPU: ``batch`` queues 30 prompts at once, ``interactive`` one short
prompt every 3 time units, ``bursty`` two bursts of 6. The queue is ComfyUI's heap (the host
double's ``PromptQueue``) and the numbers come from the real scheduler (``SharedQueue``); the
worker runs one prompt at a time, without preemption, as ComfyUI does. Time is simulated, so
the figures are exact and the same on every machine.

The fair share is ideal processor sharing (GPS): while k users have work waiting, each gets
1/k of the GPU. For each user the benchmark prints the mean and the worst time from queueing
to result divided by what GPS would give the same prompt: 1.0 is a perfectly fair share,
above it the user waits longer than their share, below it they get more. The same load is
also run first come, first served (ComfyUI on its own).

    .venv/bin/python benchmarks/fair_queue.py
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from itertools import count
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import conftest  # noqa: F401 - registers the package as comfyui_auth

from comfyui_auth.devhost.prompt_queue import PromptQueue
from comfyui_auth.tests.fair_queue_sim import SharedQueue


@dataclass(frozen=True)
class Prompt:
    user: str
    arrival: float
    work: float


def mixed_load() -> list[Prompt]:
    batch = [Prompt("batch", 0.0, 1.0) for _ in range(30)]
    interactive = [Prompt("interactive", 0.5 + 3.0 * i, 0.5) for i in range(12)]
    bursty = [Prompt("bursty", start, 1.0) for start in (5.0, 25.0) for _ in range(6)]
    return sorted([*batch, *interactive, *bursty], key=lambda p: p.arrival)


class FirstComeFirstServed:
    """ComfyUI without the package: every prompt gets the next number."""

    def __init__(self) -> None:
        self.queue = PromptQueue()
        self._numbers = count()

    def submit(self, user: str) -> str:
        number = next(self._numbers)
        prompt_id = f"p{number}"
        self.queue.put((float(number), prompt_id, {}, {}, [], {}))
        return prompt_id

    def start(self) -> str | None:
        taken = self.queue.get(timeout=0)
        if taken is None:
            return None
        self.queue.task_done(taken[1], {}, None)
        return str(taken[0][1])


class Fair:
    """ComfyUI with comfyui-auth: the scheduler numbers every prompt."""

    def __init__(self) -> None:
        self.shared = SharedQueue()

    def submit(self, user: str) -> str:
        prompt_id = self.shared.submit(user)
        assert prompt_id is not None  # noqa: S101 - no limit is set
        return prompt_id

    def start(self) -> str | None:
        return self.shared.start()


def run_worker(load: list[Prompt], queue: FirstComeFirstServed | Fair) -> list[float]:
    """Completion time of each prompt of ``load`` with one non-preemptive worker."""
    done = [0.0] * len(load)
    index_of: dict[str, int] = {}
    clock, arrived, finished = 0.0, 0, 0
    while finished < len(load):
        while arrived < len(load) and load[arrived].arrival <= clock:
            index_of[queue.submit(load[arrived].user)] = arrived
            arrived += 1
        prompt_id = queue.start()
        if prompt_id is None:
            clock = load[arrived].arrival
            continue
        index = index_of[prompt_id]
        clock += load[index].work
        done[index] = clock
        finished += 1
    return done


def processor_sharing(load: list[Prompt]) -> list[float]:
    """Completion times under GPS: backlogged users split the GPU equally, FIFO within one."""
    done = [0.0] * len(load)
    left = [p.work for p in load]
    waiting: dict[str, list[int]] = {}
    clock, arrived = 0.0, 0
    while arrived < len(load) or any(waiting.values()):
        while arrived < len(load) and load[arrived].arrival <= clock:
            waiting.setdefault(load[arrived].user, []).append(arrived)
            arrived += 1
        heads = [queue[0] for queue in waiting.values() if queue]
        if not heads:
            clock = load[arrived].arrival
            continue
        rate = 1.0 / len(heads)
        step = min(left[i] for i in heads) / rate
        if arrived < len(load):
            step = min(step, load[arrived].arrival - clock)
        clock += step
        for i in heads:
            left[i] -= step * rate
            if left[i] <= 1e-9:
                done[i] = clock
                waiting[load[i].user].remove(i)
    return done


def ratios(load: list[Prompt], done: list[float], fair: list[float]) -> dict[str, list[float]]:
    by_user: dict[str, list[float]] = {}
    for prompt, actual, ideal in zip(load, done, fair, strict=True):
        by_user.setdefault(prompt.user, []).append(
            (actual - prompt.arrival) / (ideal - prompt.arrival)
        )
    return by_user


def main() -> None:
    load = mixed_load()
    fair_share = processor_sharing(load)
    runs: dict[str, Callable[[], FirstComeFirstServed | Fair]] = {
        "first come, first served (ComfyUI alone)": FirstComeFirstServed,
        "round-robin by user (comfyui-auth)": Fair,
    }
    print("time to result / fair share (GPS); 1.0 = exactly a fair share\n")
    for title, make in runs.items():
        by_user = ratios(load, run_worker(load, make()), fair_share)
        print(title)
        print(f"  {'user':<12} {'prompts':>7} {'mean':>6} {'worst':>6}")
        for user, values in by_user.items():
            mean = sum(values) / len(values)
            print(f"  {user:<12} {len(values):>7} {mean:>6.2f} {max(values):>6.2f}")
        print()


if __name__ == "__main__":
    main()
