"""Fair sharing on a real ComfyUI: users take turns, nobody jumps the line, the limit holds.

The prompts really run on the CPU: a 1024x1024 ``EmptyImage`` through ``ImageBlur`` into
``SaveImage`` takes about half a second (each with its own colour, so ComfyUI's cache never
skips one), and the first prompt of each test is a batch of four, so that it is still
running while everyone else queues. The order is read from ComfyUI's own queue and history.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from itertools import count
from typing import Any

import aiohttp
import pytest

from comfyui_auth.tests.comfyui_harness import RunningComfyUI
from comfyui_auth.tests.test_real_comfyui_isolation import ADMIN_KEY, call, user_with_key

pytestmark = pytest.mark.comfyui
LIMIT = 6
COLOURS = count(1)
DEADLINE_S = 60.0


def slow_prompt(batch: int = 1, size: int = 1024, prefix: str = "fair") -> dict[str, Any]:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": size, "height": size,
                                                      "batch_size": batch,
                                                      "color": next(COLOURS)}},
        "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 4,
                                                     "sigma": 2.0}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0],
                                                     "filename_prefix": prefix}},
    }  # fmt: skip


def quick_prompt() -> dict[str, Any]:
    """Waits behind a slow one like any other; runs in a moment once its turn comes."""
    return slow_prompt(size=8)


@pytest.fixture(scope="module")
def real_comfyui_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    auth_file = tmp_path_factory.mktemp("auth") / "auth.json"
    auth_file.write_text(json.dumps([user_with_key(name) for name in ("ann", "bob", "cat")]))
    return {
        "COMFYUI_AUTH_FILE": str(auth_file),
        "COMFYUI_API_KEY": ADMIN_KEY,
        "COMFYUI_AUTH_TEST_CHEAP_HASHING": "1",
        "COMFYUI_AUTH_MAX_PENDING": str(LIMIT),
    }


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class Queueing:
    """Prompts sent to one ComfyUI, with who sent each."""

    def __init__(self, comfy: RunningComfyUI, http: aiohttp.ClientSession) -> None:
        self.comfy, self.http = comfy, http
        self.owner: dict[str, str] = {}

    async def call(self, who: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return await call(self.http, self.comfy.url, who, method, path, body)

    async def queue(self, who: str, prompt: dict[str, Any], **extra: Any) -> dict[str, Any]:
        status, answer = await self.call(who, "POST", "/api/prompt", {"prompt": prompt, **extra})
        assert status == 200, (answer, self.comfy.log_tail())
        self.owner[answer["prompt_id"]] = who
        return dict(answer)

    async def first_running(self, who: str) -> str:
        """Queue ``who``'s long prompt and return its id once ComfyUI runs it."""
        prompt_id = (await self.queue(who, slow_prompt(batch=4)))["prompt_id"]
        await self.until(lambda q: [item[1] for item in q["queue_running"]] == [prompt_id])
        return str(prompt_id)

    async def pending_owners(self, running: str) -> list[str]:
        """Owners of the pending prompts in the order ComfyUI will start them."""
        status, queue = await self.call("admin", "GET", "/api/queue")
        assert status == 200
        still = [item[1] for item in queue["queue_running"]]
        assert still == [running], "the long prompt ended before the others were queued"
        in_order = sorted(queue["queue_pending"], key=lambda item: item[0])
        return [self.owner.get(item[1], "?") for item in in_order]

    async def started_in_order(self) -> list[str]:
        """Owners of this test's prompts in the order they ran, once all have run."""
        mine = set(self.owner)
        history = await self.until(lambda h: mine <= set(h), path="/api/history")
        return [self.owner[prompt_id] for prompt_id in history if prompt_id in mine]

    async def until(self, done: Any, path: str = "/api/queue") -> Any:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            status, answer = await self.call("admin", "GET", path)
            if status == 200 and done(answer):
                return answer
            await asyncio.sleep(0.05)
        pytest.fail(f"ComfyUI did not get there within {DEADLINE_S} s\n{self.comfy.log_tail()}")


@pytest.fixture
async def queueing(
    real_comfyui: RunningComfyUI, http: aiohttp.ClientSession
) -> AsyncIterator[Queueing]:
    session = Queueing(real_comfyui, http)
    yield session
    await session.until(lambda q: not q["queue_running"] and not q["queue_pending"])


