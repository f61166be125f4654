"""A small aiohttp app shaped like ComfyUI's server, for unit tests of the middleware.

Routes are registered as ``/x`` and ``/api/x``, ``/internal`` is a sub-app, ``/`` is served
from a web root, and each handler records that it ran (and whether it read the body), so a
test can prove a refused request never reached the host. The full host double that boots the
real frontend lives in ``devhost/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import WSMsgType, web

from comfyui_auth.core.settings import Settings, load_settings
from comfyui_auth.middleware.host_adapter import HostAdapter
from comfyui_auth.middleware.install import install
from comfyui_auth.middleware.runtime import AuthRuntime

INDEX_HTML = "<!doctype html><html><head><title>ComfyUI</title></head><body>app</body></html>"


class FakeQueue:
    """Just enough of ``execution.PromptQueue`` for /health."""

    def __init__(self) -> None:
        self.running: list[object] = []
        self.pending: list[object] = []

    def get_current_queue_volatile(self) -> tuple[list[object], list[object]]:
        return list(self.running), list(self.pending)


class HeaderUserManager:
    """ComfyUI's ``UserManager`` rule in ``--multi-user`` mode: the user is the header's."""

    def __init__(self) -> None:
        self.users: dict[str, str] = {}

    def get_request_user_id(self, request: web.Request) -> str:
        return request.headers.get("comfy-user", "default")


@dataclass
class MinimalHost:
    app: web.Application
    adapter: HostAdapter
    runtime: AuthRuntime
    calls: list[str] = field(default_factory=list)
    bodies_read: list[str] = field(default_factory=list)


def build_minimal_host(tmp_path: Path, env: dict[str, str]) -> MinimalHost:
    """Install the package on a fresh app, then add the host's routes (ComfyUI's order)."""
    web_root = tmp_path / "web"
    web_root.mkdir(exist_ok=True)
    (web_root / "index.html").write_text(INDEX_HTML)
    (web_root / "main.js").write_text("console.log('frontend')")
    user_dir = tmp_path / "user"
    user_dir.mkdir(exist_ok=True)
    app = web.Application()
    adapter = HostAdapter(
        app=app,
        web_root=web_root,
        user_dir=user_dir,
        prompt_queue=FakeQueue(),
        user_manager=HeaderUserManager(),
    )
    settings: Settings = load_settings({"COMFYUI_AUTH_TEST_CHEAP_HASHING": "1", **env}, user_dir)
    runtime = install(adapter, settings)
    host = MinimalHost(app, adapter, runtime)
    _add_host_routes(host, web_root)
    return host


def _add_host_routes(host: MinimalHost, web_root: Path) -> None:
    routes = web.RouteTableDef()

    def record(name: str) -> None:
        host.calls.append(name)

    @routes.get("/")
    async def root(request: web.Request) -> web.StreamResponse:
        record("root")
        return web.FileResponse(web_root / "index.html")

    @routes.get("/prompt")
    async def get_prompt(request: web.Request) -> web.StreamResponse:
        record("get_prompt")
        return web.json_response({"exec_info": {"queue_remaining": 0}})

    @routes.post("/prompt")
    async def post_prompt(request: web.Request) -> web.StreamResponse:
        record("post_prompt")
        await request.read()
        host.bodies_read.append("prompt")
        return web.json_response({"prompt_id": "p1", "number": 1, "node_errors": {}})

    @routes.post("/upload/image")
    async def upload(request: web.Request) -> web.StreamResponse:
        record("upload")
        await request.read()
        host.bodies_read.append("upload")
        return web.json_response({"name": "x.png"})

    @routes.get("/view")
    async def view(request: web.Request) -> web.StreamResponse:
        record("view")
        return web.Response(body=b"\x89PNG", content_type="image/png")

    @routes.get("/userdata/{file}")
    async def userdata(request: web.Request) -> web.StreamResponse:
        record("userdata")
        manager = host.adapter.user_manager
        return web.json_response({"comfy_user": [manager.get_request_user_id(request)]})

    @routes.get("/manager/queue/install")
    async def manager(request: web.Request) -> web.StreamResponse:
        record("manager")
        return web.json_response({})

    @routes.get("/ws")
    async def websocket(request: web.Request) -> web.StreamResponse:
        record("ws")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"type": "status", "data": {"sid": request.query.get("clientId")}})
        async for message in ws:
            if message.type == WSMsgType.CLOSE:
                break
        return ws

    internal = web.Application()

    async def logs(request: web.Request) -> web.StreamResponse:
        record("internal_logs")
        return web.json_response([])

    async def folder_paths(request: web.Request) -> web.StreamResponse:
        record("internal_folder_paths")
        return web.json_response({})

    internal.router.add_get("/logs", logs)
    internal.router.add_get("/folder_paths", folder_paths)
    host.app.add_subapp("/internal", internal)
    api_routes = web.RouteTableDef()
    for route in routes:
        if isinstance(route, web.RouteDef):
            api_routes.route(route.method, "/api" + route.path)(route.handler, **route.kwargs)
    host.app.add_routes(api_routes)
    host.app.add_routes(routes)
    host.app.add_routes([web.static("/", web_root)])
