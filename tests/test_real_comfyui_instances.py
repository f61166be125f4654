"""Two real ComfyUI processes behind one Redis act as one ComfyUI (issue 12).

A and B run this package with one shared ``auth.json``, one ``redis-server`` on loopback and
the signing key copied from A to B, as the README's "Several instances" section says. A
Fooocus user (plain ``pass`` or SHA-256 ``hash``) who signs in on A has the entry upgraded to
argon2id there; B's copy of the file is then behind, and before issue 12 B ended the session
for everyone about two seconds later. Now it lives on both, and a sign-out anywhere ends it
everywhere within the second the instances remember a session.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from comfyui_auth.core.session_cache import SHARED_TTL_S
from comfyui_auth.tests.comfyui_harness import (
    ComfyUITree,
    RunningComfyUI,
    comfyui_trees,
    missing,
    start_comfyui,
    tree_python,
    tree_version,
)
from comfyui_auth.tests.redis_server import RedisServer

pytestmark = [pytest.mark.comfyui, pytest.mark.redis, pytest.mark.slow]
SESSION = "comfyui_auth_session"
CSRF = "comfyui_auth_csrf"
USERS = {"fooocus-plain": "plain-password-1", "fooocus-sha": "sha-password-2"}
running = contextlib.contextmanager(start_comfyui)


def tree() -> ComfyUITree:
    """ComfyUI 0.8.0 where it is there (what the issue was found on), else the first tree."""
    trees = comfyui_trees()
    if not trees:
        missing("no ComfyUI tree")
    directory = next((t for t in trees if tree_version(t) == "0.8.0"), trees[0])
    python = tree_python(directory)
    if not python.is_file():
        missing(f"no Python for {directory} ({python})")
    return ComfyUITree(directory, python)


@contextlib.contextmanager
def two_instances(tmp_path: Path, redis_url: str) -> Iterator[tuple[RunningComfyUI, ...]]:
    auth_file = tmp_path / "auth.json"
    auth_file.write_text(
        json.dumps(
            [
                {"user": "fooocus-plain", "pass": USERS["fooocus-plain"]},
                {
                    "user": "fooocus-sha",
                    "hash": hashlib.sha256(USERS["fooocus-sha"].encode()).hexdigest(),
                },
            ]
        )
    )
    auth_file.chmod(0o600)
    env = {
        "COMFYUI_AUTH_FILE": str(auth_file),
        "COMFYUI_AUTH_REDIS_URL": redis_url,
        "COMFYUI_AUTH_TEST_CHEAP_HASHING": "1",
    }
    comfyui = tree()
    base_a, base_b = tmp_path / "a", tmp_path / "b"
    with running(comfyui, base_a, env) as a:
        key_dir = base_b / "user" / "__auth"
        key_dir.mkdir(mode=0o700, parents=True)
        shutil.copy2(base_a / "user" / "__auth" / "secret_key", key_dir / "secret_key")
        with running(comfyui, base_b, env) as b:
            yield a, b


async def sign_in(http: aiohttp.ClientSession, base: str, user: str) -> dict[str, str]:
    """The cookies of a fresh sign-in (sent by hand: the jar is a dummy)."""
    async with http.post(
        f"{base}/auth/login", json={"username": user, "password": USERS[user]}
    ) as answer:
        assert answer.status == 200, await answer.text()
        return {name: morsel.value for name, morsel in answer.cookies.items()}


async def me(http: aiohttp.ClientSession, base: str, cookies: dict[str, str]) -> int:
    headers = {"Cookie": f"{SESSION}={cookies[SESSION]}"}
    async with http.get(f"{base}/auth/me", headers=headers) as answer:
        return answer.status


async def seconds_until_refused(
    http: aiohttp.ClientSession, base: str, cookies: dict[str, str], limit: float = 3.0
) -> float:
    start = time.monotonic()
    while await me(http, base, cookies) != 401:
        if time.monotonic() - start > limit:
            pytest.fail(f"the session still worked {limit} s after it ended elsewhere")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def test_fooocus_sessions_live_on_both_instances_and_a_sign_out_ends_them_everywhere(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    with two_instances(tmp_path, redis_server.url) as (a, b):
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            sessions = {user: await sign_in(http, a.url, user) for user in USERS}
            entries = json.loads((tmp_path / "auth.json").read_text())
            assert all(entry["hash"].startswith("$argon2id$") for entry in entries)
            for cookies in sessions.values():
                assert [await me(http, a.url, cookies), await me(http, b.url, cookies)] == [
                    200,
                    200,
                ]
            await asyncio.sleep(5)  # both watchers have read the rewritten file meanwhile
            for cookies in sessions.values():
                assert [await me(http, b.url, cookies), await me(http, a.url, cookies)] == [
                    200,
                    200,
                ]
            cookies = sessions["fooocus-plain"]
            logout = await http.post(
                f"{b.url}/auth/logout",
                headers={
                    "Cookie": f"{SESSION}={cookies[SESSION]}; {CSRF}={cookies[CSRF]}",
                    "Origin": b.url,
                    "X-CSRF-Token": cookies[CSRF],
                },
            )
            assert logout.status == 200
            assert await me(http, b.url, cookies) == 401
            assert await seconds_until_refused(http, a.url, cookies) <= SHARED_TTL_S + 0.3
            assert await me(http, a.url, sessions["fooocus-sha"]) == 200  # only that one
        for instance in (a, b):  # ComfyUI's own tracebacks (optional nodes) are not ours
            log = instance.log_path.read_text(errors="replace")
            assert "comfyui-auth could not start" not in log
            assert "checking auth.json failed" not in log
            assert "differs from the one" not in log
