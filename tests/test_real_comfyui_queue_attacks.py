"""Bob attacks alice's prompts on a real ComfyUI with every spelling ComfyUI would read.

The isolation layer must decide on exactly what ComfyUI's handler reads: bodies in a declared
charset (latin-1, UTF-7), ``HEAD`` for ``GET``, path parameters as the router decodes them,
and the job-cancel routes of newer releases. Alice's prompts really run (a large blur keeps
one busy while another waits); after each attack her work must still be there.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from comfyui_auth.tests.comfyui_harness import RunningComfyUI
from comfyui_auth.tests.comfyui_users import TINY_IMAGE_PROMPT, Accounts, Client

pytestmark = pytest.mark.comfyui
SLOW_PROMPT: dict[str, Any] = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 1536, "height": 1536,
                                                  "batch_size": 2, "color": 0}},
    "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 31,
                                                 "sigma": 8.0}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "slow"}},
}  # fmt: skip


@pytest.fixture(scope="module")
def real_comfyui_env(accounts: Accounts) -> dict[str, str]:
    return accounts.env


@pytest.fixture
async def client(real_comfyui: RunningComfyUI, accounts: Accounts) -> AsyncIterator[Client]:
    """The shared client, and afterwards an idle ComfyUI for the next test."""
    async with aiohttp.ClientSession() as http:
        client = Client(http, real_comfyui.url, accounts.keys)
        yield client
        await client.call("admin", "POST", "/api/queue", {"clear": True})
        await client.call("admin", "POST", "/api/interrupt", {})
        await wait_idle(client)


async def wait_idle(client: Client) -> None:
    for _ in range(600):
        status, queue = await client.call("admin", "GET", "/api/queue")
        if status == 200 and not queue["queue_running"] and not queue["queue_pending"]:
            return
        await asyncio.sleep(0.1)
    pytest.fail("ComfyUI did not become idle")


async def running_and_pending(client: Client) -> tuple[str, str]:
    """Alice's slow prompt running and a second one waiting behind it."""
    running = await client.queue("alice", SLOW_PROMPT)
    pending = await client.queue("alice", SLOW_PROMPT)
    for _ in range(300):
        _, queue = await client.call("alice", "GET", "/api/queue")
        if [item[1] for item in queue["queue_running"]] == [running]:
            return running, pending
        await asyncio.sleep(0.05)
    pytest.fail("alice's prompt did not start")


async def pending_ids(client: Client) -> list[str]:
    _, queue = await client.call("admin", "GET", "/api/queue")
    return [item[1] for item in queue["queue_pending"]]


def encoded(body: str, charset: str) -> tuple[bytes, dict[str, str]]:
    return body.encode(charset), {"Content-Type": f"application/json; charset={charset}"}


async def test_a_latin1_clear_removes_only_the_senders_history(client: Client) -> None:
    alices = await client.queue("alice", TINY_IMAGE_PROMPT)
    await client.finished(alices)
    data, headers = encoded('{"clear": true, "x": "\xff"}', "latin-1")
    status, _ = await client.call("bob", "POST", "/api/history", data=data, headers=headers)
    assert status == 200
    _, history = await client.call("admin", "GET", f"/api/history/{alices}")
    assert alices in history


async def test_a_latin1_clear_removes_only_the_senders_pending_prompts(client: Client) -> None:
    _, pending = await running_and_pending(client)
    data, headers = encoded('{"clear": true, "x": "\xff"}', "latin-1")
    status, _ = await client.call("bob", "POST", "/api/queue", data=data, headers=headers)
    assert status == 200
    assert pending in await pending_ids(client)


async def test_a_utf7_interrupt_cannot_stop_another_users_prompt(client: Client) -> None:
    running, _ = await running_and_pending(client)
    body = json.dumps({"prompt_id": running})
    for data, headers in (encoded(body, "utf-7"), (b"", {})):
        status, answer = await client.call(
            "bob", "POST", "/api/interrupt", data=data, headers=headers
        )
        assert status == 403, answer
    _, queue = await client.call("admin", "GET", "/api/queue")
    assert [item[1] for item in queue["queue_running"]] == [running]


async def test_a_latin1_prompt_cannot_claim_another_users_prompt_id(client: Client) -> None:
    alices = await client.queue("alice", TINY_IMAGE_PROMPT)
    body = json.dumps({"prompt": TINY_IMAGE_PROMPT, "prompt_id": alices, "x": "\xe9"})
    data, headers = encoded(body, "latin-1")
    status, answer = await client.call("bob", "POST", "/api/prompt", data=data, headers=headers)
    assert status == 403, answer


@pytest.mark.parametrize("path", ["/api/prompt", "/api/queue", "/api/history", "/api/interrupt"])
async def test_a_body_in_an_unknown_charset_is_refused_not_passed_on(
    client: Client, path: str
) -> None:
    headers = {"Content-Type": "application/json; charset=x-no-such-charset"}
    status, answer = await client.call(
        "bob", "POST", path, data=b'{"clear": true}', headers=headers
    )
    assert status == 400, answer


async def test_head_is_filtered_like_get(client: Client) -> None:
    await running_and_pending(client)
    _, bobs_view = await client.call("bob", "GET", "/api/queue")
    assert (bobs_view["queue_running"], bobs_view["queue_pending"]) == ([], [])
    head = await client.raw("bob", "HEAD", "/api/queue")
    assert head.status == 200
    assert int(head.headers["Content-Length"]) == len(json.dumps(bobs_view))


