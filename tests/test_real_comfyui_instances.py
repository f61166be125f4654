"""Two real ComfyUI processes behind one Redis act as one ComfyUI (issue 12).

A and B run this package with one shared ``auth.json``, one ``redis-server`` on loopback and
one signing key (made on A, copied to B, as the README's "Several instances" section says).
Everything is done the way a user, an administrator or an attacker would: sign-ins, sign-outs
and account changes over HTTP, ``manage.py`` as a separate process, Redis killed like a crash.

- a password session (Fooocus plain and SHA-256 entries, upgraded to argon2id on A at the
  sign-in, and an argon2id entry) and a session opened with an API key on A are valid on B,
  and still after five seconds (B's copy of the file was behind: before issue 12 it ended the
  upgraded sessions for everyone);
- a sign-out, a key revoked or a session ended from the account page on one instance ends
  the session on the other within the second an instance may remember a session (judged
  from when that instance last read it, so a slow machine neither fails the test nor hides a
  late refusal); a key revoked or a password or role changed with ``manage.py`` or in the
  browser ends the old sessions on both within two seconds, and a new key or password works
  on both at once, even on the instance whose copy of the file is still behind;
- a user disabled with ``manage.py`` or in the Users dialog on A loses their sessions, their
  Basic pair and their sign-in on both within two seconds, and is let back in on both once
  enabled on B; a set-password link made on A works on B at once (B's copy of the file
  still behind), once: A refuses it right after; a user added on A is listed and can be
  managed on B at once, and removed there, which ends their sessions on both;
- failures on one instance throttle the other;
- sign-ins on both instances upgrading Fooocus passwords while ``manage.py`` adds users lose
  no entry and no field;
- ``manage.py check`` compares this machine's key and file with the running instances'; a
  third instance C, started with a key of its own, answers 503 to everything and its console
  names the key file and the fix;
- Redis stopped: every answer on both instances is a 503, or the 401 / redirect of a caller
  with no credentials, or the 200 of a valid API key (which needs no Redis); never a 500,
  never a session let in. Redis back: both serve again without a restart.

The two instances and Redis are shared by the module (a ComfyUI start costs seconds); each
test uses its own users, so they do not depend on each other's order, except the outage test,
which runs last because it empties Redis.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import hashlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest
import redis

from comfyui_auth.core.api_keys import digest_token, generate_token
from comfyui_auth.core.session_cache import SHARED_TTL_S
from comfyui_auth.core.state_files import ensure_private_dir, read_or_create_signing_key
from comfyui_auth.tests.comfyui_harness import (
    REPO_ROOT,
    ComfyUITree,
    Launched,
    RunningComfyUI,
    comfyui_trees,
    launch_comfyui,
    missing,
    start_comfyuis,
    stop,
    tree_python,
    tree_version,
    wait_until_answering,
)
from comfyui_auth.tests.comfyui_users import VERIFIER, password_of
from comfyui_auth.tests.redis_server import RedisServer, running_redis_server
from comfyui_auth.tests.test_client_credentials import basic_header
from comfyui_auth.tests.test_manage_cli import MANAGE, TIMEOUT, clean_env

pytestmark = [pytest.mark.comfyui, pytest.mark.redis, pytest.mark.slow]
SESSION = "comfyui_auth_session"
CSRF = "comfyui_auth_csrf"
ADMIN_KEY = "instances-admin-key-0123456789abcdef"
ADMIN = {"X-API-Key": ADMIN_KEY}
SET_PASSWORD = "/auth/set-password"
FAILURE_LIMIT = 3
QUICK_START = ("--disable-api-nodes",)
"""ComfyUI's cloud nodes are no business of these tests, and skipping them saves CPU seconds."""
FILE_CHANGE_WITHIN_S = 2.0
"""An edit of ``auth.json`` reaches every instance (the README's promise)."""
CROWD = 6
"""Fooocus users signing in on both instances at once, while ``manage.py`` adds users."""
ADDED = 4

FOOOCUS_PLAIN = "fooocus-plain"
FOOOCUS_SHA = "fooocus-sha"
ARGON = "argon"
KEYED = "kim"
KEYED_TOKEN, KEYED_KEY_ID = generate_token()
SIGNED_OUT = "sol"
REVOKER = "rev"
CHANGED = {"manage.py passwd": "pat", "password changed in the browser": "bea"}
PROMOTED = {"manage.py set-role": "rory", "the Users dialog on A": "ray"}
DISABLED = {"manage.py disable": "dee", "the Users dialog on A": "dora"}
LINKED = "lin"
NEWCOMER = "newt"
"""Added on A during the run (not in the initial file)."""
THROTTLED = "thea"
OUTAGE = "otto"
ARGON_USERS = (
    SIGNED_OUT,
    REVOKER,
    *CHANGED.values(),
    *PROMOTED.values(),
    *DISABLED.values(),
    LINKED,
    THROTTLED,
    OUTAGE,
)
"""One user per test (and parameter): no test depends on what another did to its users."""


