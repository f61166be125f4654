"""``HostDouble``: ComfyUI's ``PromptServer`` shape with the routes the frontend needs.

Responses follow ComfyUI 0.8.0's shapes (server.py, app/user_manager.py, app/app_settings.py)
closely enough for ``comfyui-frontend-package`` to boot, queue a prompt and show images.
Nothing is executed: a queued prompt goes straight into the history with the demo image.
"""

from __future__ import annotations

import asyncio
import glob
import importlib.resources
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any, ClassVar

from aiohttp import WSMsgType, web

from .media import png_bytes, resolve_inside
from .prompt_queue import PromptQueue

DEMO_IMAGE = "demo.png"
NODE_DEFINITIONS: dict[str, Any] = {
    "DemoImage": {
        "input": {"required": {"seed": ["INT", {"default": 0, "min": 0, "max": 1000}]}},
        "input_order": {"required": ["seed"]},
        "output": ["IMAGE"],
        "output_is_list": [False],
        "output_name": ["IMAGE"],
        "name": "DemoImage",
        "display_name": "Demo image",
        "description": "Stands in for a model: always the same picture.",
        "python_module": "devhost",
        "category": "demo",
        "output_node": False,
    },
    "SaveImage": {
        "input": {
            "required": {"images": ["IMAGE"], "filename_prefix": ["STRING", {"default": "ComfyUI"}]}
        },
        "input_order": {"required": ["images", "filename_prefix"]},
        "output": [],
        "output_is_list": [],
        "output_name": [],
        "name": "SaveImage",
        "display_name": "Save Image",
        "description": "Saves the images to the output directory.",
        "python_module": "nodes",
        "category": "image",
        "output_node": True,
    },
}


@web.middleware
async def cache_control(request: web.Request, handler: Any) -> web.StreamResponse:
    """Like ComfyUI's: JavaScript and CSS are revalidated."""
    response: web.StreamResponse = await handler(request)
    if request.path.endswith((".js", ".css")):
        response.headers.setdefault("Cache-Control", "no-cache")
    return response


