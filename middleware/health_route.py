"""``GET/HEAD /health``: is this node fit to take work? Public, fast, reveals nothing else.

It reports the queue and the torch device so a load balancer can route around a node whose
GPU is gone or full. It never shows argv, paths, versions or user names.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from ..core.device import probe_device
from . import responses
from .host_adapter import HostAdapter
from .runtime import Handler

logger = logging.getLogger(__name__)
_WARMING = web.AppKey("comfyui_auth.device_warm_up", asyncio.Future)


async def warm_device_probe(app: web.Application) -> None:
    """Import torch in the background at start-up, so the first ``/health`` is fast too."""
    app[_WARMING] = asyncio.get_running_loop().run_in_executor(None, _probe_quietly)


def _probe_quietly() -> None:
    try:
        probe_device()
    except Exception:
        logger.debug("device probe failed during warm-up", exc_info=True)


def health_handler(host: HostAdapter) -> Handler:
    async def health(request: web.Request) -> web.StreamResponse:
        try:
            pending, running = host.queue_counts()
            device = await asyncio.to_thread(probe_device)
        except Exception:
            logger.exception("health check failed")
            return responses.json_answer(
                503, {"status": "error", "error": "queue or device unavailable"}
            )
        return responses.ok(
            {
                "status": "ok",
                "queue": {"pending": pending, "running": running},
                "device": {"name": device.name, "type": device.type, "index": device.index},
                "vram": {"total": device.total, "free": device.free},
            }
        )

    return health