def crowd(n: int) -> str:
    return f"crowd-{n}"


def added(n: int) -> str:
    return f"added-{n}"


def argon_entry(name: str, **fields: Any) -> dict[str, Any]:
    return {"user": name, "hash": VERIFIER.hash(password_of(name)), **fields}


def fooocus_entry(name: str, *, sha: bool) -> dict[str, Any]:
    """A Fooocus entry: the password in plain text, or its bare SHA-256 hex digest."""
    if sha:
        return {"user": name, "hash": hashlib.sha256(password_of(name).encode()).hexdigest()}
    return {"user": name, "pass": password_of(name)}


def initial_entries() -> list[dict[str, Any]]:
    key = {"id": KEYED_KEY_ID, "name": "laptop", "hash": digest_token(KEYED_TOKEN.encode())}
    return [
        fooocus_entry(FOOOCUS_PLAIN, sha=False),
        fooocus_entry(FOOOCUS_SHA, sha=True),
        argon_entry(ARGON),
        argon_entry(KEYED, api_keys=[key]),
        *(argon_entry(name) for name in ARGON_USERS),
        *({**fooocus_entry(crowd(n), sha=n % 2 == 1), "extra": {"kept": n}} for n in range(CROWD)),
    ]


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


@dataclass(frozen=True)
class Cluster:
    """A and B, the file they share, the Redis they share, and the environment of both."""

    a: RunningComfyUI
    b: RunningComfyUI
    auth_file: Path
    redis: RedisServer
    env: Mapping[str, str]
    forgotten_key: Launched
    """C: started once A and B run, with a key of its own (the README's copy step forgotten);
    it starts while the first tests run, and a test near the end looks at it."""

    @property
    def instances(self) -> tuple[RunningComfyUI, RunningComfyUI]:
        return (self.a, self.b)

    def entries(self) -> dict[str, dict[str, Any]]:
        return {entry["user"]: entry for entry in json.loads(self.auth_file.read_text())}


def state_dir(base_dir: Path) -> Path:
    return base_dir / "user" / "__auth"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Redis, then A and B started together (the key made for A and copied to B first),
    then C with a key of its own."""
    folder = tmp_path_factory.mktemp("instances")
    auth_file = folder / "auth.json"
    auth_file.write_text(json.dumps(initial_entries()))
    auth_file.chmod(0o600)
    base_a, base_b = folder / "a", folder / "b"
    read_or_create_signing_key(ensure_private_dir(state_dir(base_a)) / "secret_key")
    shutil.copy2(state_dir(base_a) / "secret_key", ensure_private_dir(state_dir(base_b)))
    for server in running_redis_server(folder / "redis"):
        env = {
            "COMFYUI_AUTH_FILE": str(auth_file),
            "COMFYUI_AUTH_REDIS_URL": server.url,
            "COMFYUI_AUTH_TEST_CHEAP_HASHING": "1",
            "COMFYUI_API_KEY": ADMIN_KEY,
            "COMFYUI_AUTH_FAILURE_LIMIT": str(FAILURE_LIMIT),
        }
        for a, b in start_comfyuis(tree(), [(base_a, env), (base_b, env)], QUICK_START):
            c = launch_comfyui(tree(), folder / "c", env, QUICK_START)
            try:
                yield Cluster(a, b, auth_file, server, env, c)
            finally:
                stop(c.process)
            for instance in (a, b):
                log = instance.log_path.read_text(errors="replace")
                assert "comfyui-auth could not start" not in log
                assert "checking auth.json failed" not in log
                assert "differs from the one" not in log
                assert "Error handling request" not in log  # aiohttp's line for a 500
            for instance in (a, b, c.running):
                assert our_frames(instance.log_path.read_text(errors="replace")) == []


def our_frames(log: str) -> list[str]:
    """Traceback lines in this package's code (ComfyUI's own, of optional nodes, are not)."""
    ours = (f"{REPO_ROOT}/core/", f"{REPO_ROOT}/middleware/", "/custom_nodes/comfyui-auth/")
    return [
        line
        for line in log.splitlines()
        if line.lstrip().startswith('File "') and any(part in line for part in ours)
    ]


@pytest.fixture(autouse=True)
def clean_throttle(cluster: Cluster) -> Iterator[None]:
    """Every request here comes from 127.0.0.1, whose failures the throttle counts: a test
    that fails on purpose (a wrong password, a revoked key) leaves no count to the next."""
    forget_failures(cluster)
    yield
    forget_failures(cluster)


def forget_failures(cluster: Cluster) -> None:
    """Empty the throttle both instances count in (Redis)."""
    with redis.Redis.from_url(cluster.redis.url) as client:
        for key in list(client.scan_iter(match="comfyui-auth:throttle*")):
            client.delete(key)


@dataclass(frozen=True)
class Cookies:
    """A browser session: its cookie, and the CSRF token its writes must echo."""

    session: str
    csrf: str

    @classmethod
    def of(cls, answer: aiohttp.ClientResponse) -> Cookies:
        """The session an answer opened (a sign-in, a password change)."""
        return cls(answer.cookies[SESSION].value, answer.cookies[CSRF].value)

    def header(self) -> dict[str, str]:
        return {"Cookie": f"{SESSION}={self.session}; {CSRF}={self.csrf}"}

    def write_headers(self, origin: str) -> dict[str, str]:
        return {**self.header(), "Origin": origin, "X-CSRF-Token": self.csrf}


class Browser:
    """Calls to one instance; cookies are sent by hand (the jar is a dummy), so one client
    can carry sessions opened on either instance."""

    def __init__(self, http: aiohttp.ClientSession, instance: RunningComfyUI) -> None:
        self.http = http
        self.base = instance.url

    async def request(
        self,
        method: str,
        path: str,
        cookies: Cookies | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[aiohttp.ClientResponse, Any]:
        """The answer (read) and its JSON or text; a cookie write carries the CSRF token and
        the Origin, as the browser page does."""
        sent = dict(headers or {})
        if cookies is not None:
            sent.update(cookies.header() if method == "GET" else cookies.write_headers(self.base))
        async with self.http.request(
            method, self.base + path, json=body, headers=sent, allow_redirects=False
        ) as answer:
            text = await answer.text(errors="replace")
        try:
            return answer, json.loads(text) if text else None
        except ValueError:
            return answer, text

    async def call(
        self,
        method: str,
        path: str,
        cookies: Cookies | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:
        """``(status, JSON or text)``."""
        answer, content = await self.request(method, path, cookies, body, headers)
        return answer.status, content

    async def login(self, body: Mapping[str, str]) -> aiohttp.ClientResponse:
        return (await self.request("POST", "/auth/login", body=body))[0]

    async def sign_in(self, user: str, password: str | None = None) -> Cookies:
        answer = await self.login({"username": user, "password": password or password_of(user)})
        assert answer.status == 200, f"{user} on {self.base}: {answer.status}"
        return Cookies.of(answer)

    async def sign_in_with_key(self, token: str) -> Cookies:
        answer = await self.login({"api_key": token})
        assert answer.status == 200, answer.status
        return Cookies.of(answer)

    async def me(self, cookies: Cookies) -> int:
        status, _ = await self.call("GET", "/auth/me", cookies)
        return status

    async def websocket(self, headers: Mapping[str, str]) -> int:
        """The status of a WebSocket upgrade to ComfyUI's ``/ws`` (101 when it opened)."""
        try:
            async with self.http.ws_connect(
                f"{self.base}/ws?clientId=instances-test", headers=headers
            ):
                return 101
        except aiohttp.WSServerHandshakeError as refused:
            return refused.status


