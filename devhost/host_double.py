"""``HostDouble``: a stand-in for ComfyUI 0.8.0's ``server.PromptServer``.

It has the attributes a custom node reaches for (``instance``, ``app``, ``routes``,
``prompt_queue``, ``web_root``, ``sockets``, ``user_manager``, ``add_on_prompt_handler``,
``send_json``) and builds its app the way ComfyUI does: middlewares fixed in ``__init__``,
routes collected in a ``RouteTableDef`` and registered only by ``add_routes()``, which runs
after the custom nodes are imported. A custom node therefore meets the same mutable
``app.middlewares`` list and the same route order it would meet in ComfyUI.
"""

from __future__ import annotations

import asyncio
import collections
import importlib.resources
import json
import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from aiohttp import WSMsgType, web

from .folders import Folders
from .info_routes import add_info_routes
from .internal_routes import internal_app
from .media import DEMO_IMAGE, add_media_routes, png_bytes
from .middlewares import DEFAULT_MIDDLEWARES
from .node_catalog import node_definitions
from .prompt_queue import PromptQueue
from .prompt_routes import add_prompt_routes
from .used_install import add_asset_routes, seed_default_user
from .user_manager import UserManager
from .userdata_routes import add_userdata_routes

logger = logging.getLogger("devhost")
MAX_UPLOAD_MB = 100
PromptHandler = Callable[[dict[str, Any]], dict[str, Any]]


def frontend_root() -> str:
    """The ``comfyui-frontend-package`` static folder, as ComfyUI's FrontendManager finds it."""
    return str(importlib.resources.files("comfyui_frontend_package") / "static")


