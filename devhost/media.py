"""Images: ``/view``, ``/upload/image``, ``/upload/mask``, ``/view_metadata``, and a demo PNG.

``/view`` is loaded by ``<img>`` tags, so a browser sends cookies but never custom headers:
the route an auth layer most often gets wrong. The double serves it with ComfyUI's checks
(400 for an absolute or ``..`` file name, 403 for a subfolder that leaves its directory) and
ships a real PNG, made with ``zlib`` alone, so a browser test can see an image render.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import struct
import zlib
from pathlib import Path

from aiohttp import web

from .folders import Folders

DEMO_IMAGE = "demo.png"
DEMO_SIZE = 64
DOWNLOAD_ONLY = {
    "text/html",
    "text/html-sandboxed",
    "application/xhtml+xml",
    "text/javascript",
    "text/css",
}


def png_bytes(width: int = DEMO_SIZE, height: int = DEMO_SIZE) -> bytes:
    """An RGB gradient PNG: distinct pixels, so a screenshot shows it really decoded."""
    rows = b"".join(
        b"\x00" + bytes(c for x in range(width) for c in (x * 255 // width, y * 255 // height, 160))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def inside(root: Path, *parts: str) -> Path | None:
    """``root/parts...`` if it stays inside ``root`` (ComfyUI's ``commonpath`` test)."""
    base = os.path.abspath(root)
    candidate = os.path.abspath(os.path.join(base, *parts))
    return Path(candidate) if os.path.commonpath((base, candidate)) == base else None


def add_media_routes(routes: web.RouteTableDef, folders: Folders, uploads: list[str]) -> None:
    """Register the media routes; each stored upload's path is appended to ``uploads``."""

    @routes.get("/view")
    async def view_image(request: web.Request) -> web.StreamResponse:
        query = request.rel_url.query
        if "filename" not in query:
            return web.Response(status=404)
        filename, directory = folders.annotated(query["filename"])
        if not filename:
            return web.Response(status=400)
        if filename[0] == "/" or ".." in filename:
            return web.Response(status=400)
        directory = directory or folders.by_type(query.get("type", "output"))
        if directory is None:
            return web.Response(status=400)
        if "subfolder" in query:
            directory = inside(directory, query["subfolder"])
            if directory is None:
                return web.Response(status=403)
        file = directory / os.path.basename(filename)
        if not file.is_file():
            return web.Response(status=404)
        content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if content_type in DOWNLOAD_ONLY:
            content_type = "application/octet-stream"
        return web.FileResponse(
            file,
            headers={
                "Content-Disposition": f'filename="{file.name}"',
                "Content-Type": content_type,
            },
        )

    async def store_upload(request: web.Request, default_type: str) -> web.StreamResponse:
        post = await request.post()
        image = post.get("image")
        if not isinstance(image, web.FileField) or not image.filename:
            return web.Response(status=400)
        type_name = str(post.get("type") or default_type)
        subfolder = str(post.get("subfolder", ""))
        target = _upload_target(folders, type_name, subfolder, image.filename)
        if target is None:
            return web.Response(status=400)
        data = image.file.read()
        target.parent.mkdir(parents=True, exist_ok=True)
        target = _free_name(target, data, post.get("overwrite") in ("true", "1"))
        target.write_bytes(data)
        uploads.append(str(target))
        return web.json_response({"name": target.name, "subfolder": subfolder, "type": type_name})

    @routes.post("/upload/image")
    async def upload_image(request: web.Request) -> web.StreamResponse:
        return await store_upload(request, "input")

    @routes.post("/upload/mask")
    async def upload_mask(request: web.Request) -> web.StreamResponse:
        """ComfyUI merges the mask into the original's alpha; the double stores it as sent."""
        return await store_upload(request, "input")

    @routes.get("/view_metadata/{folder_name}")
    async def view_metadata(request: web.Request) -> web.StreamResponse:
        """No model carries safetensors metadata here: ComfyUI's answer for that is 404."""
        return web.Response(status=404)


def _upload_target(folders: Folders, type_name: str, subfolder: str, name: str) -> Path | None:
    """Where ComfyUI stores an upload; None when it would leave the type's directory."""
    directory = folders.by_type(type_name)
    if directory is None:
        return None
    return inside(directory, os.path.normpath(subfolder), name)


def _free_name(target: Path, data: bytes, overwrite: bool) -> Path:
    """ComfyUI's upload naming: ``x (1).png`` unless identical content already has the name."""
    if overwrite:
        return target
    counter = 1
    candidate = target
    while candidate.exists():
        if hashlib.sha256(candidate.read_bytes()).digest() == hashlib.sha256(data).digest():
            return candidate
        candidate = target.with_name(f"{target.stem} ({counter}){target.suffix}")
        counter += 1
    return candidate