@pytest.fixture
async def browsers(cluster: Cluster) -> AsyncIterator[tuple[Browser, Browser]]:
    """A browser for A and one for B."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        yield Browser(http, cluster.a), Browser(http, cluster.b)


async def seconds_until(done: Callable[[], Awaitable[bool]], limit: float, what: str) -> float:
    """How long until ``done`` holds, polled every 50 ms; the test fails past ``limit``."""
    start = time.monotonic()
    while not await done():
        if time.monotonic() - start > limit:
            pytest.fail(f"{what}: still not so {limit} s later")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def seconds_until_refused(browser: Browser, cookies: Cookies, limit: float) -> float:
    async def refused() -> bool:
        return await browser.me(cookies) == 401

    return await seconds_until(refused, limit, f"a session ended elsewhere works on {browser.base}")


async def refused_once_forgotten(
    answer: Callable[[], Awaitable[int]], remembered_at: float, refused: int, what: str
) -> float:
    """Poll a session that ended elsewhere (or whose store went away) until it is refused;
    when the request that was refused was sent.

    ``remembered_at`` is when the instance last read the session from Redis (the answer to
    the request that made it read had come back), so its memory of the session lapses by
    ``remembered_at + SHARED_TTL_S``: a request sent after that must be refused, however
    slow the machine. One sent before may still be let in: that second is the design.
    """
    while True:
        sent = time.monotonic()
        status = await answer()
        if status == refused:
            return sent
        assert status == 200, f"{what}: {status}"
        if sent > remembered_at + SHARED_TTL_S:
            pytest.fail(
                f"{what}: let in {sent - remembered_at:.2f} s after the instance read it, "
                f"longer than the {SHARED_TTL_S} s an instance may remember a session"
            )
        await asyncio.sleep(0.05)


def manage(cluster: Cluster, *args: str, password: str | None = None) -> str:
    """Run ``manage.py`` as an administrator would, with the instances' settings; its stdout."""
    result = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [sys.executable, str(MANAGE), *args, *(["--password-stdin"] if password else [])],
        input=f"{password}\n" if password else "",
        capture_output=True,
        text=True,
        env=clean_env(**cluster.env, COMFYUI_AUTH_STATE_DIR=str(state_dir(cluster.a.base_dir))),
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


