"""Connections to the Redis server that several instances share (``COMFYUI_AUTH_REDIS_URL``).

Sessions use redis-py's synchronous client (the session store's interface is synchronous, like
SQLite's, and ``Authenticator`` calls it in a worker thread); throttling uses ``limits``'
Redis storage on redis-py's asyncio client - ``limits`` defaults to coredis, which would be
one more dependency for the same job.

Both clients give up fast: one-second timeouts and a single immediate retry, which rides over
a pooled connection that Redis closed (a Redis restart). redis-py's default, ten retries with
back-off, would hold a request (and a worker thread) for seconds while Redis is down, when
the right answer is an immediate 503.

Nothing here ever shows the URL, which can hold a password: failures at start-up become a
``ConfigError`` naming the variable and the fix, failures later a ``SharedStateUnavailable``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.retry
from limits.aio.storage import RedisStorage
from redis.backoff import NoBackoff
from redis.retry import Retry

from .errors import ConfigError, SharedStateUnavailable
from .secret import Secret

VARIABLE = "COMFYUI_AUTH_REDIS_URL"
KEY_PREFIX = "comfyui-auth"
TIMEOUT_SECONDS = 1.0
MIN_SERVER_VERSION = (7, 0)  # EXPIRE ... NX/GT, used by the session store
FIX = (
    f"start Redis 7.0 or newer there, or correct {VARIABLE} (or unset it to keep sessions and "
    "throttling on this instance only)"
)


@dataclass
class SharedRedis:
    """The two clients of one instance: synchronous for sessions, asyncio for throttling."""

    client: redis.Redis
    throttle_storage: RedisStorage
    pool: redis.asyncio.ConnectionPool

    async def close(self) -> None:
        await self.pool.aclose()
        self.client.close()


def connect(url: Secret) -> SharedRedis:
    """Clients for ``url``, once the server has answered; raise ``ConfigError`` otherwise."""
    text = url.reveal().decode("utf-8", "replace")
    try:
        client = redis.Redis.from_url(text, **_timeouts(), retry=Retry(NoBackoff(), 1))
        pool = redis.asyncio.ConnectionPool.from_url(
            text, **_timeouts(), retry=redis.asyncio.retry.Retry(NoBackoff(), 1)
        )
    except ValueError:
        raise ConfigError(
            f"{VARIABLE} is not a valid Redis URL",
            fix=f"set it to e.g. redis://127.0.0.1:6379/0 or unset {VARIABLE}",
        ) from None
    _check_server(client)
    options: dict[str, Any] = {"connection_pool": pool}
    storage = RedisStorage(
        _limits_uri(text),
        implementation="redispy",
        key_prefix=f"{KEY_PREFIX}:throttle",
        **options,
    )
    return SharedRedis(client, storage, pool)


@contextlib.contextmanager
def answering() -> Iterator[None]:
    """Turn a Redis failure during a request into ``SharedStateUnavailable``."""
    try:
        yield
    except redis.RedisError as error:
        raise SharedStateUnavailable(error) from None


def _check_server(client: redis.Redis) -> None:
    """Fail closed at start-up: a server that does not answer now will not later either."""
    try:
        version = str(client.info("server").get("redis_version", "0"))
    except redis.RedisError as error:
        problem = f"cannot use the Redis server named by {VARIABLE} ({type(error).__name__})"
    else:
        if _version(version) >= MIN_SERVER_VERSION:
            return
        problem = f"the Redis server named by {VARIABLE} is older than 7.0"
    client.close()
    raise ConfigError(problem, fix=FIX)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2] if part.isdigit())


def _timeouts() -> dict[str, float]:
    return {"socket_timeout": TIMEOUT_SECONDS, "socket_connect_timeout": TIMEOUT_SECONDS}


def _limits_uri(url: str) -> str:
    """The URL in ``limits``' spelling (it reads only the credentials; the pool connects)."""
    if url.startswith("unix:"):
        return "async+redis+unix:" + url.removeprefix("unix:")
    return "async+" + url
