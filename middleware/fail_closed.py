"""The last line of defence: if the package cannot start, nothing is served.

ComfyUI logs an exception raised by a custom node and starts without it - which, for an
authentication layer, would mean an open server. Instead, any failure while the package sets
itself up installs this middleware, which answers every request with 503 and a message naming
the problem and the fix. It depends on aiohttp and the standard library only, so it works even
when a dependency of the package is missing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

logger = logging.getLogger(__name__)
REQUIREMENTS_FIX = (
    "install the package's requirements with ComfyUI's own Python: "
    "python -m pip install -r custom_nodes/comfyui-auth/requirements.txt"
)


def explain(error: BaseException) -> str:
    """What went wrong and how to fix it, without echoing secrets."""
    explanation = getattr(error, "explanation", None)
    if isinstance(explanation, str):
        return f"{explanation}, then restart ComfyUI"
    if isinstance(error, ImportError):
        return f"a dependency of comfyui-auth is missing ({error.name}). Fix: {REQUIREMENTS_FIX}"
    return (
        f"comfyui-auth failed to start ({type(error).__name__}). "
        "Fix: read the traceback above in the ComfyUI console, then restart ComfyUI"
    )


def close_host(app: web.Application, error: BaseException) -> None:
    """Put a 503-for-everything middleware at the front of ``app`` and say why, loudly."""
    explanation = explain(error)
    logger.critical(
        "comfyui-auth could not start, so ComfyUI answers every request with 503 until this is "
        "fixed: %s",
        explanation,
        exc_info=not hasattr(error, "explanation"),
    )

    @web.middleware
    async def closed(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.rel_url.raw_path == "/health":
            body = {"status": "error", "error": "authentication is not configured correctly"}
        else:
            body = {
                "error": "authentication is not configured correctly; the server stays closed",
                "problem": explanation,
            }
        return web.json_response(body, status=503, headers={"Cache-Control": "no-store"})

    app.middlewares.insert(0, closed)