# --- sessions on both instances -----------------------------------------------------------


async def test_password_and_key_sessions_from_a_live_on_b_and_still_five_seconds_later(
    cluster: Cluster, browsers: tuple[Browser, Browser]
) -> None:
    a, b = browsers
    sessions = {
        "Fooocus plain password": await a.sign_in(FOOOCUS_PLAIN),
        "Fooocus SHA-256 password": await a.sign_in(FOOOCUS_SHA),
        "argon2id password": await a.sign_in(ARGON),
        "API key": await a.sign_in_with_key(KEYED_TOKEN),
    }
    entries = cluster.entries()
    for name in (FOOOCUS_PLAIN, FOOOCUS_SHA):  # upgraded on A; B's copy is behind
        assert entries[name]["hash"].startswith("$argon2id$")
        assert "pass" not in entries[name]
    for wait in (0, 5):  # at once, and once both watchers have read the rewritten file
        await asyncio.sleep(wait)
        for form, cookies in sessions.items():
            assert [await b.me(cookies), await a.me(cookies)] == [200, 200], form
    status, who = await b.call("GET", "/auth/me", sessions["API key"])
    assert (status, who["user"], who["via"]) == (200, KEYED, "session")


@pytest.mark.parametrize(("where", "elsewhere"), [(0, 1), (1, 0)], ids=["A to B", "B to A"])
async def test_a_sign_out_on_one_instance_ends_the_session_on_the_other_within_a_second(
    browsers: tuple[Browser, Browser], where: int, elsewhere: int
) -> None:
    here, there = browsers[where], browsers[elsewhere]
    leaving, staying = await here.sign_in(SIGNED_OUT), await there.sign_in(SIGNED_OUT)
    assert await there.me(leaving) == 200  # read from Redis, and remembered
    remembered_at = time.monotonic()
    assert await here.me(staying) == 200
    status, _ = await here.call("POST", "/auth/logout", leaving)
    signed_out_at = time.monotonic()
    assert status == 200
    assert await here.me(leaving) == 401
    refused_at = await refused_once_forgotten(
        lambda: there.me(leaving), remembered_at, 401, f"signed out, on {there.base}"
    )
    print(f"sign-out {here.base} -> {there.base}: {refused_at - signed_out_at:.2f} s")
    assert [await here.me(staying), await there.me(staying)] == [200, 200]  # only that one


REVOCATIONS = ["key revoked through the account API", "key revoked with manage.py"]


@pytest.mark.parametrize("how", REVOCATIONS)
async def test_a_revoked_key_ends_its_sessions_and_stops_working_on_every_instance(
    cluster: Cluster, browsers: tuple[Browser, Browser], how: str
) -> None:
    a, b = browsers
    owner = await a.sign_in(REVOKER)
    status, created = await a.call("POST", "/auth/account/keys", owner, {"label": how})
    assert status == 201, created
    token, key_id = created["key"], created["id"]
    by_key = {"X-API-Key": token}
    # B's copy of the file is behind (its watcher polls once a second): the new key works
    # there at once all the same, and so does a session opened with it on A.
    assert (await b.call("GET", "/api/queue", headers=by_key))[0] == 200
    opened_on_a = await a.sign_in_with_key(token)
    assert [await a.me(opened_on_a), await b.me(opened_on_a)] == [200, 200]
    remembered_at = time.monotonic()  # when B read the session from Redis
    assert (await a.call("GET", "/api/queue", headers=by_key))[0] == 200
    if how == REVOCATIONS[0]:
        status, answer = await a.call("DELETE", f"/auth/account/keys/{key_id}", owner)
        revoked_at = time.monotonic()
        assert (status, answer["sessions_ended"]) == (200, 1)
        assert await a.me(opened_on_a) == 401
        refused_at = await refused_once_forgotten(
            lambda: b.me(opened_on_a), remembered_at, 401, f"{how}, the session on B"
        )
        print(f"{how}: its session refused on B after {refused_at - revoked_at:.2f} s")
    else:
        manage(cluster, "key-revoke", key_id)
        for browser in (b, a):
            took = await seconds_until_refused(browser, opened_on_a, FILE_CHANGE_WITHIN_S)
            print(f"{how}: its session refused on {browser.base} after {took:.2f} s")
    for browser in (b, a):  # the key itself: once each copy of the file is read again

        async def key_refused(browser: Browser = browser) -> bool:  # a failure, so maybe 429
            return (await browser.call("GET", "/api/queue", headers=by_key))[0] in (401, 429)

        took = await seconds_until(key_refused, FILE_CHANGE_WITHIN_S, f"{how} on {browser.base}")
        print(f"{how}: the key refused on {browser.base} after {took:.2f} s more")
    assert [await a.me(owner), await b.me(owner)] == [200, 200]  # the password session lives


