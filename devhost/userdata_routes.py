"""``/users``, ``/settings`` and ``/userdata`` as ComfyUI serves them in single-user mode.

Files live under ``user/default/``; paths are confined to it, like ComfyUI's user manager.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote

from aiohttp import web

USER = "default"


def add_userdata_routes(routes: web.RouteTableDef, user_dir: Path) -> None:
    root = user_dir / USER
    root.mkdir(parents=True, exist_ok=True)
    settings_file = root / "comfy.settings.json"

    def confined(relative: str) -> Path | None:
        candidate = (root / unquote(relative)).resolve()
        return candidate if root.resolve() in candidate.parents else None

    def read_settings() -> dict[str, object]:
        try:
            loaded = json.loads(settings_file.read_text())
        except (OSError, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}

    @routes.get("/users")
    async def users(request: web.Request) -> web.StreamResponse:
        return web.json_response({"storage": "server", "migrated": True})

    @routes.get("/settings")
    async def get_settings(request: web.Request) -> web.StreamResponse:
        return web.json_response(read_settings())

    @routes.post("/settings")
    async def post_settings(request: web.Request) -> web.StreamResponse:
        settings = read_settings()
        settings.update(await request.json())
        settings_file.write_text(json.dumps(settings))
        return web.Response(status=200)

    @routes.get("/settings/{id}")
    async def get_setting(request: web.Request) -> web.StreamResponse:
        return web.json_response(read_settings().get(request.match_info["id"]))

    @routes.post("/settings/{id}")
    async def post_setting(request: web.Request) -> web.StreamResponse:
        settings = read_settings()
        settings[request.match_info["id"]] = await request.json()
        settings_file.write_text(json.dumps(settings))
        return web.Response(status=200)

    @routes.get("/userdata")
    async def list_userdata(request: web.Request) -> web.StreamResponse:
        folder = confined(request.rel_url.query.get("dir", ""))
        if folder is None or not folder.is_dir():
            return web.Response(status=404)
        names = [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()]
        if request.rel_url.query.get("full_info") == "true":
            return web.json_response(
                [
                    {
                        "path": n,
                        "size": (folder / n).stat().st_size,
                        "modified": (folder / n).stat().st_mtime,
                    }
                    for n in names
                ]
            )
        return web.json_response(names)

    @routes.get("/v2/userdata")
    async def list_userdata_v2(request: web.Request) -> web.StreamResponse:
        folder = confined(request.rel_url.query.get("path", ""))
        if folder is None or not folder.is_dir():
            return web.json_response([])
        return web.json_response(
            [
                {
                    "name": p.name,
                    "path": str(p.relative_to(root)),
                    "type": "directory" if p.is_dir() else "file",
                }
                for p in folder.iterdir()
            ]
        )

    @routes.get("/userdata/{file}")
    async def get_file(request: web.Request) -> web.StreamResponse:
        path = confined(request.match_info["file"])
        if path is None or not path.is_file():
            return web.Response(status=404)
        return web.FileResponse(path)

    @routes.post("/userdata/{file}")
    async def post_file(request: web.Request) -> web.StreamResponse:
        path = confined(request.match_info["file"])
        if path is None:
            return web.Response(status=400)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(await request.read())
        return web.json_response({"path": request.match_info["file"], "size": path.stat().st_size})

    @routes.delete("/userdata/{file}")
    async def delete_file(request: web.Request) -> web.StreamResponse:
        path = confined(request.match_info["file"])
        if path is None or not path.is_file():
            return web.Response(status=404)
        path.unlink()
        return web.Response(status=204)

    @routes.post("/userdata/{file}/move/{dest}")
    async def move_file(request: web.Request) -> web.StreamResponse:
        source = confined(request.match_info["file"])
        target = confined(request.match_info["dest"])
        if source is None or target is None or not source.is_file():
            return web.Response(status=404)
        target.parent.mkdir(parents=True, exist_ok=True)
        source.replace(target)
        return web.json_response({"path": request.match_info["dest"]})