async def test_an_encoded_slash_in_a_history_id_is_decoded_as_the_router_decodes_it(
    real_comfyui: RunningComfyUI, client: Client
) -> None:
    status, answer = await client.call(
        "alice", "POST", "/api/prompt", {"prompt": TINY_IMAGE_PROMPT, "prompt_id": "run/42"}
    )
    if real_comfyui.tree.version_tuple >= (0, 33):
        assert status == 400, answer  # newer ComfyUI accepts canonical UUIDs only
        return
    assert status == 200, answer
    await client.finished("run/42")
    assert await client.call("bob", "GET", "/api/history/run%2F42") == (200, {})
    _, alices = await client.call("alice", "GET", "/api/history/run%2F42")
    assert "run/42" in alices


async def test_another_users_jobs_cannot_be_cancelled(
    real_comfyui: RunningComfyUI, client: Client
) -> None:
    running, pending = await running_and_pending(client)
    attempts = [
        (f"/api/jobs/{pending}/cancel", None),
        (f"/api/jobs/{running}/cancel", None),
        ("/api/jobs/cancel", {"job_ids": [pending]}),
        ("/api/jobs/cancel", {"job_ids": [str(uuid.uuid4()), running]}),
    ]
    expected = 403 if real_comfyui.tree.version_tuple >= (0, 33) else 404
    for path, body in attempts:
        status, answer = await client.call("bob", "POST", path, body)
        assert status in (expected, 405), (path, status, answer)
    assert pending in await pending_ids(client)
    _, queue = await client.call("admin", "GET", "/api/queue")
    assert [item[1] for item in queue["queue_running"]] == [running]
    if expected == 403:
        status, answer = await client.call("alice", "POST", f"/api/jobs/{pending}/cancel")
        assert status == 200, answer
        assert pending not in await pending_ids(client)


SIZE_TEXT_PROMPT: dict[str, Any] = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1,
                                                  "color": 0}},
    "2": {"class_type": "GetImageSize", "inputs": {"image": ["1", 0]}},
    "3": {"class_type": "EmptyImage", "inputs": {"width": ["2", 0], "height": ["2", 1],
                                                  "batch_size": 1, "color": 0}},
    "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "size"}},
}  # fmt: skip
"""``GetImageSize`` sends its progress text to every socket (``sid=None``) in ComfyUI."""


async def frames(socket: aiohttp.ClientWebSocketResponse, quiet: float = 1.0) -> list[Any]:
    """What the socket received until it stayed quiet for ``quiet`` seconds."""
    received: list[Any] = []
    while True:
        try:
            message = await socket.receive(timeout=quiet)
        except TimeoutError:
            return received
        if message.type == aiohttp.WSMsgType.TEXT:
            received.append(json.loads(message.data))
        elif message.type == aiohttp.WSMsgType.BINARY:
            received.append(bytes(message.data))
        else:
            return received


def socket_url(client: Client, who: str, client_id: str) -> str:
    return f"{client.base}/ws?clientId={client_id}&api_key={client.keys[who]}"


async def test_broadcast_progress_text_reaches_only_the_prompts_owner(client: Client) -> None:
    async with (
        client.http.ws_connect(socket_url(client, "alice", "alices-tab")) as alices,
        client.http.ws_connect(socket_url(client, "bob", "bobs-tab")) as bobs,
    ):
        prompt_id = await client.queue("alice", SIZE_TEXT_PROMPT, client_id="alices-tab")
        await client.finished(prompt_id)
        seen_by_alice, seen_by_bob = await frames(alices), await frames(bobs)
    assert any(isinstance(f, bytes) and b"width: 8" in f for f in seen_by_alice)
    assert not any(isinstance(f, bytes) for f in seen_by_bob)
    assert not any(isinstance(f, dict) and prompt_id in json.dumps(f) for f in seen_by_bob)


async def test_an_interruption_is_announced_only_to_the_prompts_owner(client: Client) -> None:
    """A prompt without ``client_id`` (an administrator's script) has ComfyUI broadcast it."""
    async with (
        client.http.ws_connect(socket_url(client, "admin", "admins-tab")) as admins,
        client.http.ws_connect(socket_url(client, "bob", "bobs-tab")) as bobs,
    ):
        running = await client.queue("admin", SLOW_PROMPT)
        for _ in range(300):
            _, queue = await client.call("admin", "GET", "/api/queue")
            if queue["queue_running"]:
                break
            await asyncio.sleep(0.05)
        status, _ = await client.call("admin", "POST", "/api/interrupt", {"prompt_id": running})
        assert status == 200
        await client.finished(running)
        seen_by_admin, seen_by_bob = await frames(admins), await frames(bobs)
    assert "execution_interrupted" in message_types(seen_by_admin)
    assert "execution_interrupted" not in message_types(seen_by_bob)
    assert not any(isinstance(f, dict) and running in json.dumps(f) for f in seen_by_bob)
    assert "status" in message_types(seen_by_bob)


def message_types(seen: list[Any]) -> set[str]:
    return {f["type"] for f in seen if isinstance(f, dict)}