async def test_a_session_ended_from_the_account_page_on_a_ends_on_b_within_a_second(
    browsers: tuple[Browser, Browser],
) -> None:
    a, b = browsers
    mine, other = await a.sign_in(REVOKER), await b.sign_in(REVOKER)
    remembered_at = time.monotonic()  # B remembers the session it opened from then on
    assert [await b.me(other), await a.me(other)] == [200, 200]
    status, account = await b.call("GET", "/auth/account", other)
    assert status == 200
    (handle,) = [s["id"] for s in account["sessions"] if s["current"]]
    status, _ = await a.call("DELETE", f"/auth/account/sessions/{handle}", mine)
    ended_at = time.monotonic()
    assert status == 200
    assert await a.me(other) == 401
    refused_at = await refused_once_forgotten(
        lambda: b.me(other), remembered_at, 401, "ended from the account page, on B"
    )
    print(f"session ended on A, refused on B after {refused_at - ended_at:.2f} s")
    assert [await a.me(mine), await b.me(mine)] == [200, 200]


@pytest.mark.parametrize("how", list(CHANGED))
async def test_a_password_change_ends_the_old_sessions_everywhere_and_the_new_one_lives(
    cluster: Cluster, browsers: tuple[Browser, Browser], how: str
) -> None:
    a, b = browsers
    user = CHANGED[how]
    new_password = f"{user}-new-password-456"
    old = [await a.sign_in(user), await b.sign_in(user)]
    for cookies in old:
        assert [await a.me(cookies), await b.me(cookies)] == [200, 200]
    if how == "manage.py passwd":
        manage(cluster, "passwd", user, password=new_password)
        new = None
    else:
        answer, content = await a.request(
            "POST",
            "/auth/account/password",
            old[0],
            {"current": password_of(user), "new": new_password},
        )
        assert answer.status == 200, content
        new = Cookies.of(answer)  # this browser stays signed in, under the new password
    # At once, while B's (or both) copies of the file may be behind: the new password works.
    fresh = [await b.sign_in(user, new_password), await a.sign_in(user, new_password)]
    if new is not None:
        fresh.append(new)
    for browser in (b, a):
        for cookies in old:
            took = await seconds_until_refused(browser, cookies, FILE_CHANGE_WITHIN_S)
            print(f"{how}: old session refused on {browser.base} after {took:.2f} s")
    for wait in (0, FILE_CHANGE_WITHIN_S):  # at once, and once every watcher read the file
        await asyncio.sleep(wait)
        for cookies in fresh:
            assert [await a.me(cookies), await b.me(cookies)] == [200, 200]
    for browser in browsers:
        answer = await browser.login({"username": user, "password": password_of(user)})
        assert answer.status == 401  # the old password is gone everywhere


@pytest.mark.parametrize("how", list(PROMOTED))
async def test_a_role_change_ends_the_old_sessions_everywhere_and_new_ones_carry_the_role(
    cluster: Cluster, browsers: tuple[Browser, Browser], how: str
) -> None:
    a, b = browsers
    user = PROMOTED[how]
    old = [await a.sign_in(user), await b.sign_in(user)]
    assert (await b.call("GET", "/auth/admin/users", old[0]))[0] == 403
    if how == "manage.py set-role":
        manage(cluster, "set-role", user, "--role", "admin")
    else:
        path = f"/auth/admin/users/{user}/role"
        status, answer = await a.call("POST", path, body={"role": "admin"}, headers=ADMIN)
        assert (status, answer["sessions_ended"]) == (200, 2), answer
    for browser in (b, a):
        for cookies in old:
            took = await seconds_until_refused(browser, cookies, FILE_CHANGE_WITHIN_S)
            print(f"{how}: old session refused on {browser.base} after {took:.2f} s")
    promoted = await b.sign_in(user)
    for browser in (a, b):
        status, who = await browser.call("GET", "/auth/me", promoted)
        assert (status, who["role"]) == (200, "admin")
        assert (await browser.call("GET", "/auth/admin/users", promoted))[0] == 200


# --- disabled users and set-password links --------------------------------------------------


