"""What the frontend asks the server about itself while it boots.

``/object_info``, ``/system_stats``, ``/features``, ``/extensions``, ``/embeddings``,
``/models``, ``/experiment/models``, ``/i18n``, ``/workflow_templates`` and
``/global_subgraphs``, in ComfyUI's shapes. ``/extensions`` matters most to a custom node:
it is how the frontend learns which ``WEB_DIRECTORY`` scripts to import.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web

if TYPE_CHECKING:
    from .host_double import HostDouble

DEVHOST_VERSION = "0.8.0-devhost"
FRONTEND_VERSION = "1.35.9"


def extension_scripts(web_root: Path, extension_dirs: dict[str, Path]) -> list[str]:
    """ComfyUI's list: the frontend's own ``extensions/**/*.js``, then each custom node's."""
    found = [
        "/" + p.relative_to(web_root).as_posix()
        for p in sorted((web_root / "extensions").glob("**/*.js"))
    ]
    for name, folder in extension_dirs.items():
        found += [
            f"/extensions/{quote(name)}/{p.relative_to(folder).as_posix()}"
            for p in sorted(folder.glob("**/*.js"))
        ]
    return found


def system_stats(argv: list[str]) -> dict[str, Any]:
    """A CPU-only machine, as ``--cpu`` reports it (no torch needed)."""
    return {
        "system": {
            "os": sys.platform,
            "ram_total": 0,
            "ram_free": 0,
            "comfyui_version": DEVHOST_VERSION,
            "required_frontend_version": FRONTEND_VERSION,
            "installed_templates_version": None,
            "required_templates_version": None,
            "python_version": sys.version,
            "pytorch_version": "none",
            "embedded_python": False,
            "argv": argv,
        },
        "devices": [
            {
                "name": "cpu",
                "type": "cpu",
                "index": None,
                "vram_total": 0,
                "vram_free": 0,
                "torch_vram_total": 0,
                "torch_vram_free": 0,
            }
        ],
    }


def add_info_routes(routes: web.RouteTableDef, host: HostDouble) -> None:
    """Register the descriptive routes of ``host`` on ``routes``."""

    @routes.get("/object_info")
    async def object_info(request: web.Request) -> web.StreamResponse:
        return web.json_response(host.node_definitions())

    @routes.get("/object_info/{node_class}")
    async def object_info_node(request: web.Request) -> web.StreamResponse:
        name = request.match_info["node_class"]
        definitions = host.node_definitions()
        return web.json_response({name: definitions[name]} if name in definitions else {})

    @routes.get("/system_stats")
    async def get_system_stats(request: web.Request) -> web.StreamResponse:
        return web.json_response(system_stats(host.argv))

    @routes.get("/features")
    async def features(request: web.Request) -> web.StreamResponse:
        return web.json_response(host.features())

    @routes.get("/extensions")
    async def extensions(request: web.Request) -> web.StreamResponse:
        return web.json_response(extension_scripts(Path(host.web_root), host.extension_dirs))

    @routes.get("/embeddings")
    async def embeddings(request: web.Request) -> web.StreamResponse:
        names = host.folders.model_files("embeddings") or []
        return web.json_response([os.path.splitext(name)[0] for name in names])

    @routes.get("/models")
    async def model_types(request: web.Request) -> web.StreamResponse:
        return web.json_response(list(host.folders.model_folders()))

    @routes.get("/models/{folder}")
    async def models(request: web.Request) -> web.StreamResponse:
        files = host.folders.model_files(request.match_info["folder"])
        return web.Response(status=404) if files is None else web.json_response(files)

    @routes.get("/experiment/models")
    async def model_folders(request: web.Request) -> web.StreamResponse:
        return web.json_response(
            [
                {"name": name, "folders": [str(p) for p in paths]}
                for name, paths in host.folders.model_folders().items()
            ]
        )

    @routes.get("/experiment/models/{folder}")
    async def experiment_models(request: web.Request) -> web.StreamResponse:
        files = host.folders.model_files(request.match_info["folder"])
        if files is None:
            return web.Response(status=404)
        return web.json_response([{"name": name, "pathIndex": 0} for name in files])

    @routes.get("/i18n")
    async def i18n(request: web.Request) -> web.StreamResponse:
        return web.json_response({})

    @routes.get("/workflow_templates")
    async def workflow_templates(request: web.Request) -> web.StreamResponse:
        return web.json_response({})

    @routes.get("/global_subgraphs")
    async def global_subgraphs(request: web.Request) -> web.StreamResponse:
        return web.json_response({})

    @routes.get("/global_subgraphs/{id}")
    async def global_subgraph(request: web.Request) -> web.StreamResponse:
        return web.json_response(None)
