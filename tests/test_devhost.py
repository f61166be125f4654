"""The host double keeps ComfyUI 0.8.0's server contract, and the real frontend boots in it.

Every other suite trusts ``devhost`` to behave like ComfyUI where an auth layer can go wrong:
route registration (``/x`` and ``/api/x``, the ``/internal`` sub-app, static files last),
custom-node loading, the WebSocket greeting, the queue's tuple shape and path confinement.
"""

from __future__ import annotations

import asyncio
import struct
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData, web
from aiohttp.test_utils import TestClient, TestServer

from comfyui_auth.devhost import execute_pending
from comfyui_auth.devhost.host_double import HostDouble
from comfyui_auth.devhost.loader import module_name_for
from comfyui_auth.tests.conftest import REPO_ROOT
from comfyui_auth.tests.fixtures_host import MakeHost

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[[web.Application], Awaitable[Client]]
SAVE_ONLY = {"9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "t"}}}
API_ROUTES = [
    "/prompt", "/queue", "/history", "/object_info", "/object_info/SaveImage", "/system_stats",
    "/features", "/extensions", "/embeddings", "/models", "/models/checkpoints", "/i18n",
    "/users", "/settings", "/settings/Comfy.TutorialCompleted", "/userdata?dir=workflows",
    "/v2/userdata", "/userdata/comfy.settings.json", "/workflow_templates",
    "/experiment/models", "/global_subgraphs", "/view?filename=demo.png",
]  # fmt: skip


Served = tuple[HostDouble, Client]


@pytest.fixture
async def client(make_host: MakeHost, aiohttp_client: ClientFactory) -> Client:
    return await aiohttp_client(make_host().app)


@pytest.fixture
async def served(make_host: MakeHost, aiohttp_client: ClientFactory) -> Served:
    """A host double and a client of it, for tests that look at both."""
    host = make_host()
    return host, await aiohttp_client(host.app)


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.parametrize("path", API_ROUTES)
async def test_each_route_answers_the_same_at_its_path_and_under_api(
    client: Client, path: str
) -> None:
    plain, prefixed = await client.get(path), await client.get("/api" + path)
    assert (plain.status, prefixed.status) == (200, 200)
    assert await plain.read() == await prefixed.read()


async def test_internal_routes_live_in_a_sub_app_with_no_api_twin(make_host: MakeHost) -> None:
    host = make_host()
    subapps = [r for r in host.app.router.resources() if isinstance(r, web.PrefixedSubAppResource)]
    assert [r.canonical for r in subapps] == ["/internal"]
    async with TestClient(TestServer(host.app)) as client:
        logs = await client.get("/internal/logs")
        assert logs.status == 200
        assert isinstance(await logs.json(), str)  # ComfyUI answers one JSON string
        raw = await (await client.get("/internal/logs/raw")).json()
        assert set(raw) == {"entries", "size"}
        assert (await client.get("/internal/folder_paths")).status == 200
        assert "demo.png" in await (await client.get("/internal/files/output")).json()
        assert (await client.get("/api/internal/logs")).status == 404


async def test_the_frontend_is_served_last_with_index_html_never_cached(client: Client) -> None:
    index = await client.get("/")
    assert index.status == 200
    assert index.headers["Cache-Control"] == "no-cache"
    assert "<!doctype html>" in (await index.text()).lower()
    script = await client.get("/scripts/app.js")
    assert (script.status, script.headers["Cache-Control"]) == (200, "no-cache")
    assert (await client.get("/no-such-file.txt")).status == 404


async def test_the_socket_greets_each_client_with_its_id_and_the_queue_length(
    served: Served,
) -> None:
    host, client = served
    async with client.ws_connect("/ws?clientId=abc") as socket:
        greeting = await socket.receive_json()
        assert greeting == {
            "type": "status",
            "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": "abc"},
        }
        assert set(host.sockets) == {"abc"}
        await socket.send_json({"type": "feature_flags", "data": {"supports_preview_metadata": 1}})
        assert (await socket.receive_json())["type"] == "feature_flags"
    async with client.ws_connect("/ws") as anonymous:
        assert len((await anonymous.receive_json())["data"]["sid"]) == 32  # a fresh uuid hex