@pytest.mark.parametrize(("how", "user"), DISABLED.items(), ids=list(DISABLED))
async def test_a_user_disabled_on_one_instance_is_refused_on_both_and_enabled_on_the_other(
    cluster: Cluster, browsers: tuple[Browser, Browser], how: str, user: str
) -> None:
    a, b = browsers
    basic = basic_header(user, password_of(user))
    sessions = [await a.sign_in(user), await b.sign_in(user)]
    for browser in browsers:  # verified once, then remembered by each instance
        assert (await browser.call("GET", "/api/queue", headers=basic))[0] == 200
    path = f"/auth/admin/users/{user}/disabled"
    if how == "manage.py disable":
        manage(cluster, "disable", user)
    else:
        status, answer = await a.call("POST", path, body={"disabled": True}, headers=ADMIN)
        assert (status, answer["sessions_ended"]) == (200, 2), answer
    for browser in (b, a):
        for cookies in sessions:
            took = await seconds_until_refused(browser, cookies, FILE_CHANGE_WITHIN_S)
            print(f"{how}: a session refused on {browser.base} after {took:.2f} s")

        async def basic_refused(browser: Browser = browser) -> bool:  # a failure: maybe 429
            return (await browser.call("GET", "/api/queue", headers=basic))[0] in (401, 429)

        took = await seconds_until(basic_refused, FILE_CHANGE_WITHIN_S, f"{how}: Basic")
        print(f"{how}: Basic refused on {browser.base} after {took:.2f} s more")
        answer = await browser.login({"username": user, "password": password_of(user)})
        assert answer.status in (401, 429)  # refused, and the failures count
    forget_failures(cluster)  # the refusals above counted against 127.0.0.1
    if how == "manage.py disable":
        manage(cluster, "enable", user)
    else:
        status, answer = await b.call("POST", path, body={"disabled": False}, headers=ADMIN)
        assert (status, answer["disabled"]) == (200, False), answer
    await asyncio.sleep(FILE_CHANGE_WITHIN_S)  # the edit has reached every instance
    for browser in browsers:
        back = await browser.sign_in(user)
        assert [await a.me(back), await b.me(back)] == [200, 200]
        assert (await browser.call("GET", "/api/queue", headers=basic))[0] == 200


async def test_a_set_password_link_made_on_a_works_on_b_at_once_and_only_once(
    browsers: tuple[Browser, Browser],
) -> None:
    a, b = browsers
    before = await b.sign_in(LINKED)
    status, made = await a.call("POST", f"/auth/admin/users/{LINKED}/link", headers=ADMIN)
    assert status == 201, made
    (token,) = parse_qs(urlsplit(made["link"]).query)["token"]
    page = f"{SET_PASSWORD}?{urlencode({'token': token})}"
    assert (await b.call("GET", page))[0] == 200  # B's copy of the file may well be behind
    new_password = f"{LINKED}-set-by-link-789"
    form = {"token": token, "password": new_password}
    status, answer = await b.call("POST", SET_PASSWORD, body=form, headers={"Origin": b.base})
    assert (status, answer) == (200, {"ok": True, "user": LINKED})
    reused = {**form, "password": "another-password-000"}
    status, _ = await a.call("POST", SET_PASSWORD, body=reused, headers={"Origin": a.base})
    assert status == 403  # used: on A too, at once, though A made it and may still hold it
    for browser in browsers:
        took = await seconds_until_refused(browser, before, FILE_CHANGE_WITHIN_S)
        print(f"the session before the link refused on {browser.base} after {took:.2f} s")
        await browser.sign_in(LINKED, new_password)
        answer = await browser.login({"username": LINKED, "password": password_of(LINKED)})
        assert answer.status == 401


async def test_a_user_added_on_a_is_managed_on_b_at_once_and_removed_there_from_both(
    browsers: tuple[Browser, Browser],
) -> None:
    a, b = browsers
    user = NEWCOMER
    body = {"name": user, "password": password_of(user)}
    status, answer = await a.call("POST", "/auth/admin/users", body=body, headers=ADMIN)
    assert status == 201, answer
    status, listing = await b.call("GET", "/auth/admin/users", headers=ADMIN)
    assert status == 200
    assert user in [entry["user"] for entry in listing["users"]]  # at once, as below
    path = f"/auth/admin/users/{user}"
    status, answer = await b.call("POST", f"{path}/link", headers=ADMIN)
    assert status == 201, answer  # at once: B's copy of the file may well be behind
    sessions = [await a.sign_in(user), await b.sign_in(user)]
    status, answer = await b.call("DELETE", path, headers=ADMIN)
    assert (status, answer["sessions_ended"]) == (200, 2), answer
    for browser in (a, b):
        for cookies in sessions:
            took = await seconds_until_refused(browser, cookies, FILE_CHANGE_WITHIN_S)
            print(f"removed on B: a session refused on {browser.base} after {took:.2f} s")
    await asyncio.sleep(FILE_CHANGE_WITHIN_S)  # the removal has reached every instance
    for browser in browsers:
        answer = await browser.login({"username": user, "password": password_of(user)})
        assert answer.status == 401
        assert (await browser.call("DELETE", path, headers=ADMIN))[0] == 404


# --- throttling across instances ------------------------------------------------------------


@pytest.mark.parametrize("credential", ["password", "API key"])
async def test_failures_on_one_instance_throttle_the_other(
    browsers: tuple[Browser, Browser], credential: str
) -> None:
    a, b = browsers
    if credential == "password":
        wrong = {"username": THROTTLED, "password": "not-the-password-0"}
        statuses = [(await a.login(wrong)).status for _ in range(FAILURE_LIMIT)]
        assert statuses == [401] * FAILURE_LIMIT
        refused = await b.login({"username": THROTTLED, "password": password_of(THROTTLED)})
    else:
        wrong_key = {"X-API-Key": "cak_0000000000000000_guessed-key-material-0000"}
        statuses = [
            (await a.call("GET", "/api/queue", headers=wrong_key))[0] for _ in range(FAILURE_LIMIT)
        ]
        assert statuses == [401] * FAILURE_LIMIT
        async with b.http.get(f"{b.base}/api/queue", headers=wrong_key) as refused:
            await refused.read()
    assert refused.status == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    valid = {"X-API-Key": ADMIN_KEY}  # issue 10: a valid key is never throttled
    assert (await b.call("GET", "/api/queue", headers=valid))[0] == 200


