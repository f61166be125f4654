"""``/users``, ``/settings`` and ``/userdata``: ComfyUI's per-user storage routes.

Status codes follow ComfyUI's ``user_manager.py`` and ``app_settings.py`` (400 missing
parameter, 403 path outside the user's directory, 404 absent, 409 no overwrite), because the
frontend treats some of them (a 404 for a missing workflows folder) as normal answers.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from aiohttp import web

from .user_manager import UserManager


def file_info(path: Path, relative_to: Path) -> dict[str, Any]:
    stat = path.stat()
    return {
        "path": path.relative_to(relative_to).as_posix(),
        "size": stat.st_size,
        "modified": stat.st_mtime,
        "created": stat.st_ctime,
    }


def add_userdata_routes(routes: web.RouteTableDef, users: UserManager) -> None:
    """Register the user, settings and user-data routes on ``routes``."""
    _add_user_and_settings_routes(routes, users)
    _add_listing_routes(routes, users)
    _add_file_routes(routes, users)


def _add_user_and_settings_routes(routes: web.RouteTableDef, users: UserManager) -> None:
    def read_settings(request: web.Request) -> dict[str, Any]:
        path = users.settings_file(request)
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def save_settings(request: web.Request, settings: dict[str, Any]) -> None:
        users.settings_file(request).write_text(json.dumps(settings, indent=4), encoding="utf-8")

    @routes.get("/users")
    async def get_users(request: web.Request) -> web.StreamResponse:
        if users.multi_user:
            return web.json_response({"storage": "server", "users": users.users})
        user_dir = users.get_request_user_filepath(request, None, create_dir=False)
        return web.json_response(
            {"storage": "server", "migrated": user_dir is not None and user_dir.exists()}
        )

    @routes.post("/users")
    async def post_users(request: web.Request) -> web.StreamResponse:
        username = (await request.json())["username"]
        if username in users.users.values():
            return web.json_response({"error": "Duplicate username."}, status=400)
        try:
            return web.json_response(users.add_user(username))
        except ValueError as error:
            return web.json_response({"error": str(error)}, status=400)

    @routes.get("/settings")
    async def get_settings(request: web.Request) -> web.StreamResponse:
        return web.json_response(read_settings(request))

    @routes.get("/settings/{id}")
    async def get_setting(request: web.Request) -> web.StreamResponse:
        return web.json_response(read_settings(request).get(request.match_info["id"]))

    @routes.post("/settings")
    async def post_settings(request: web.Request) -> web.StreamResponse:
        settings = read_settings(request)
        save_settings(request, {**settings, **(await request.json())})
        return web.Response(status=200)

    @routes.post("/settings/{id}")
    async def post_setting(request: web.Request) -> web.StreamResponse:
        settings = read_settings(request)
        settings[request.match_info["id"]] = await request.json()
        save_settings(request, settings)
        return web.Response(status=200)


def _add_listing_routes(routes: web.RouteTableDef, users: UserManager) -> None:
    @routes.get("/userdata")
    async def list_userdata(request: web.Request) -> web.StreamResponse:
        query = request.rel_url.query
        directory = query.get("dir", "")
        if not directory:
            return web.Response(status=400, text="Directory not provided")
        path = users.get_request_user_filepath(request, directory)
        if path is None:
            return web.Response(status=403, text="Invalid directory")
        if not path.exists():
            return web.Response(status=404, text="Directory not found")
        found = path.rglob("*") if query.get("recurse", "").lower() == "true" else path.glob("*")
        files = sorted(p for p in found if p.is_file())
        if query.get("full_info", "").lower() == "true":
            return web.json_response([file_info(p, path) for p in files])
        names = [p.relative_to(path).as_posix() for p in files]
        if query.get("split", "").lower() == "true":
            return web.json_response([[name, *name.split("/")] for name in names])
        return web.json_response(names)

    @routes.get("/v2/userdata")
    async def list_userdata_v2(request: web.Request) -> web.StreamResponse:
        relative = request.rel_url.query.get("path", "")
        try:
            base = users.get_request_user_filepath(request, None, create_dir=False)
            target = users.get_request_user_filepath(request, relative, create_dir=False)
        except KeyError:
            return web.Response(status=403, text="Invalid user specified in request")
        if base is None or target is None:
            return web.Response(status=400, text="Invalid path requested")
        if not target.exists():
            if target == base:
                return web.json_response([])
            return web.Response(status=404, text="Requested path not found")
        if not target.is_dir():
            return web.Response(status=400, text="Requested path is not a directory")
        entries = [_v2_entry(p, base) for p in target.rglob("*")]
        entries.sort(key=lambda e: (e["type"] != "directory", str(e["name"]).lower()))
        return web.json_response(entries)


def _v2_entry(path: Path, base: Path) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": path.name,
        "path": path.relative_to(base).as_posix(),
        "type": "directory" if path.is_dir() else "file",
    }
    if path.is_file():
        entry.update(size=path.stat().st_size, modified=path.stat().st_mtime)
    return entry


def _add_file_routes(routes: web.RouteTableDef, users: UserManager) -> None:
    def user_path(request: web.Request, must_exist: bool, param: str = "file") -> Path | int:
        """The confined path named by ``param``, or ComfyUI's status code for it.

        A status is *returned* (not raised) as in ComfyUI, so the cache middleware sees it.
        """
        name = request.match_info.get(param)
        if not name:
            return 400
        path = users.get_request_user_filepath(request, name)
        if path is None:
            return 403
        if must_exist and not path.exists():
            return 404
        return path

    def answer(request: web.Request, path: Path) -> web.StreamResponse:
        root = users.get_request_user_filepath(request, None)
        assert root is not None  # noqa: S101 - user_path already resolved the same user
        if request.query.get("full_info", "false").lower() == "true":
            return web.json_response(file_info(path, root))
        return web.json_response(os.path.relpath(path, root))

    @routes.get("/userdata/{file}")
    async def get_userdata(request: web.Request) -> web.StreamResponse:
        path = user_path(request, must_exist=True)
        return web.Response(status=path) if isinstance(path, int) else web.FileResponse(path)

    @routes.post("/userdata/{file}")
    async def post_userdata(request: web.Request) -> web.StreamResponse:
        path = user_path(request, must_exist=False)
        if isinstance(path, int):
            return web.Response(status=path)
        if request.query.get("overwrite", "true") == "false" and path.exists():
            return web.Response(status=409, text="File already exists")
        path.write_bytes(await request.read())
        return answer(request, path)

    @routes.delete("/userdata/{file}")
    async def delete_userdata(request: web.Request) -> web.StreamResponse:
        path = user_path(request, must_exist=True)
        if isinstance(path, int):
            return web.Response(status=path)
        path.unlink()
        return web.Response(status=204)

    @routes.post("/userdata/{file}/move/{dest}")
    async def move_userdata(request: web.Request) -> web.StreamResponse:
        source = user_path(request, must_exist=True)
        if isinstance(source, int):
            return web.Response(status=source)
        dest = user_path(request, must_exist=False, param="dest")
        if isinstance(dest, int):
            return web.Response(status=dest)
        if request.query.get("overwrite", "true") == "false" and dest.exists():
            return web.Response(status=409, text="File already exists")
        shutil.move(source, dest)
        return answer(request, dest)
