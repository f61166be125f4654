"""Brute-force throttling of failed logins and failed API keys, built on ``limits``.

Failures are counted per client address and per user name in two moving windows: a short one
(default 5 per minute) and a long one (four times as many per hour). Past the short limit a
caller waits for the window to slide; a caller that keeps failing hits the long window and
waits longer - a bounded back-off, so a user name attacked from elsewhere is never locked out
for good. The storage is ``limits``' memory store with a bound on its keys (``throttle_keys``),
or Redis when configured, so several ComfyUI instances behind one load balancer count together;
a Redis that does not answer raises ``SharedStateUnavailable`` rather than letting a guess in.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import time
from collections.abc import Callable, Iterator

from limits import RateLimitItem, RateLimitItemPerHour, RateLimitItemPerMinute, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from .errors import SharedStateUnavailable
from .throttle_keys import BoundedKeys, KeyPolicy, SharedKeys

NAMESPACE = "comfyui-auth"
MAX_RECORDS_PER_KIND = 4096
"""Per kind (addresses, user names). A record costs at most about 4 KiB in ``limits``' memory
storage (a user that failed 25 times), so the bound is some 35 MB at the very worst; and
``limits``' sweep over that many keys takes a few seconds of a background thread."""


def address_key(address: str) -> str:
    """The record an address counts in: IPv4 by address, IPv6 by its /64 network.

    One host (or one customer of a provider) usually holds a whole IPv6 /64, so counting its
    addresses one by one would hand it 2**64 fresh allowances and let it fill the bounded
    table (``throttle_keys``) alone. An IPv4-mapped IPv6 address counts as its IPv4 address.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"addr:{address}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"addr:{ip.ipv4_mapped}"
        return f"addr:{ipaddress.IPv6Network((ip, 64), strict=False)}"
    return f"addr:{ip}"


def user_key(lookup_name: str, *, known: bool) -> str:
    """A real account's own record (``account:``), or the bounded one of an invented name."""
    return f"account:{lookup_name}" if known else f"user:{lookup_name}"


def failure_windows(failure_limit: int, window_seconds: int) -> tuple[RateLimitItem, ...]:
    """The short window from the settings and the long one, four times as many failures."""
    short = parse(f"{failure_limit}/{window_seconds} second")
    long = (
        RateLimitItemPerHour(failure_limit * 4)
        if window_seconds < 3600
        else RateLimitItemPerMinute(failure_limit * 4, window_seconds // 15)
    )
    return (short, long)


class SweepSafeMemoryStorage(MemoryStorage):
    """``limits``' memory store, with a ``clear`` its own expiry sweep survives.

    The store's sweep (a background task started by a hit) lists the keys, then reads each
    key's events after awaiting a worker thread for the one before. ``clear`` deletes a
    key's events, so a sign-in that succeeds during a sweep (``FailureThrottle.forget``)
    made the sweep's next read raise ``KeyError``: the sweep stopped short, and asyncio
    logged its traceback ("Task exception was never retrieved"). Here a cleared key keeps an
    empty list of events instead, which counts as no failures and which the sweep itself
    deletes on its next round.
    """

    async def clear(self, key: str) -> None:
        had_events = key in self.events
        await super().clear(key)
        if had_events:
            self.events[key] = []


class FailureThrottle:
    """Counts failures and tells how long a key must wait before it may try again."""

    def __init__(
        self,
        limits: tuple[RateLimitItem, ...],
        storage: Storage,
        keys: KeyPolicy,
        *,
        outages: tuple[type[Exception], ...] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._limits = limits
        self._storage = storage
        self._limiter = MovingWindowRateLimiter(storage)
        self._keys = keys
        self._outages = outages
        self._clock = clock

    @classmethod
    def in_memory(
        cls,
        limits: tuple[RateLimitItem, ...],
        *,
        capacity: int = MAX_RECORDS_PER_KIND,
        clock: Callable[[], float] = time.time,
    ) -> FailureThrottle:
        """One instance's throttle, its memory bounded by ``capacity`` records per kind."""
        lifetime = max(item.get_expiry() for item in limits)
        keys = BoundedKeys(capacity, lifetime, clock=clock)
        return cls(limits, SweepSafeMemoryStorage(), keys, clock=clock)

    @classmethod
    def shared(cls, limits: tuple[RateLimitItem, ...], storage: Storage) -> FailureThrottle:
        """A throttle whose records live in ``storage`` (Redis), shared by every instance."""
        errors = storage.base_exceptions
        outages = errors if isinstance(errors, tuple) else (errors,)
        return cls(limits, storage, SharedKeys(), outages=outages)

    @property
    def tracked_keys(self) -> int:
        """Records this instance keeps in memory (0 with Redis)."""
        return len(self._keys)

    async def retry_after(self, *keys: str) -> int:
        """Seconds until every key may try again; 0 when none is throttled."""
        wait = 0.0
        with self._answering():
            for key in keys:
                for record in self._keys.judges(key):
                    for item in self._limits:
                        if not await self._limiter.test(item, NAMESPACE, record):
                            stats = await self._limiter.get_window_stats(item, NAMESPACE, record)
                            wait = max(wait, stats.reset_time - self._clock())
        return math.ceil(wait) if wait > 0 else 0

    async def record_failure(self, *keys: str) -> None:
        with self._answering():
            for key in keys:
                record = self._keys.admit(key)
                for item in self._limits:
                    await self._limiter.hit(item, NAMESPACE, record)

    async def forget(self, *keys: str) -> None:
        """After a success: the user's own failures no longer count against them."""
        with self._answering():
            for key in keys:
                self._keys.release(key)
                for item in self._limits:
                    await self._limiter.clear(item, NAMESPACE, key)

    @contextlib.contextmanager
    def _answering(self) -> Iterator[None]:
        try:
            yield
        except self._outages as error:
            raise SharedStateUnavailable(error) from None