async def test_a_client_reconnecting_with_its_id_replaces_its_old_socket(served: Served) -> None:
    host, client = served
    async with client.ws_connect("/ws?clientId=abc") as first:
        await first.receive_json()
        old = host.sockets["abc"]
        async with client.ws_connect("/ws?clientId=abc") as second:
            await second.receive_json()
            assert host.sockets["abc"] is not old
            await host.send_json("executed", {"node": "9"}, "abc")
            assert (await second.receive_json())["type"] == "executed"


async def test_a_message_sent_from_a_worker_thread_reaches_its_client(served: Served) -> None:
    host, client = served
    async with client.ws_connect("/ws?clientId=abc") as socket:
        await socket.receive_json()
        await asyncio.to_thread(host.send_sync, "progress", {"value": 1, "max": 2}, "abc")
        assert await socket.receive_json() == {
            "type": "progress",
            "data": {"value": 1, "max": 2},
        }


async def test_a_queued_prompt_keeps_comfyuis_tuple_after_the_on_prompt_handlers_ran(
    make_host: MakeHost, aiohttp_client: ClientFactory
) -> None:
    host = make_host()
    seen: list[dict[str, Any]] = []

    def tag_user(json_data: dict[str, Any]) -> dict[str, Any]:
        seen.append(dict(json_data))
        json_data.setdefault("extra_data", {})["user"] = "hana"
        return json_data

    host.add_on_prompt_handler(tag_user)
    client = await aiohttp_client(host.app)
    body = {"prompt": SAVE_ONLY, "client_id": "abc", "extra_data": {"api_key_comfy_org": "k"}}
    answer = await client.post("/api/prompt", json=body)
    assert answer.status == 200
    queued = await answer.json()
    assert set(queued) == {"prompt_id", "number", "node_errors"}
    assert seen[0]["client_id"] == "abc"
    running, pending = host.prompt_queue.get_current_queue_volatile()
    assert running == []
    number, prompt_id, prompt, extra_data, outputs, sensitive = pending[0]
    assert (number, prompt_id, prompt, outputs) == (0, queued["prompt_id"], SAVE_ONLY, ["9"])
    assert extra_data["user"] == "hana"
    assert extra_data["client_id"] == "abc"
    assert sensitive == {"api_key_comfy_org": "k"}
    assert host.prompt_queue.get_tasks_remaining() == 1
    listed = await (await client.get("/queue")).json()
    assert len(listed["queue_pending"][0]) == 5  # the sensitive part never leaves the server


async def test_running_a_prompt_sends_progress_and_files_the_outputs_in_history(
    served: Served,
) -> None:
    host, client = served
    async with client.ws_connect("/ws?clientId=abc") as socket:
        await socket.receive_json()
        body = {"prompt": SAVE_ONLY, "client_id": "abc"}
        queued = await (await client.post("/prompt", json=body)).json()
        assert await execute_pending(host) == [queued["prompt_id"]]
        events = [(await socket.receive_json())["type"] for _ in range(7)]
    assert "executed" in events
    assert "execution_success" in events
    history = host.prompt_queue.get_history(queued["prompt_id"])[queued["prompt_id"]]
    assert len(history["prompt"]) == 5
    image = history["outputs"]["9"]["images"][0]
    view = await client.get("/api/view", params=image)
    assert png_size(await view.read()) == (64, 64)
    jobs = await (await client.get("/api/jobs")).json()
    assert [job["status"] for job in jobs["jobs"]] == ["completed"]


@pytest.mark.parametrize(
    ("body", "kind"),
    [({}, "no_prompt"), ({"prompt": {"1": {"class_type": "Nope"}}}, "invalid_prompt"),
     ({"prompt": {"1": {"class_type": "LoadImage", "inputs": {}}}}, "prompt_no_outputs")],
)  # fmt: skip
async def test_a_prompt_comfyui_would_refuse_gets_its_error_shape(
    client: Client, body: dict[str, Any], kind: str
) -> None:
    answer = await client.post("/api/prompt", json=body)
    assert answer.status == 400
    error = await answer.json()
    assert error["error"]["type"] == kind
    assert error["node_errors"] == {}