# --- auth.json written by everyone at once ----------------------------------------------------


async def test_sign_ins_upgrading_on_both_instances_and_manage_py_adding_users_lose_nothing(
    cluster: Cluster, browsers: tuple[Browser, Browser]
) -> None:
    a, b = browsers
    adders = [
        await asyncio.create_subprocess_exec(
            *(sys.executable, str(MANAGE), "add-user", added(n), "--password-stdin"),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=clean_env(**cluster.env),
        )
        for n in range(ADDED)
    ]
    await asyncio.sleep(1.5)  # each has imported and waits for its password on stdin

    async def add(n: int, process: asyncio.subprocess.Process) -> tuple[int | None, str]:
        _, errors = await process.communicate(f"{password_of(added(n))}\n".encode())
        return process.returncode, errors.decode(errors="replace")

    results = await asyncio.gather(
        *(add(n, process) for n, process in enumerate(adders)),
        *(browser.sign_in(crowd(n)) for n in range(CROWD) for browser in (a, b)),
    )
    for returncode, errors in results[:ADDED]:
        assert returncode == 0, errors
    sessions: list[Cookies] = results[ADDED:]
    entries = cluster.entries()
    for n in range(CROWD):
        assert entries[crowd(n)]["hash"].startswith("$argon2id$")
        assert "pass" not in entries[crowd(n)]
        assert entries[crowd(n)]["extra"] == {"kept": n}  # a field this package does not know
    for n in range(ADDED):
        assert entries[added(n)]["hash"].startswith("$argon2id$")
    assert len(entries) == len(initial_entries()) + ADDED
    for wait in (0, FILE_CHANGE_WITHIN_S):  # at once, and once every watcher read the file
        await asyncio.sleep(wait)
        for cookies in sessions:  # each under the hash that won the race for its entry
            assert [await a.me(cookies), await b.me(cookies)] == [200, 200]
    for n in range(ADDED):
        await a.sign_in(added(n))
        await b.sign_in(added(n))


# --- what must be identical ------------------------------------------------------------------


def test_manage_py_check_finds_this_machines_key_and_file_identical_to_the_instances(
    cluster: Cluster, tmp_path: Path
) -> None:
    report = manage(cluster, "check")
    assert "the signing key matches the running instances'" in report
    assert "all 2 running instances read this auth.json" in report
    read_or_create_signing_key(ensure_private_dir(tmp_path / "other") / "secret_key")
    mismatch = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [sys.executable, str(MANAGE), "check"],
        capture_output=True,
        text=True,
        env=clean_env(**cluster.env, COMFYUI_AUTH_STATE_DIR=str(tmp_path / "other")),
        timeout=TIMEOUT,
        check=False,
    )
    assert mismatch.returncode == 1
    assert str(tmp_path / "other" / "secret_key") in mismatch.stderr
    assert "copy the secret_key file from the first instance" in mismatch.stderr
    assert "Traceback" not in mismatch.stderr
    copy = tmp_path / "copy-of-auth.json"  # a copy of the file that fell behind
    copy.write_text(json.dumps([*cluster.entries().values(), argon_entry("only-here")]))
    report = manage(cluster, "--auth-file", str(copy), "check")
    assert "the signing key matches the running instances'" in report
    assert f"2 of 2 running instances read an auth.json that differs from {copy}" in report


async def test_an_instance_with_another_signing_key_refuses_everything_and_says_why(
    cluster: Cluster,
) -> None:
    """C answers 503 to everything, a valid key included, and its console names the key file
    and the fix; A and B, which claimed the key first, go on serving."""
    c = cluster.forgotten_key
    await asyncio.to_thread(wait_until_answering, c.probe, c.process, c.running.log_path)
    key_file = state_dir(c.running.base_dir) / "secret_key"
    async with aiohttp.ClientSession() as http:
        for path in ("/api/queue", "/auth/me", "/"):
            async with http.get(c.running.url + path, headers={"X-API-Key": ADMIN_KEY}) as answer:
                assert answer.status == 503
                problem = (await answer.json())["problem"]
                assert "signing key differs" in problem
                assert str(key_file) in problem
        for instance in cluster.instances:
            async with http.get(
                instance.url + "/api/queue", headers={"X-API-Key": ADMIN_KEY}
            ) as ok:
                assert ok.status == 200
    log = c.running.log_path.read_text(errors="replace")
    assert "signing key differs" in log
    assert str(key_file) in log
    assert "copy the secret_key file from the first instance" in log
    assert key_file.read_text().strip() not in log  # the key itself is never shown


