"""Two users on a real ComfyUI: each sees, deletes and interrupts only their own prompts.

The prompts are real: ``EmptyImage`` into ``SaveImage`` runs on the CPU in a moment, so the
history ComfyUI builds is the one being filtered.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from comfyui_auth.core.api_keys import digest_token, generate_token
from comfyui_auth.core.passwords import PasswordVerifier, make_hasher
from comfyui_auth.tests.comfyui_harness import RunningComfyUI

pytestmark = pytest.mark.comfyui
ADMIN_KEY = "real-comfyui-isolation-admin-0123456789"
VERIFIER = PasswordVerifier(make_hasher(cheap_for_tests=True))
PROMPT = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1,
                                                  "color": 0}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "iso"}},
}  # fmt: skip
KEYS: dict[str, str] = {}


def user_with_key(name: str) -> dict[str, Any]:
    token, key_id = generate_token()
    KEYS[name] = token
    return {
        "user": name,
        "hash": VERIFIER.hash(f"{name}-password-123"),
        "api_keys": [{"id": key_id, "name": "test", "hash": digest_token(token.encode())}],
    }


@pytest.fixture(scope="module")
def real_comfyui_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    auth_file = tmp_path_factory.mktemp("auth") / "auth.json"
    auth_file.write_text(json.dumps([user_with_key("alice"), user_with_key("bob")]))
    return {
        "COMFYUI_AUTH_FILE": str(auth_file),
        "COMFYUI_API_KEY": ADMIN_KEY,
        "COMFYUI_AUTH_TEST_CHEAP_HASHING": "1",
    }


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession, base: str, who: str, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    key = ADMIN_KEY if who == "admin" else KEYS[who]
    async with http.request(method, base + path, json=body, headers={"X-API-Key": key}) as r:
        text = await r.text()
        return r.status, json.loads(text) if text else None


async def finished(http: aiohttp.ClientSession, base: str, prompt_ids: list[str]) -> None:
    for _ in range(200):
        status, history = await call(http, base, "admin", "GET", "/api/history")
        if status == 200 and all(p in history for p in prompt_ids):
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"ComfyUI did not finish {prompt_ids} within 20 s")


async def test_each_user_sees_and_deletes_only_their_own_history(
    real_comfyui: RunningComfyUI, http: aiohttp.ClientSession
) -> None:
    base = real_comfyui.url
    ids = {}
    for who in ("alice", "bob"):
        status, answer = await call(http, base, who, "POST", "/api/prompt", {"prompt": PROMPT})
        assert status == 200, (answer, real_comfyui.log_tail())
        ids[who] = answer["prompt_id"]
    await finished(http, base, list(ids.values()))

    assert list((await call(http, base, "alice", "GET", "/api/history"))[1]) == [ids["alice"]]
    assert list((await call(http, base, "bob", "GET", "/history"))[1]) == [ids["bob"]]
    assert await call(http, base, "alice", "GET", f"/api/history/{ids['bob']}") == (200, {})
    status, jobs = await call(http, base, "alice", "GET", "/api/jobs")
    assert status == 200
    assert [job["id"] for job in jobs["jobs"]] == [ids["alice"]]
    assert (await call(http, base, "alice", "GET", f"/api/jobs/{ids['bob']}"))[0] == 404

    refused = await call(http, base, "alice", "POST", "/api/history", {"delete": [ids["bob"]]})
    assert refused == (403, {"error": "this prompt belongs to another user"})
    assert (await call(http, base, "alice", "POST", "/api/history", {"clear": True}))[0] == 200
    status, history = await call(http, base, "admin", "GET", "/api/history")
    assert list(history) == [ids["bob"]]


async def test_only_administrators_list_everyones_outputs(
    real_comfyui: RunningComfyUI, http: aiohttp.ClientSession
) -> None:
    base = real_comfyui.url
    for spelling in ("output", "temp", "%6Futput", "%74emp", "out%70ut"):
        refused = await call(http, base, "alice", "GET", f"/internal/files/{spelling}")
        assert refused == (403, {"error": "this route is for administrators"}), spelling
    assert (await call(http, base, "alice", "GET", "/internal/files/input"))[0] == 200
    assert (await call(http, base, "admin", "GET", "/internal/files/output"))[0] == 200


async def test_a_users_progress_never_reaches_another_users_socket(
    real_comfyui: RunningComfyUI, http: aiohttp.ClientSession
) -> None:
    """A script's prompt without ``client_id`` would have ComfyUI broadcast its progress."""
    base = real_comfyui.url
    url = f"{base}/ws?clientId=bobs-tab&api_key={KEYS['bob']}"
    async with http.ws_connect(url) as bobs_socket:
        status, answer = await call(http, base, "alice", "POST", "/api/prompt", {"prompt": PROMPT})
        assert status == 200
        await finished(http, base, [answer["prompt_id"]])
        seen: list[dict[str, Any]] = []
        while True:
            try:
                message = await bobs_socket.receive_json(timeout=1)
            except (TimeoutError, TypeError):  # quiet for a second, or a binary frame
                break
            seen.append(message)
    about_alice = [m for m in seen if m.get("data", {}).get("prompt_id") == answer["prompt_id"]]
    assert about_alice == []
    assert any(m["type"] == "status" for m in seen)  # the socket did receive ComfyUI's own
