"""The client libraries people run, unchanged, against a real ComfyUI with this package.

``comfy-api-simplified`` (HTTP Basic on every request, ``ws://user:pass@host/ws``) and the
ComfyScript client (its own ``aiohttp`` session factory, Bearer or ``aiohttp.BasicAuth``) come
from PyPI (the ``test`` extra). Each queues a tiny real prompt (``EmptyImage`` 8x8 into
``SaveImage``), follows it on the WebSocket, reads its history and downloads the image
through ``/view`` with the ``filename``/``subfolder``/``type`` the history gives (outputs may
live in a per-user subfolder). ComfyScript patches asyncio at import (``nest_asyncio2``), so
it runs in a child process. The request patterns of Open WebUI, Krita AI Diffusion and the
mobile clients are replayed with aiohttp, written from their published code.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from comfyui_auth.core.api_keys import digest_token, generate_token
from comfyui_auth.core.passwords import PasswordVerifier, make_hasher
from comfyui_auth.tests.comfyui_harness import RunningComfyUI

pytestmark = pytest.mark.comfyui
comfy_api_wrapper = pytest.importorskip("comfy_api_simplified.comfy_api_wrapper")
pytest.importorskip("comfy_script")

ADMIN_KEY = "real-comfyui-clients-admin-0123456789"
PASSWORD = "alice-clients-password-123"
ALICE_KEY, ALICE_KEY_ID = generate_token()
PNG = b"\x89PNG\r\n\x1a\n"
PROMPT: dict[str, Any] = {
    "1": {
        "class_type": "EmptyImage",
        "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0},
        "_meta": {"title": "Empty Image"},
    },
    "2": {
        "class_type": "SaveImage",
        "inputs": {"images": ["1", 0], "filename_prefix": "clients"},
        "_meta": {"title": "Save Image"},
    },
}  # fmt: skip  (as ComfyUI's "Export (API)" writes it, titles included)
COMFYSCRIPT = """
import os, sys, time, aiohttp
from comfy_script.runtime import load, Workflow
from comfy_script.client import Client
url, mode, credential = sys.argv[1:4]
def session():
    if mode == "bearer":
        return aiohttp.ClientSession(headers={"Authorization": "Bearer " + credential})
    user, password = credential.split(":", 1)
    return aiohttp.ClientSession(auth=aiohttp.BasicAuth(user, password))  # its README's example
load(Client(url, session_factory=session), watch=True)
# Its watcher connects the WebSocket in a background thread; a prompt that finishes before
# it is connected is never seen (ComfyScript's race, not the server's): let it connect.
time.sleep(3)
from comfy_script.runtime.nodes import EmptyImage, SaveImage
# A colour of its own: a prompt the server has cached finishes at once, and its "executing"
# message can then beat the reply to the POST that registers the task (ComfyScript's race
# again: its watcher then fails on a task it does not know yet).
color = int.from_bytes(os.urandom(3), "big")
with Workflow():
    saved = SaveImage(EmptyImage(64, 64, 1, color), "comfyscript")
images = saved.wait().wait()
print("IMAGES", len(images), images[0].size, flush=True)
os._exit(0)
"""


@pytest.fixture(scope="module")
def real_comfyui_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    verifier = PasswordVerifier(make_hasher(cheap_for_tests=True))
    auth_file = tmp_path_factory.mktemp("auth") / "auth.json"
    key = {"id": ALICE_KEY_ID, "name": "clients", "hash": digest_token(ALICE_KEY.encode())}
    auth_file.write_text(
        json.dumps([{"user": "alice", "hash": verifier.hash(PASSWORD), "api_keys": [key]}])
    )
    return {
        "COMFYUI_AUTH_FILE": str(auth_file),
        "COMFYUI_API_KEY": ADMIN_KEY,
        "COMFYUI_AUTH_TEST_CHEAP_HASHING": "1",
    }


# --- comfy-api-simplified ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "password"), [("alice", PASSWORD), ("alice", ALICE_KEY)], ids=["password", "key"]
)
def test_comfy_api_simplified_runs_a_prompt_with_basic_credentials(
    real_comfyui: RunningComfyUI, user: str, password: str
) -> None:
    api = comfy_api_wrapper.ComfyApiWrapper(real_comfyui.url, user=user, password=password)
    images = api.queue_and_wait_images(PROMPT, "Save Image")
    assert len(images) == 1, real_comfyui.log_tail()
    (content,) = images.values()
    assert content.startswith(PNG)


def test_comfy_api_simplified_with_a_wrong_password_is_refused(
    real_comfyui: RunningComfyUI,
) -> None:
    api = comfy_api_wrapper.ComfyApiWrapper(real_comfyui.url, user="alice", password="wrong-one")
    with pytest.raises(comfy_api_wrapper.ComfyApiError, match="401"):
        api.queue_prompt(PROMPT)


# --- ComfyScript ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "credential", "works"),
    [
        ("bearer", ALICE_KEY, True),
        ("basic", f"alice:{PASSWORD}", True),
        ("basic", f"anyone:{ALICE_KEY}", True),
        ("basic", "alice:wrong-password", False),
    ],
    ids=["bearer-key", "basic-password", "basic-key", "basic-wrong-password"],
)
def test_comfyscript_runs_a_prompt_with_its_session_factory(
    real_comfyui: RunningComfyUI, tmp_path: Path, mode: str, credential: str, works: bool
) -> None:
    script = tmp_path / "comfyscript_client.py"
    script.write_text(COMFYSCRIPT)
    run = subprocess.run(  # noqa: S603 - our own script, run by this Python
        [sys.executable, str(script), real_comfyui.url + "/", mode, credential],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=tmp_path,
        check=False,
    )
    if works:
        assert run.returncode == 0, (run.stdout[-2000:], run.stderr[-3000:])
        assert "IMAGES 1 (64, 64)" in run.stdout
    else:
        assert run.returncode != 0
        assert "401" in run.stdout + run.stderr
    assert credential.split(":")[-1] not in real_comfyui.log_path.read_text()


# --- request patterns of other clients -----------------------------------------------------


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def follow(socket: aiohttp.ClientWebSocketResponse, prompt_id: str) -> None:
    """Read ComfyUI's messages until it says the prompt finished."""
    async with asyncio.timeout(60):
        async for message in socket:
            if message.type is not aiohttp.WSMsgType.TEXT:
                continue
            event = json.loads(message.data)
            data = event.get("data", {})
            if data.get("prompt_id") != prompt_id:
                continue
            if event["type"] == "execution_success":
                return
            if event["type"] == "executing" and data.get("node") is None:
                return
    pytest.fail("the WebSocket closed before the prompt finished")