# --- a Redis outage (last: the restarted Redis is empty) -------------------------------------


@dataclass(frozen=True)
class Probe:
    """One kind of request made during the outage, and the answers it may get."""

    name: str
    allowed: frozenset[int]
    send: Callable[[Browser], Awaitable[int]]


def outage_probes(session: Cookies, key_session: Cookies) -> list[Probe]:
    unavailable = frozenset({503})

    def call(method: str, path: str, **options: Any) -> Callable[[Browser], Awaitable[int]]:
        async def send(browser: Browser) -> int:
            return (await browser.call(method, path, **options))[0]

        return send

    async def session_websocket(browser: Browser) -> int:
        return await browser.websocket({**session.header(), "Origin": browser.base})

    async def anonymous_websocket(browser: Browser) -> int:
        return await browser.websocket({"Origin": browser.base})

    page = {"Accept": "text/html", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
    sign_in = {"username": OUTAGE, "password": password_of(OUTAGE)}
    return [
        Probe("session GET /api/queue", unavailable, call("GET", "/api/queue", cookies=session)),
        Probe("session GET /auth/me", unavailable, call("GET", "/auth/me", cookies=session)),
        Probe("session POST /api/prompt", unavailable,
              call("POST", "/api/prompt", cookies=session, body={"prompt": {}})),
        Probe("session page GET /", unavailable, call("GET", "/", cookies=session, headers=page)),
        Probe("session WebSocket /ws", unavailable, session_websocket),
        Probe("key session GET /api/queue", unavailable,
              call("GET", "/api/queue", cookies=key_session)),
        Probe("sign-out", unavailable, call("POST", "/auth/logout", cookies=session)),
        Probe("sign-in", unavailable, call("POST", "/auth/login", body=sign_in)),
        Probe("wrong API key", unavailable,
              call("GET", "/api/queue", headers={"X-API-Key": "cak_00000000_wrong-0000"})),
        Probe("valid API key (no Redis needed)", frozenset({200}),
              call("GET", "/api/queue", headers={"X-API-Key": ADMIN_KEY})),
        Probe("anonymous GET /api/queue", frozenset({401}), call("GET", "/api/queue")),
        Probe("anonymous page GET /", frozenset({303}), call("GET", "/", headers=page)),
        Probe("anonymous WebSocket /ws", frozenset({401}), anonymous_websocket),
    ]  # fmt: skip


async def test_redis_down_answers_503_never_500_never_open_and_both_recover_without_restart(
    cluster: Cluster, browsers: tuple[Browser, Browser]
) -> None:
    a, b = browsers
    session, key_session = await a.sign_in(OUTAGE), await b.sign_in_with_key(ADMIN_KEY)
    probes = outage_probes(session, key_session)
    for browser in browsers:  # what the probes get while Redis answers
        assert await browser.websocket({**session.header(), "Origin": browser.base}) == 101
        assert await browser.websocket({"Origin": browser.base}) == 401
        assert (await browser.call("GET", "/api/queue", session))[0] == 200
    await asyncio.sleep(SHARED_TTL_S)  # forgotten: the calls below read them from Redis
    for browser in browsers:
        assert [await browser.me(session), await browser.me(key_session)] == [200, 200]
    remembered_at = time.monotonic()
    cluster.redis.stop()
    stopped_at = time.monotonic()
    try:
        for browser in browsers:
            for cookies in (session, key_session):
                refused_at = await refused_once_forgotten(
                    functools.partial(browser.me, cookies),
                    remembered_at,
                    503,
                    f"Redis stopped, on {browser.base}",
                )
                print(f"Redis stopped: 503 on {browser.base} after {refused_at - stopped_at:.2f} s")
        statuses: collections.Counter[int] = collections.Counter()
        for _ in range(3):
            for browser in browsers:
                for probe in probes:
                    status = await probe.send(browser)
                    statuses[status] += 1
                    assert status in probe.allowed, f"{probe.name} on {browser.base}: {status}"
        print(f"during the outage, {len(probes)} kinds of request: {dict(statuses)}")
        answer, body = await b.request("GET", "/api/queue", session)
        assert (answer.status, answer.headers["Retry-After"]) == (503, "5")
        assert body == {"error": "the shared session store does not answer; try again shortly"}
    finally:
        cluster.redis.start()  # empty: no persistence, as after a crash without it
    restarted = time.monotonic()
    for browser in browsers:

        async def serving(browser: Browser = browser) -> bool:
            return await browser.me(session) == 401  # Redis answers: the session is gone

        await seconds_until(serving, 5.0, f"{browser.base} serving again")
    print(f"Redis back: both serving after {time.monotonic() - restarted:.2f} s")
    fresh = await b.sign_in(OUTAGE)
    assert [await a.me(fresh), await b.me(fresh)] == [200, 200]
    assert [await a.me(session), await b.me(key_session)] == [401, 401]  # Redis forgot them
