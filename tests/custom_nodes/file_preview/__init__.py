"""A custom node that previews files the way popular ones do, for the real-ComfyUI tests.

Like VideoHelperSuite's ``/vhs/viewvideo``, its routes take ``/view``'s query (``filename``,
``subfolder``, ``type``, ``output`` by default) and read the file with no check of their own:
``/file_preview/view`` joins the whole file name, ``/file_preview/view_name`` its last part
alone. ComfyUI loads it from ``custom_nodes/`` beside comfyui-auth
(``tests/test_real_comfyui_files.py``), so the package must cut it to the caller's files
without knowing it.
"""

from __future__ import annotations

import os

import folder_paths  # type: ignore[import-not-found]
from aiohttp import web
from server import PromptServer  # type: ignore[import-not-found]

NODE_CLASS_MAPPINGS: dict[str, type] = {}
routes = PromptServer.instance.routes


def _answer(query: dict[str, str], name: str) -> web.StreamResponse:
    directory = folder_paths.get_directory_by_type(query.get("type", "output"))
    if directory is None:
        return web.json_response({"error": "unknown type"}, status=400)
    path = os.path.join(directory, query.get("subfolder", ""), name)
    if not os.path.isfile(path):
        return web.json_response({"error": "no such file"}, status=404)
    return web.FileResponse(path)


@routes.get("/file_preview/view")
async def view(request: web.Request) -> web.StreamResponse:
    return _answer(dict(request.rel_url.query), request.rel_url.query["filename"])


@routes.get("/file_preview/view_name")
async def view_name(request: web.Request) -> web.StreamResponse:
    return _answer(dict(request.rel_url.query), os.path.basename(request.rel_url.query["filename"]))