async def run_and_download(
    http: aiohttp.ClientSession,
    base: str,
    socket: aiohttp.ClientWebSocketResponse,
    client_id: str,
    headers: dict[str, str],
    view_query: dict[str, str],
) -> bytes:
    """Queue, follow, read the history, download: the steps every client below takes."""
    body = {"prompt": PROMPT, "client_id": client_id}
    async with http.post(f"{base}/prompt", json=body, headers=headers) as answer:
        assert answer.status == 200, await answer.text()
        prompt_id = (await answer.json())["prompt_id"]
    await follow(socket, prompt_id)
    for _ in range(100):  # ComfyUI files the history just after it reports success
        async with http.get(f"{base}/history/{prompt_id}", headers=headers) as answer:
            assert answer.status == 200
            history = await answer.json()
        if prompt_id in history:
            break
        await asyncio.sleep(0.1)
    (image,) = history[prompt_id]["outputs"]["2"]["images"]
    where = {key: image[key] for key in ("filename", "subfolder", "type")}
    async with http.get(f"{base}/view", params={**where, **view_query}, headers=headers) as r:
        assert r.status == 200
        return await r.read()


async def test_open_webui_pattern_bearer_on_ws_connect_and_uploads(
    real_comfyui: RunningComfyUI, http: aiohttp.ClientSession
) -> None:
    """open_webui/utils/images/comfyui.py: Bearer everywhere, ``Mozilla/5.0`` user agent."""
    base, client_id = real_comfyui.url, str(uuid.uuid4())
    headers = {"User-Agent": "Mozilla/5.0", "Authorization": f"Bearer {ALICE_KEY}"}
    form = aiohttp.FormData()
    form.add_field("image", PNG + b"not really", filename="upload.png", content_type="image/png")
    form.add_field("type", "input")
    async with http.post(f"{base}/api/upload/image", data=form, headers=headers) as answer:
        assert answer.status in (200, 400), await answer.text()  # 400: ComfyUI judged the file
    ws_url = base.replace("http://", "ws://") + f"/ws?clientId={client_id}"
    async with http.ws_connect(ws_url, headers={"Authorization": f"Bearer {ALICE_KEY}"}) as ws:
        image = await run_and_download(http, base, ws, client_id, headers, {})
    assert image.startswith(PNG)
    # Without a key configured, Open WebUI sends "Bearer " with nothing after it.
    async with http.get(f"{base}/object_info", headers={"Authorization": "Bearer "}) as answer:
        assert answer.status == 401


async def test_krita_ai_diffusion_pattern_bearer_on_every_request_and_the_websocket(
    real_comfyui: RunningComfyUI, http: aiohttp.ClientSession
) -> None:
    base, client_id = real_comfyui.url, str(uuid.uuid4())
    headers = {"Authorization": f"Bearer {ALICE_KEY}"}
    for path in ("/system_stats", "/object_info", "/embeddings", "/api/queue"):
        async with http.get(base + path, headers=headers) as answer:
            assert answer.status == 200, path
    ws_url = base.replace("http://", "ws://") + f"/ws?clientId={client_id}"
    # Its connection test opens the WebSocket without the token: refused, as documented.
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(ws_url)
    assert refused.value.status == 401
    async with http.ws_connect(ws_url, headers=headers) as ws:
        image = await run_and_download(http, base, ws, client_id, headers, {})
    assert image.startswith(PNG)


async def test_mobile_client_pattern_token_in_the_websocket_and_view_urls(
    real_comfyui: RunningComfyUI, http: aiohttp.ClientSession
) -> None:
    """comfy-mobile-ui / Comfy Portal style: ``?token=`` where a browser cannot set headers."""
    base, client_id = real_comfyui.url, str(uuid.uuid4())
    ws_url = base.replace("http://", "ws://") + f"/ws?clientId={client_id}&token={ALICE_KEY}"
    async with http.ws_connect(ws_url) as ws:
        image = await run_and_download(
            http, base, ws, client_id, {"X-API-Key": ALICE_KEY}, {"token": ALICE_KEY}
        )
    assert image.startswith(PNG)
    assert ALICE_KEY not in real_comfyui.log_path.read_text()
