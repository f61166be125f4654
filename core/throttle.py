"""Brute-force throttling of failed logins and failed API keys, built on ``limits``.

Failures are counted per client address and per user name in two moving windows: a short one
(default 5 per minute) and a long one (four times as many per hour). Past the short limit a
caller waits for the window to slide; a caller that keeps failing hits the long window and
waits longer - a bounded back-off, so a user name attacked from elsewhere is never locked out
for good. The storage is ``limits``' memory store, or Redis when configured, so several
ComfyUI instances behind one load balancer count together.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from limits import RateLimitItem, RateLimitItemPerHour, RateLimitItemPerMinute, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

NAMESPACE = "comfyui-auth"


def address_key(address: str) -> str:
    return f"addr:{address}"


def user_key(lookup_name: str) -> str:
    return f"user:{lookup_name}"


class FailureThrottle:
    """Counts failures and tells how long a key must wait before it may try again."""

    def __init__(
        self,
        limits: tuple[RateLimitItem, ...],
        storage: Storage | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._limits = limits
        self._storage = storage if storage is not None else MemoryStorage()
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._clock = clock

    @classmethod
    def from_settings(
        cls, failure_limit: int, window_seconds: int, redis_url: str | None = None
    ) -> FailureThrottle:
        short = parse(f"{failure_limit}/{window_seconds} second")
        long = (
            RateLimitItemPerHour(failure_limit * 4)
            if window_seconds < 3600
            else RateLimitItemPerMinute(failure_limit * 4, window_seconds // 15)
        )
        storage = storage_from_string(_async_url(redis_url)) if redis_url else None
        if storage is not None and not isinstance(storage, Storage):
            raise TypeError("limits returned a synchronous storage for an async+ URL")
        return cls((short, long), storage)

    async def retry_after(self, *keys: str) -> int:
        """Seconds until every key may try again; 0 when none is throttled."""
        wait = 0.0
        for key in keys:
            for item in self._limits:
                if not await self._limiter.test(item, NAMESPACE, key):
                    stats = await self._limiter.get_window_stats(item, NAMESPACE, key)
                    wait = max(wait, stats.reset_time - self._clock())
        return math.ceil(wait) if wait > 0 else 0

    async def record_failure(self, *keys: str) -> None:
        for key in keys:
            for item in self._limits:
                await self._limiter.hit(item, NAMESPACE, key)

    async def forget(self, *keys: str) -> None:
        """After a success: the user's own failures no longer count against them."""
        for key in keys:
            for item in self._limits:
                await self._limiter.clear(item, NAMESPACE, key)


def _async_url(url: str) -> str:
    return url if url.startswith("async+") else "async+" + url
