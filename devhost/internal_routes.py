"""The ``/internal`` sub-application: console log, folder paths, directory listings.

ComfyUI mounts it with ``app.add_subapp``, so its routes have no ``/api`` twin and a
middleware of the parent app still sees every request to them (an auth layer must cover
them: the log can hold secrets). ``/logs`` answers a JSON *string*, as ComfyUI's does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from .folders import DIRECTORY_TYPES

if TYPE_CHECKING:
    from .host_double import HostDouble


def internal_app(host: HostDouble) -> web.Application:
    """A fresh sub-app reading ``host``'s log lines and folders."""
    routes = web.RouteTableDef()

    @routes.get("/logs")
    async def get_logs(request: web.Request) -> web.StreamResponse:
        return web.json_response("".join(f"{e['t']} - {e['m']}" for e in host.log_entries))

    @routes.get("/logs/raw")
    async def get_raw_logs(request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {"entries": list(host.log_entries), "size": {"cols": 80, "rows": 24}}
        )

    @routes.patch("/logs/subscribe")
    async def subscribe_logs(request: web.Request) -> web.StreamResponse:
        await request.json()
        return web.Response(status=200)

    @routes.get("/folder_paths")
    async def get_folder_paths(request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {name: [str(p) for p in paths] for name, paths in host.folders.model_folders().items()}
        )

    @routes.get("/files/{directory_type}")
    async def get_files(request: web.Request) -> web.StreamResponse:
        directory_type = request.match_info["directory_type"]
        directory = host.folders.by_type(directory_type)
        if directory_type not in DIRECTORY_TYPES or directory is None:
            return web.json_response({"error": "Invalid directory type"}, status=400)
        files = [p for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")]
        files.sort(key=lambda p: -p.stat().st_mtime)
        return web.json_response([p.name for p in files])

    app = web.Application()
    app.add_routes(routes)
    return app
