"""Background task: apply edits of ``auth.json`` and the key file within a second or two.

A good edit replaces the credential store (sessions of removed or disabled users end); a
broken edit is logged with what is wrong and where, and the last good store stays in force.
If a shared Redis does not answer, a removed user's session records stay until they expire -
harmlessly: those sessions fail the credential-tag check at their next request all the same.
Each poll also writes the "last used" table once a minute has passed (``core.activity``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiohttp import web

from ..core.errors import SharedStateUnavailable
from .runtime import AuthRuntime

logger = logging.getLogger(__name__)
POLL_SECONDS = 1.0
PURGE_EVERY = 3600


async def watch_credentials(runtime: AuthRuntime) -> None:
    """Poll the files until cancelled."""
    ticks = 0
    while True:
        await asyncio.sleep(POLL_SECONDS)
        try:
            await apply_file_changes(runtime)
            await check_shared_config(runtime)
            await flush_activity(runtime)
            ticks += 1
            if ticks % PURGE_EVERY == 0:
                await asyncio.to_thread(runtime.authenticator.sessions.purge_expired)
        except Exception:  # a dead watcher would keep revoked users signed in: log, go on
            logger.exception("comfyui-auth: checking auth.json failed; trying again in a second")


async def apply_file_changes(runtime: AuthRuntime) -> None:
    """One poll: reload if the files changed, and report the outcome."""
    source = runtime.authenticator.credentials
    outcome = await asyncio.to_thread(source.reload_if_changed)
    if outcome.error is not None:
        logger.error("comfyui-auth kept the last good configuration: %s", outcome.error.explanation)
        runtime.audit.record("config_rejected", reason=outcome.error.explanation)
    elif outcome.store is not None and outcome.previous is not None:
        before = outcome.previous
        removed = set(before.users) - set(outcome.store.users)
        try:
            for key in removed:
                name = before.users[key].name
                ended = await runtime.authenticator.end_user_sessions(name)
                why = "user disabled" if key in outcome.store.disabled else "user removed"
                if ended:
                    runtime.audit.record("session_revoked", user=name, reason=why)
        except SharedStateUnavailable as error:
            logger.warning("comfyui-auth could not end removed users' sessions now: %s", error)
        runtime.audit.record("config_reloaded", reason=f"{len(outcome.store.users)} users")


async def flush_activity(runtime: AuthRuntime, *, force: bool = False) -> None:
    """Write "last used" to disk at most once a minute, off the event loop."""
    now = time.time()
    if force or runtime.activity.flush_due(now):
        await asyncio.to_thread(runtime.activity.flush, now)


async def check_shared_config(runtime: AuthRuntime) -> None:
    """With Redis: keep this instance's fingerprints published; report a mismatch found."""
    if runtime.shared_config is None:
        return
    for problem in await asyncio.to_thread(runtime.shared_config.refresh):
        logger.error("comfyui-auth: %s", problem)


def watcher_context(runtime: AuthRuntime) -> object:
    """An aiohttp cleanup context that runs the watcher for the app's lifetime."""

    async def context(app: web.Application):  # type: ignore[no-untyped-def]
        task = asyncio.create_task(watch_credentials(runtime))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        with contextlib.suppress(OSError):
            await flush_activity(runtime, force=True)  # what the last minute noted

    return context