@pytest.mark.parametrize(
    ("query", "status"),
    [("filename=demo.png", 200), ("filename=demo.png [output]", 200),
     ("filename=../demo.png", 400), ("filename=/etc/passwd", 400),
     ("filename=demo.png&subfolder=..", 403), ("filename=demo.png&subfolder=../user", 403),
     ("filename=demo.png&type=secrets", 400), ("filename=missing.png", 404), ("", 404)],
)  # fmt: skip
async def test_view_refuses_every_path_that_leaves_its_directory(
    client: Client, query: str, status: int
) -> None:
    assert (await client.get("/api/view?" + query)).status == status


async def test_userdata_stays_inside_the_users_own_directory(
    make_host: MakeHost, aiohttp_client: ClientFactory
) -> None:
    host = make_host()
    (host.user_dir / "__auth").mkdir()
    (host.user_dir / "__auth" / "secret.json").write_text("{}")
    client = await aiohttp_client(host.app)
    stored = await client.post("/api/userdata/workflows%2Fa.json", data=b"{}")
    assert (stored.status, await stored.json()) == (200, "workflows/a.json")
    listed = await client.get("/api/userdata?dir=workflows")
    assert await listed.json() == ["a.json"]
    moved = await client.post("/api/userdata/workflows%2Fa.json/move/workflows%2Fb.json")
    assert moved.status == 200
    assert (await client.get("/api/userdata/workflows%2Fb.json")).status == 200
    escape = await client.get("/api/userdata/..%2F__auth%2Fsecret.json")
    assert escape.status == 403
    assert (await client.delete("/api/userdata/workflows%2Fb.json")).status == 204


async def test_multi_user_mode_takes_the_comfy_user_header_and_refuses_system_users(
    make_host: MakeHost, aiohttp_client: ClientFactory
) -> None:
    host = make_host(multi_user=True)
    client = await aiohttp_client(host.app)
    created = await client.post("/api/users", json={"username": "hana"})
    user_id = await created.json()
    assert user_id.startswith("hana_")
    users = await (await client.get("/api/users")).json()
    assert users == {"storage": "server", "users": {user_id: "hana"}}
    saved = await client.post("/api/settings/x", json=1, headers={"Comfy-User": user_id})
    assert saved.status == 200
    assert (host.user_dir / user_id / "comfy.settings.json").exists()
    for who in ("__auth", "nobody"):
        refused = await client.get("/api/settings", headers={"Comfy-User": who})
        assert refused.status == 401  # ComfyUI's answer for an unknown user's settings


async def test_an_upload_is_stored_in_input_and_recorded(served: Served) -> None:
    host, client = served
    form = FormData()
    form.add_field("image", b"\x89PNG fake", filename="cat.png", content_type="image/png")
    answer = await client.post("/api/upload/image", data=form)
    assert await answer.json() == {"name": "cat.png", "subfolder": "", "type": "input"}
    assert host.uploads == [str(host.input_dir / "cat.png")]
    object_info = await (await client.get("/api/object_info/LoadImage")).json()
    assert "cat.png" in object_info["LoadImage"]["input"]["required"]["image"][0]


async def test_the_origin_check_refuses_a_cross_site_request_to_a_loopback_host(
    client: Client,
) -> None:
    port = client.port
    cross = await client.post("/api/interrupt", headers={"Origin": "http://evil.example"})
    assert cross.status == 403
    same = await client.post("/api/interrupt", headers={"Origin": f"http://127.0.0.1:{port}"})
    assert same.status == 200
    assert (await client.options("/api/prompt")).status == 200


async def test_image_paths_get_comfyuis_cache_headers_quirks_included(client: Client) -> None:
    missing = await client.get("/api/userdata/missing.png")
    assert (missing.status, missing.headers["Cache-Control"]) == (404, "public, max-age=3600")
    # The static route's 404 is decided after the middleware ran, so ComfyUI 0.8.0 marks it
    # cacheable for a day, like a found image (measured on the real server).
    static = await client.get("/nothing-here.png")
    assert (static.status, static.headers["Cache-Control"]) == (404, "public, max-age=86400")