class HostDouble:
    """ComfyUI's ``PromptServer`` shape; ``HostDouble.instance`` is the live one."""

    instance: ClassVar[HostDouble]

    def __init__(self, base_dir: Path, *, multi_user: bool = False, port: int = 8188) -> None:
        HostDouble.instance = self
        self.folders = Folders(base_dir)
        self.folders.create()
        (self.folders.output / DEMO_IMAGE).write_bytes(png_bytes())
        seed_default_user(self.folders.user / "default")
        self.port = port
        self.argv = ["main.py", "--cpu", "--port", str(port)] + (
            ["--multi-user"] if multi_user else []
        )
        self.user_manager = UserManager(self.folders, multi_user)
        self.prompt_queue = PromptQueue(self.queue_updated)
        self.web_root = frontend_root()
        self.app = web.Application(
            client_max_size=MAX_UPLOAD_MB * 1024 * 1024, middlewares=list(DEFAULT_MIDDLEWARES)
        )
        self.routes = web.RouteTableDef()
        self.sockets: dict[str, web.WebSocketResponse] = {}
        self.sockets_metadata: dict[str, dict[str, Any]] = {}
        self.on_prompt_handlers: list[PromptHandler] = []
        self.extension_dirs: dict[str, Path] = {}
        self.import_failures: dict[str, BaseException] = {}
        self.uploads: list[str] = []
        self.log_entries: collections.deque[dict[str, str]] = collections.deque(maxlen=300)
        self.number = 0
        self.interrupts = 0
        self.client_id: str | None = None
        self.last_prompt_id: str | None = None
        self.last_node_id: str | None = None
        self.supports = ["custom_nodes_from_web"]
        self.loop: asyncio.AbstractEventLoop | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.app.on_startup.append(self._remember_loop)
        self._add_core_routes()
        self.log(f"devhost: base directory {base_dir}")

    @property
    def user_dir(self) -> Path:
        return self.folders.user

    @property
    def output_dir(self) -> Path:
        return self.folders.output

    @property
    def input_dir(self) -> Path:
        return self.folders.input

    def log(self, message: str) -> None:
        """Add a line to what ``/internal/logs`` shows (ComfyUI's console log)."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        self.log_entries.append({"t": stamp, "m": message.rstrip("\n") + "\n"})

    def node_definitions(self) -> dict[str, Any]:
        inputs = [p.name for p in self.folders.input.iterdir() if p.is_file()]
        return node_definitions(inputs, self.folders.model_files("checkpoints") or [])

    def features(self) -> dict[str, Any]:
        """ComfyUI's ``feature_flags.get_server_features()``."""
        return {
            "supports_preview_metadata": True,
            "max_upload_size": MAX_UPLOAD_MB * 1024 * 1024,
            "extension": {"manager": {"supports_v4": True}},
        }

    def add_on_prompt_handler(self, handler: PromptHandler) -> None:
        self.on_prompt_handlers.append(handler)

    def trigger_on_prompt(self, json_data: dict[str, Any]) -> dict[str, Any]:
        """Run every handler in order; one that raises is logged and skipped, as in ComfyUI."""
        for handler in self.on_prompt_handlers:
            try:
                json_data = handler(json_data)
            except Exception:  # ComfyUI logs it and carries on
                logger.warning("an on_prompt handler failed", exc_info=True)
        return json_data

    def get_queue_info(self) -> dict[str, Any]:
        return {"exec_info": {"queue_remaining": self.prompt_queue.get_tasks_remaining()}}

    def queue_updated(self) -> None:
        """Tell every socket the queue length, as ComfyUI does after each queue change."""
        self.send_sync("status", {"status": self.get_queue_info()})

    def send_sync(self, event: str, data: Any, sid: str | None = None) -> None:
        """Send from any thread (node code runs in ComfyUI's worker thread); a no-op before
        the app has started, when there is no loop and no socket to send to."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            if self.loop is not None and not self.loop.is_closed():
                self.loop.call_soon_threadsafe(self._schedule, event, data, sid)
            return
        if running is self.loop or self.loop is None:
            self._schedule(event, data, sid)

    def _schedule(self, event: str, data: Any, sid: str | None) -> None:
        task = asyncio.get_running_loop().create_task(self.send_json(event, data, sid))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _remember_loop(self, app: web.Application) -> None:
        self.loop = asyncio.get_running_loop()

    async def send_json(self, event: str, data: Any, sid: str | None = None) -> None:
        """To one client id, or to every socket when ``sid`` is None."""
        message = {"type": event, "data": data}
        if sid is None:
            targets = list(self.sockets.values())
        else:
            targets = [self.sockets[sid]] if sid in self.sockets else []
        for socket in targets:
            try:
                await socket.send_json(message)
            except (ConnectionError, RuntimeError) as error:
                logger.warning("send error: %s", error)

    def add_routes(self) -> None:
        """ComfyUI's order: ``/api`` twins, ``/internal``, extension folders, static ``/`` last."""
        self.app.add_subapp("/internal", internal_app(self))
        api_routes = web.RouteTableDef()
        for route in self.routes:
            if isinstance(route, web.RouteDef):
                api_routes.route(route.method, "/api" + route.path)(route.handler, **route.kwargs)
        self.app.add_routes(api_routes)
        self.app.add_routes(self.routes)
        for name, folder in self.extension_dirs.items():
            self.app.add_routes([web.static("/extensions/" + name, folder)])
        add_asset_routes(self.app, self.folders.user / "default")
        self.app.add_routes([web.static("/", self.web_root)])

    def _add_core_routes(self) -> None:
        self.routes.get("/ws")(self._websocket)
        self.routes.get("/")(self._index)
        add_prompt_routes(self.routes, self)
        add_info_routes(self.routes, self)
        add_media_routes(self.routes, self.folders, self.uploads)
        add_userdata_routes(self.routes, self.user_manager)

    async def _index(self, request: web.Request) -> web.StreamResponse:
        response = web.FileResponse(Path(self.web_root) / "index.html")
        response.headers.update({"Cache-Control": "no-cache", "Pragma": "no-cache", "Expires": "0"})
        return response

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        """ComfyUI's socket: a reused ``clientId`` replaces the old socket; ``status`` first.

        As in ComfyUI, the ``finally`` forgets the client id unconditionally: when a replaced
        socket closes, it also unregisters the socket that replaced it.
        """
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        sid = request.rel_url.query.get("clientId", "")
        if sid:
            self.sockets.pop(sid, None)
        else:
            sid = uuid.uuid4().hex
        self.sockets[sid] = socket
        self.sockets_metadata[sid] = {"feature_flags": {}}
        try:
            await self.send_json("status", {"status": self.get_queue_info(), "sid": sid}, sid)
            if self.client_id == sid and self.last_node_id is not None:
                await self.send_json("executing", {"node": self.last_node_id}, sid)
            await self._read_socket(socket, sid)
        finally:
            self.sockets.pop(sid, None)
            self.sockets_metadata.pop(sid, None)
        return socket

    async def _read_socket(self, socket: web.WebSocketResponse, sid: str) -> None:
        """Answer the client's first ``feature_flags`` message; ignore everything else."""
        first = True
        async for message in socket:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                data = json.loads(message.data)
            except ValueError:
                logger.warning("invalid JSON from client %s", sid)
                continue
            if first and isinstance(data, dict) and data.get("type") == "feature_flags":
                self.sockets_metadata[sid]["feature_flags"] = data.get("data", {})
                await self.send_json("feature_flags", self.features(), sid)
            first = False