async def test_users_who_queue_after_a_long_run_of_one_user_take_turns_with_it(
    queueing: Queueing,
) -> None:
    first = await queueing.first_running("ann")
    for _ in range(LIMIT):
        await queueing.queue("ann", slow_prompt())
    for who in ("bob", "bob", "cat", "cat"):
        await queueing.queue(who, slow_prompt())

    order = await queueing.pending_owners(first)
    assert order == ["bob", "cat", "ann", "bob", "cat", "ann", "ann", "ann", "ann", "ann"]
    status, bobs_view = await queueing.call("bob", "GET", "/api/queue")
    assert status == 200
    bobs = [item[1] for item in bobs_view["queue_pending"]]
    assert {queueing.owner[p] for p in bobs} == {"bob"}
    assert bobs_view["queue_running"] == []
    assert sorted(bobs_view["comfyui_auth_ahead"].values()) == [1, 4]  # 1: ann's running one
    assert set(bobs_view["comfyui_auth_ahead"]) == set(bobs)

    started = await queueing.started_in_order()
    assert started == ["ann", *order]


async def test_a_users_front_and_number_are_ignored_an_administrators_front_goes_first(
    queueing: Queueing,
) -> None:
    first = await queueing.first_running("ann")
    await queueing.queue("ann", quick_prompt())
    await queueing.queue("ann", quick_prompt())
    fair = await queueing.queue("bob", quick_prompt())
    jumps = [
        await queueing.queue("bob", quick_prompt(), front=True),
        await queueing.queue("bob", quick_prompt(), number=-1_000_000),
    ]
    assert all(jump["number"] > fair["number"] for jump in jumps)
    await queueing.queue("admin", quick_prompt(), front=True)

    order = await queueing.pending_owners(first)
    assert order == ["admin", "bob", "ann", "bob", "ann", "bob"]
    assert await queueing.started_in_order() == ["ann", *order]


async def test_past_the_limit_a_user_gets_429_naming_it_until_one_of_theirs_leaves(
    queueing: Queueing,
) -> None:
    """Deleting one waiting prompt makes room; interrupting the running one keeps the order."""
    first = await queueing.first_running("ann")
    waiting = [(await queueing.queue("ann", quick_prompt()))["prompt_id"] for _ in range(LIMIT)]

    status, refused = await queueing.call("ann", "POST", "/api/prompt", {"prompt": quick_prompt()})
    assert status == 429
    assert refused["error"]["type"] == "too_many_pending"
    assert str(LIMIT) in refused["error"]["message"]
    assert refused["node_errors"] == {}
    await queueing.queue("bob", quick_prompt())  # another user is not held back
    await queueing.queue("admin", quick_prompt())  # nor an administrator

    assert (await queueing.call("ann", "POST", "/api/queue", {"delete": [waiting[-1]]}))[0] == 200
    queueing.owner.pop(waiting[-1])
    await queueing.queue("ann", quick_prompt())
    order = await queueing.pending_owners(first)
    assert sorted(order[:2]) == ["admin", "bob"]  # in the order they were last served
    assert order[2:] == ["ann"] * LIMIT
    assert (await queueing.call("ann", "POST", "/api/interrupt", {"prompt_id": first}))[0] == 200
    assert await queueing.started_in_order() == ["ann", *order]


async def test_the_current_user_node_names_who_queued_whatever_the_graph_claims(
    queueing: Queueing,
) -> None:
    spoofed = {"comfyui_auth_user": "ann", "comfyui_auth_user_id": "auth_ann"}
    prompt = {
        "1": {"class_type": "ComfyUIAuthCurrentUser", "inputs": spoofed},
        "2": quick_prompt()["1"],
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0],
                                                     "filename_prefix": ["1", 1]}},
    }  # fmt: skip
    prompt_id = (await queueing.queue("bob", prompt))["prompt_id"]
    await queueing.started_in_order()

    status, history = await queueing.call("bob", "GET", f"/api/history/{prompt_id}")
    assert status == 200
    assert history[prompt_id]["status"]["status_str"] == "success"
    image = history[prompt_id]["outputs"]["3"]["images"][0]
    assert image["filename"].startswith("auth_bob_")
    status, info = await queueing.call("bob", "GET", "/api/object_info/ComfyUIAuthCurrentUser")
    assert status == 200
    node = info["ComfyUIAuthCurrentUser"]
    assert (node["category"], node["display_name"]) == ("comfyui-auth", "Current User")
    assert node["description"]