async def test_the_loader_imports_a_folder_by_path_as_comfyui_does(
    make_host: MakeHost, throwaway_node: Path, aiohttp_client: ClientFactory
) -> None:
    host = make_host([throwaway_node])
    name = module_name_for(throwaway_node)  # tmp_path is already absolute and resolved
    assert name.endswith("my_x_throwaway-node")
    module = sys.modules[name]
    assert sys.modules[name + ".marker"].MARK == "throwaway"  # relative import worked
    assert module.seen["instance"] is host
    assert module.seen["system_dir"] == str(host.user_dir / "__throwaway")
    assert host.app.middlewares[0].__name__ == "mark"
    assert host.extension_dirs == {"my.throwaway-node": throwaway_node / "js"}
    client = await aiohttp_client(host.app)
    scripts = await (await client.get("/api/extensions")).json()
    assert "/extensions/my.throwaway-node/throwaway.js" in scripts
    assert "/extensions/core/groupNode.js" in scripts  # the frontend's own come first
    script = await client.get("/extensions/my.throwaway-node/throwaway.js")
    assert script.status == 200
    assert script.headers["X-Throwaway"] == "throwaway"


async def test_a_custom_node_that_raises_is_skipped_and_the_server_starts_without_it(
    make_host: MakeHost, tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    broken = tmp_path / "broken-node"
    broken.mkdir()
    (broken / "__init__.py").write_text("raise RuntimeError('boom')\n")
    host = make_host([broken])
    assert isinstance(host.import_failures[str(broken)], RuntimeError)
    client = await aiohttp_client(host.app)
    assert (await client.get("/api/object_info")).status == 200


def test_folder_paths_and_cli_args_point_at_the_double(make_host: MakeHost) -> None:
    host = make_host(port=8555)
    import folder_paths  # type: ignore[import-not-found]  # registered by start_host
    import server  # type: ignore[import-not-found]
    from comfy.cli_args import args  # type: ignore[import-not-found]

    assert server.PromptServer.instance is host
    assert folder_paths.get_user_directory() == str(host.user_dir)
    assert folder_paths.get_output_directory() == str(host.output_dir)
    assert folder_paths.get_input_directory() == str(host.input_dir)
    assert folder_paths.get_system_user_directory("auth") == str(host.user_dir / "__auth")
    assert folder_paths.get_public_user_directory("__auth") is None
    assert folder_paths.SYSTEM_USER_PREFIX == "__"
    assert (args.listen, args.port) == ("127.0.0.1", 8555)


def test_the_demo_command_documents_its_options() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "devhost", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    for option in ("--port", "--host", "--base-dir"):
        assert option in shown.stdout


@pytest.fixture
async def served_double(make_host: MakeHost) -> AsyncIterator[tuple[HostDouble, str]]:
    host = make_host()
    server = TestServer(host.app, host="127.0.0.1")
    await server.start_server()
    try:
        yield host, f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


@pytest.mark.browser
async def test_the_real_frontend_boots_in_the_double_with_no_failed_request(
    served_double: tuple[HostDouble, str],
) -> None:
    from playwright.async_api import async_playwright

    from comfyui_auth.tests.browser_support import (
        CHROMIUM,
        LAUNCH_ARGS,
        artifact,
        require_chromium,
    )

    require_chromium()
    host, base = served_double
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS
        )
        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        answers: list[tuple[int, str]] = []
        page.on("response", lambda response: answers.append((response.status, response.url)))
        await page.goto(base + "/")
        await page.wait_for_function("() => window.app && window.app.graph", timeout=60_000)
        await page.wait_for_selector("canvas", timeout=60_000)
        await page.wait_for_function("() => app.graph._nodes.length === 7", timeout=30_000)
        await page.wait_for_timeout(1500)  # the late calls: templates, experiment/models
        await page.screenshot(path=artifact("devhost-frontend.png"))
        assert len(host.sockets) == 1
        await browser.close()
    own = [(status, url) for status, url in answers if url.startswith(base)]
    assert [(status, url) for status, url in own if status >= 400] == []
    called = {url.removeprefix(base).split("?")[0] for _, url in own}
    assert {"/api/object_info", "/api/settings", "/api/extensions", "/api/queue"} <= called