class HostDouble:
    """A stand-in for ``server.PromptServer``; ``instance`` is the live one."""

    instance: ClassVar[HostDouble]

    def __init__(self, base_dir: Path) -> None:
        HostDouble.instance = self
        self.base_dir = base_dir
        self.user_dir = base_dir / "user"
        self.output_dir = base_dir / "output"
        self.input_dir = base_dir / "input"
        for folder in (self.user_dir, self.output_dir, self.input_dir):
            folder.mkdir(parents=True, exist_ok=True)
        (self.output_dir / DEMO_IMAGE).write_bytes(png_bytes())
        self.web_root = Path(str(importlib.resources.files("comfyui_frontend_package") / "static"))
        self.app = web.Application(client_max_size=100 * 1024 * 1024, middlewares=[cache_control])
        self.routes = web.RouteTableDef()
        self.prompt_queue = PromptQueue()
        self.sockets: dict[str, web.WebSocketResponse] = {}
        self.on_prompt_handlers: list[Any] = []
        self.extension_dirs: dict[str, Path] = {}
        self.uploads: list[str] = []
        self.number = 0
        self._add_core_routes()

    def add_on_prompt_handler(self, handler: Any) -> None:
        self.on_prompt_handlers.append(handler)

    def add_routes(self) -> None:
        """ComfyUI's ``add_routes``: ``/api`` twins, ``/internal``, extensions, static last."""
        self.app.add_subapp("/internal", self._internal_app())
        api_routes = web.RouteTableDef()
        for route in self.routes:
            if isinstance(route, web.RouteDef):
                api_routes.route(route.method, "/api" + route.path)(route.handler, **route.kwargs)
        self.app.add_routes(api_routes)
        self.app.add_routes(self.routes)
        for name, folder in self.extension_dirs.items():
            self.app.add_routes([web.static("/extensions/" + name, folder)])
        self.app.add_routes([web.static("/", self.web_root)])

    async def send_json(self, event: str, data: dict[str, Any], sid: str | None = None) -> None:
        message = {"type": event, "data": data}
        targets = [self.sockets[sid]] if sid in self.sockets else list(self.sockets.values())
        for socket in targets:
            if not socket.closed:
                await socket.send_json(message)

    def _queue_info(self) -> dict[str, Any]:
        return {"exec_info": {"queue_remaining": self.prompt_queue.get_tasks_remaining()}}

    def _add_core_routes(self) -> None:
        routes = self.routes
        host = self

        @routes.get("/ws")
        async def websocket(request: web.Request) -> web.StreamResponse:
            socket = web.WebSocketResponse()
            await socket.prepare(request)
            sid = request.rel_url.query.get("clientId") or uuid.uuid4().hex
            host.sockets[sid] = socket
            try:
                await host.send_json("status", {"status": host._queue_info(), "sid": sid}, sid)
                async for message in socket:
                    if message.type == WSMsgType.ERROR:
                        break
            finally:
                if host.sockets.get(sid) is socket:
                    host.sockets.pop(sid, None)
            return socket

        @routes.get("/")
        async def index(request: web.Request) -> web.StreamResponse:
            response = web.FileResponse(host.web_root / "index.html")
            response.headers["Cache-Control"] = "no-cache"
            return response

        @routes.get("/prompt")
        async def get_prompt(request: web.Request) -> web.StreamResponse:
            return web.json_response(host._queue_info())

        @routes.post("/prompt")
        async def post_prompt(request: web.Request) -> web.StreamResponse:
            body = await request.json()
            for handler in host.on_prompt_handlers:
                body = handler(body)
            host.number += 1
            prompt_id = str(uuid.uuid4())
            outputs = {"images": [{"filename": DEMO_IMAGE, "subfolder": "", "type": "output"}]}
            host.prompt_queue.history[prompt_id] = {
                "prompt": [
                    host.number,
                    prompt_id,
                    body.get("prompt", {}),
                    body.get("extra_data", {}),
                    [],
                    {},
                ],
                "outputs": {"9": outputs},
                "status": {"status_str": "success", "completed": True, "messages": []},
            }
            client_id = body.get("client_id")
            await host.send_json(
                "executed", {"node": "9", "output": outputs, "prompt_id": prompt_id}, client_id
            )
            return web.json_response(
                {"prompt_id": prompt_id, "number": host.number, "node_errors": {}}
            )

        @routes.get("/queue")
        async def get_queue(request: web.Request) -> web.StreamResponse:
            running, pending = host.prompt_queue.get_current_queue_volatile()
            return web.json_response({"queue_running": running, "queue_pending": pending})

        @routes.post("/queue")
        async def post_queue(request: web.Request) -> web.StreamResponse:
            body = await request.json()
            if body.get("clear"):
                host.prompt_queue.wipe_queue()
            return web.Response(status=200)

        @routes.get("/history")
        async def get_history(request: web.Request) -> web.StreamResponse:
            max_items = request.rel_url.query.get("max_items")
            limit = int(max_items) if max_items and max_items.isdigit() else None
            return web.json_response(host.prompt_queue.get_history(max_items=limit))

        @routes.get("/history/{prompt_id}")
        async def get_history_item(request: web.Request) -> web.StreamResponse:
            return web.json_response(host.prompt_queue.get_history(request.match_info["prompt_id"]))

        @routes.post("/history")
        async def post_history(request: web.Request) -> web.StreamResponse:
            body = await request.json()
            if body.get("clear"):
                host.prompt_queue.wipe_history()
            for prompt_id in body.get("delete", []):
                host.prompt_queue.delete_history_item(prompt_id)
            return web.Response(status=200)

        @routes.post("/interrupt")
        async def interrupt(request: web.Request) -> web.StreamResponse:
            return web.Response(status=200)

        @routes.post("/free")
        async def free(request: web.Request) -> web.StreamResponse:
            return web.Response(status=200)

        @routes.get("/object_info")
        async def object_info(request: web.Request) -> web.StreamResponse:
            return web.json_response(NODE_DEFINITIONS)

        @routes.get("/object_info/{node_class}")
        async def object_info_one(request: web.Request) -> web.StreamResponse:
            name = request.match_info["node_class"]
            return web.json_response(
                {name: NODE_DEFINITIONS[name]} if name in NODE_DEFINITIONS else {}
            )

        @routes.get("/system_stats")
        async def system_stats(request: web.Request) -> web.StreamResponse:
            return web.json_response(
                {
                    "system": {
                        "os": os.name,
                        "ram_total": 0,
                        "ram_free": 0,
                        "comfyui_version": "devhost",
                        "python_version": "",
                        "pytorch_version": "",
                        "embedded_python": False,
                        "argv": [],
                    },
                    "devices": [],
                }
            )

        @routes.get("/features")
        async def features(request: web.Request) -> web.StreamResponse:
            return web.json_response({"supports_preview_metadata": True})

        def list_extensions() -> list[str]:
            files = glob.glob(
                os.path.join(glob.escape(str(host.web_root)), "extensions/**/*.js"), recursive=True
            )
            found = ["/" + os.path.relpath(f, host.web_root).replace("\\", "/") for f in files]
            for name, folder in host.extension_dirs.items():
                for path in glob.glob(
                    os.path.join(glob.escape(str(folder)), "**/*.js"), recursive=True
                ):
                    found.append(
                        f"/extensions/{name}/" + os.path.relpath(path, folder).replace("\\", "/")
                    )
            return found

        @routes.get("/extensions")
        async def extensions(request: web.Request) -> web.StreamResponse:
            return web.json_response(await asyncio.to_thread(list_extensions))

        for path, payload in (
            ("/embeddings", []),
            ("/models", ["checkpoints"]),
            ("/i18n", {}),
            ("/workflow_templates", {}),
            ("/experiment/models", []),
            ("/global_subgraphs", {}),
            ("/api/jobs", {"jobs": []}),
        ):
            routes.get(path)(_constant(payload))

        @routes.get("/models/{folder}")
        async def models(request: web.Request) -> web.StreamResponse:
            return web.json_response([])

        @routes.get("/view")
        async def view(request: web.Request) -> web.StreamResponse:
            query = request.rel_url.query
            root = host.input_dir if query.get("type") == "input" else host.output_dir
            found = resolve_inside(root, query.get("subfolder", ""), query.get("filename", ""))
            if found is None:
                return web.Response(status=404)
            return web.FileResponse(found)

        @routes.post("/upload/image")
        async def upload_image(request: web.Request) -> web.StreamResponse:
            form = await request.post()
            image = form.get("image")
            if not isinstance(image, web.FileField):
                return web.Response(status=400)
            name = re.sub(r"[^\w.-]", "_", image.filename) or "upload.png"
            (host.input_dir / name).write_bytes(image.file.read())
            host.uploads.append(name)
            return web.json_response({"name": name, "subfolder": "", "type": "input"})

        from .userdata_routes import add_userdata_routes

        add_userdata_routes(routes, host.user_dir)

    def _internal_app(self) -> web.Application:
        internal = web.Application()
        internal.router.add_get("/logs", _constant("devhost log\n"))
        internal.router.add_get(
            "/logs/raw", _constant({"entries": [], "size": {"cols": 80, "rows": 24}})
        )
        internal.router.add_get("/folder_paths", _constant({}))
        internal.router.add_get("/files/{directory_type}", _constant([]))
        return internal


def _constant(payload: Any) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        if isinstance(payload, str):
            return web.Response(text=payload)
        return web.json_response(json.loads(json.dumps(payload)))

    return handler
