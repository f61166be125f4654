"""``GET/HEAD /health``: is this node fit to take work? Public, fast, reveals nothing else.

It reports the queue and the torch device so a load balancer can route around a node whose
GPU is gone or full. It never shows argv, paths, versions or user names.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from ..core.device import DeviceReport, probe_device
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


class DeviceReadings:
    """The device report, at most ``MAX_AGE_S`` old, refreshed in the background.

    A load balancer polls ``/health`` all day: it gets the last reading at once while one
    refresh runs in a worker thread, so a busy thread pool (or a slow driver call) never
    stalls the answer. Only the very first request waits for a reading.
    """

    MAX_AGE_S = 1.0

    def __init__(self) -> None:
        self._last: tuple[float, DeviceReport] | None = None
        self._refresh: asyncio.Future[DeviceReport] | None = None

    async def current(self) -> DeviceReport:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._last is not None and now - self._last[0] < self.MAX_AGE_S:
            return self._last[1]
        if self._refresh is None or self._refresh.done():
            self._refresh = loop.run_in_executor(None, probe_device)
            self._refresh.add_done_callback(self._keep)
        if self._last is not None:
            return self._last[1]
        return await asyncio.shield(self._refresh)

    def _keep(self, refresh: asyncio.Future[DeviceReport]) -> None:
        """Keep a good reading; forget the last one when the device stops answering, so
        the next request waits for a reading and gets the failure (503), not old news."""
        if refresh.cancelled() or refresh.exception() is not None:
            self._last = None
        else:
            self._last = (asyncio.get_running_loop().time(), refresh.result())


def health_handler(host: HostAdapter) -> Handler:
    readings = DeviceReadings()

    async def health(request: web.Request) -> web.StreamResponse:
        try:
            pending, running = host.queue_counts()
            device = await readings.current()
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
