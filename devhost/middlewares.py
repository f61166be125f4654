"""The middlewares ComfyUI 0.8.0 builds its app with, in the same order and with the same effect.

A custom node inserts its own middleware at index 0, in front of these. Keeping ComfyUI's
behind it matters: the origin check answers 403 to a cross-site request only when the host
is a loopback address, and the cache headers decide what a browser may keep.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
logger = logging.getLogger("devhost")

ONE_HOUR = 3600
ONE_DAY = 86400
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


@web.middleware
async def cache_control(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Scripts, styles and ``index*.json`` are revalidated; images are cached for a day."""
    response = await handler(request)
    name = request.path.rsplit("/", 1)[-1]
    if request.path.endswith((".js", ".css")) or (
        name.startswith("index") and name.endswith(".json")
    ):
        response.headers.setdefault("Cache-Control", "no-cache")
    elif request.path.lower().endswith(IMAGE_SUFFIXES):
        if response.status == 404:
            response.headers.setdefault("Cache-Control", f"public, max-age={ONE_HOUR}")
        elif response.status in (200, 201, 202, 203, 204, 205, 206, 301, 308):
            response.headers.setdefault("Cache-Control", f"public, max-age={ONE_DAY}")
        elif response.status in (302, 303, 307):
            response.headers.setdefault("Cache-Control", "no-cache")
    return response


@web.middleware
async def deprecation_warning(request: web.Request, handler: Handler) -> web.StreamResponse:
    """ComfyUI logs imports of its legacy frontend API; the double only passes through."""
    return await handler(request)


def _is_loopback(hostname: str | None) -> bool:
    if not hostname:
        return False
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


@web.middleware
async def origin_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """403 when a loopback ``Host`` and the ``Origin`` disagree; OPTIONS gets an empty 200.

    ComfyUI's guard against a web page POSTing to ``127.0.0.1``: a port present on only one
    side is ignored, and nothing is checked for a non-loopback host.
    """
    host_header, origin = request.headers.get("Host"), request.headers.get("Origin")
    if host_header is not None and origin is not None:
        host = urlsplit("//" + host_header.lower())
        source = urlsplit(origin.lower())
        host_domain = host_header.lower() if source.port is not None else host.hostname
        origin_domain = source.netloc if host.port is not None else source.hostname
        loopback = _is_loopback(host.hostname)
        if loopback and host_domain and origin_domain and host_domain != origin_domain:
            logger.warning("request with non matching host and origin, returning 403")
            return web.Response(status=403)
    if request.method == "OPTIONS":
        return web.Response()
    return await handler(request)


DEFAULT_MIDDLEWARES = (cache_control, deprecation_warning, origin_only)
