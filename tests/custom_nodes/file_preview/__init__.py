"""A custom node that reads files the way popular ones do, for the real-ComfyUI tests.

Like VideoHelperSuite's ``/vhs/viewvideo`` and ``/vhs/getpath``, its routes take ``/view``'s
query (``filename``, ``subfolder``, ``type``: ``output`` by default, ``path`` for a name that
is a path of its own) or a folder in ``path``, and check nothing themselves:

- ``/file_preview/view`` joins the whole file name, ``/file_preview/view_name`` its last
  part alone;
- ``/file_preview/list`` lists a folder, ``/file_preview/outputs?dir=`` a folder of
  ``output/``;
- ``/file_preview/files/{subfolder}/{name}`` serves a file of ``output/`` named in the path;
- ``/file_preview/socket`` sends a file over a WebSocket;
- ``/file_preview/inputs/`` serves ``input/`` as static files.

ComfyUI loads it from ``custom_nodes/`` beside comfyui-auth
(``tests/test_real_comfyui_files.py``), so the package must cut it to the caller's files
without knowing it.
"""

from __future__ import annotations

import asyncio
import os

import folder_paths  # type: ignore[import-not-found]
from aiohttp import web
from server import PromptServer  # type: ignore[import-not-found]

NODE_CLASS_MAPPINGS: dict[str, type] = {}
routes = PromptServer.instance.routes
os.makedirs(folder_paths.get_input_directory(), exist_ok=True)
routes.static("/file_preview/inputs", folder_paths.get_input_directory())


def _answer(request: web.Request, last_part_only: bool) -> web.StreamResponse:
    query = request.rel_url.query
    name = query["filename"]
    if query.get("type") == "path":
        directory, name = os.path.split(name)
    else:
        directory = folder_paths.get_directory_by_type(query.get("type", "output"))
    if directory is None:
        return web.json_response({"error": "unknown type"}, status=400)
    return _file(
        os.path.join(
            directory,
            query.get("subfolder", ""),
            os.path.basename(name) if last_part_only else name,
        )
    )


def _file(path: str) -> web.StreamResponse:
    if not os.path.isfile(path):
        return web.json_response({"error": "no such file"}, status=404)
    return web.FileResponse(path)


@routes.get("/file_preview/view")
async def view(request: web.Request) -> web.StreamResponse:
    return _answer(request, last_part_only=False)


@routes.get("/file_preview/view_name")
async def view_name(request: web.Request) -> web.StreamResponse:
    return _answer(request, last_part_only=True)


def _listing(path: str) -> list[str]:
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


@routes.get("/file_preview/list")
async def list_folder(request: web.Request) -> web.StreamResponse:
    path = request.rel_url.query.get("path", "")
    return web.json_response(await asyncio.to_thread(_listing, path))


@routes.get("/file_preview/outputs")
async def list_outputs(request: web.Request) -> web.StreamResponse:
    folder = os.path.join(folder_paths.get_output_directory(), request.rel_url.query["dir"])
    return web.json_response(await asyncio.to_thread(_listing, folder))


@routes.get("/file_preview/files/{subfolder}/{name}")
async def output_file(request: web.Request) -> web.StreamResponse:
    return _file(
        os.path.join(
            folder_paths.get_output_directory(),
            request.match_info["subfolder"],
            request.match_info["name"],
        )
    )


def _read(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()


@routes.get("/file_preview/socket")
async def file_socket(request: web.Request) -> web.StreamResponse:
    query = request.rel_url.query
    path = os.path.join(
        folder_paths.get_output_directory(), query.get("subfolder", ""), query["filename"]
    )
    socket = web.WebSocketResponse()
    await socket.prepare(request)
    await socket.send_bytes(await asyncio.to_thread(_read, path))
    await socket.close()
    return socket
