"""Two instances behind one load balancer, sharing a real ``redis-server``, act as one.

The instances have separate state directories but the same auth file, the same signing key
(copied, as an operator would) and the same ``COMFYUI_AUTH_REDIS_URL``. Sessions and the
throttle live in Redis; when Redis is unreachable the server answers 503 - never 500, never
an open door - and never shows the URL, which can hold a password.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import redis
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from comfyui_auth.core.admin_commands import check
from comfyui_auth.core.api_keys import digest_token, generate_token
from comfyui_auth.core.errors import ConfigError
from comfyui_auth.core.passwords import PasswordVerifier, make_hasher
from comfyui_auth.core.redis_connection import connect
from comfyui_auth.core.redis_sessions import RedisSessionStore
from comfyui_auth.core.secret import Secret
from comfyui_auth.core.session_cache import SHARED_TTL_S
from comfyui_auth.core.shared_config import (
    DIFFERENT_FOR_POLLS,
    SIGNING_KEY_ENTRY,
    SharedConfig,
    published_digests,
    signing_key_fingerprint,
)
from comfyui_auth.core.state_files import ensure_private_dir, write_private_file
from comfyui_auth.tests.minimal_host import MinimalHost, build_minimal_host
from comfyui_auth.tests.redis_server import RedisServer, free_port
from comfyui_auth.tests.test_entrypoint import (  # noqa: F401 - host_modules is a fixture
    FakePromptServer,
    get,
    host_modules,
    load_like_comfyui,
)
from comfyui_auth.tests.test_session_persistence import assert_lists_live_sessions_oldest_first

pytestmark = pytest.mark.redis

VERIFIER = PasswordVerifier(make_hasher(cheap_for_tests=True))
PASSWORD = "gina-password-1"
ADMIN_KEY = "shared-admin-key-0123456789"
SESSION = "comfyui_auth_session"


@dataclass
class Instance:
    host: MinimalHost
    client: TestClient

    async def login(self, password: str = PASSWORD) -> ClientResponse:
        return await self.client.post(
            "/auth/login", json={"username": "gina", "password": password}
        )

    async def sign_in(self) -> str:
        """A fresh session cookie from this instance (not kept in its client's jar)."""
        response = await self.login()
        assert response.status == 200
        self.client.session.cookie_jar.clear()
        return response.cookies[SESSION].value

    async def me(self, cookie: str) -> int:
        response = await self.client.get("/auth/me", headers={"Cookie": f"{SESSION}={cookie}"})
        return response.status


def write_users(auth_file: Path, password: str = PASSWORD) -> None:
    auth_file.write_text(json.dumps([{"user": "gina", "hash": VERIFIER.hash(password)}]))


@pytest.fixture
async def pair(
    tmp_path: Path, redis_server: RedisServer
) -> AsyncIterator[tuple[Instance, Instance]]:
    """Instances A and B: one auth file, one signing key, one Redis, two state directories."""
    auth_file = tmp_path / "auth.json"
    write_users(auth_file)
    env = {
        "COMFYUI_AUTH_FILE": str(auth_file),
        "COMFYUI_API_KEY": ADMIN_KEY,
        "COMFYUI_AUTH_REDIS_URL": redis_server.url,
        "COMFYUI_AUTH_FAILURE_LIMIT": "3",
    }
    (tmp_path / "a").mkdir()
    first = build_minimal_host(tmp_path / "a", env)
    key = first.runtime.settings.signing_key_path.read_bytes()
    write_private_file(ensure_private_dir(tmp_path / "b" / "user" / "__auth") / "secret_key", key)
    second = build_minimal_host(tmp_path / "b", env)
    async with (
        TestClient(TestServer(first.app, host="127.0.0.1")) as client_a,
        TestClient(TestServer(second.app, host="127.0.0.1")) as client_b,
    ):
        yield Instance(first, client_a), Instance(second, client_b)


@pytest.fixture
async def store(redis_server: RedisServer) -> AsyncIterator[tuple[RedisSessionStore, list[float]]]:
    """A store on the test's Redis, and its clock: ``now[0]``."""
    shared = connect(Secret(redis_server.url))
    now = [1_000_000.0]
    yield RedisSessionStore(shared.client, clock=lambda: now[0]), now
    await shared.close()


def stored_keys(server: RedisServer) -> dict[bytes, bytes | None]:
    """Every key in the test's Redis with its value (None for a non-string)."""
    with redis.Redis.from_url(server.url) as client:
        return {
            key: client.get(key) if client.type(key) == b"string" else None
            for key in client.scan_iter()
        }


async def test_a_login_on_one_instance_is_valid_on_the_other(
    pair: tuple[Instance, Instance], redis_server: RedisServer
) -> None:
    a, b = pair
    cookie = await a.sign_in()
    response = await b.client.get("/auth/me", headers={"Cookie": f"{SESSION}={cookie}"})
    assert await response.json() == {"user": "gina", "role": "user", "via": "session"}
    assert not b.host.runtime.settings.sessions_path.exists()
    session_id = a.host.runtime.cookies.unsign(cookie)
    assert session_id is not None
    stored = stored_keys(redis_server)
    assert any(key.startswith(b"comfyui-auth:session:") for key in stored)
    everything = b"".join(key + (value or b"") for key, value in stored.items())
    assert session_id.encode() not in everything  # only its SHA-256 digest is stored


async def test_a_logout_on_one_instance_ends_the_session_on_the_other(
    pair: tuple[Instance, Instance],
) -> None:
    a, b = pair
    cookie = await a.sign_in()
    assert await a.me(cookie) == 200  # now in a's memory
    logout = await b.client.post("/auth/logout", headers={"Cookie": f"{SESSION}={cookie}"})
    assert logout.status == 200
    assert await b.me(cookie) == 401
    assert await seconds_until_refused(a, cookie) <= SHARED_TTL_S + 0.2


async def seconds_until_refused(instance: Instance, cookie: str, limit: float = 3.0) -> float:
    """How long ``instance`` still accepts ``cookie`` (it may remember a session a second)."""
    start = time.monotonic()
    while await instance.me(cookie) != 401:
        if time.monotonic() - start > limit:
            pytest.fail(f"the session still worked {limit} s after it ended elsewhere")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def test_failed_logins_on_one_instance_count_toward_the_throttle_on_the_other(
    pair: tuple[Instance, Instance],
) -> None:
    a, b = pair
    assert [(await a.login("wrong-password")).status for _ in range(3)] == [401] * 3
    refused = await b.login()
    assert refused.status == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert a.host.runtime.throttle.tracked_keys == 0  # nothing kept in either process


async def test_failed_api_keys_on_one_instance_count_toward_the_throttle_on_the_other(
    pair: tuple[Instance, Instance],
) -> None:
    a, b = pair
    wrong = {"Authorization": "Bearer wrong-key-0123456789abcdef"}
    assert [(await a.client.get("/api/prompt", headers=wrong)).status for _ in range(3)] == [
        401
    ] * 3
    refused = await b.client.get("/api/prompt", headers=wrong)
    assert refused.status == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert b.host.calls == []
    # Issue 10: only failures meet the throttle; a valid key passes on either instance.
    valid = {"Authorization": f"Bearer {ADMIN_KEY}"}
    assert (await b.client.get("/api/prompt", headers=valid)).status == 200


async def test_ending_a_users_sessions_on_one_instance_ends_them_everywhere(
    pair: tuple[Instance, Instance],
) -> None:
    a, b = pair
    from_a, from_b = await a.sign_in(), await b.sign_in()
    assert a.host.runtime.authenticator.sessions.end_user("gina") == 2
    # B has not reloaded anything: only the shared store can have ended its session.
    assert b.host.runtime.authenticator.credentials.current.user("gina") is not None
    assert [await b.me(from_a), await a.me(from_b)] == [401] * 2
    assert await seconds_until_refused(b, from_b) <= SHARED_TTL_S + 0.2  # b remembered it


async def test_a_password_change_ends_sessions_on_every_instance(
    pair: tuple[Instance, Instance],
) -> None:
    a, b = pair
    cookie = await a.sign_in()
    write_users(a.host.runtime.settings.auth_file, "gina-new-password-2")
    for instance in (a, b):
        instance.host.runtime.authenticator.credentials.reload_now()
    assert [await a.me(cookie), await b.me(cookie)] == [401, 401]
    assert (await b.login("gina-new-password-2")).status == 200


async def test_an_unreachable_redis_at_start_closes_the_server_with_a_503_naming_the_setting(
    host_modules: FakePromptServer,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    password = "redis-password-hunter2"
    monkeypatch.setenv("COMFYUI_API_KEY", ADMIN_KEY)
    monkeypatch.setenv("COMFYUI_AUTH_REDIS_URL", f"redis://:{password}@127.0.0.1:{free_port()}/0")
    with caplog.at_level(logging.DEBUG):
        load_like_comfyui()
    status, body = await get(host_modules.app, "/api/prompt")
    assert status == 503
    problem = str(body["problem"])
    assert "cannot use the Redis server named by COMFYUI_AUTH_REDIS_URL" in problem
    assert "start Redis 7.0 or newer" in problem
    assert password not in problem
    assert password not in caplog.text


async def test_redis_going_down_mid_run_answers_503_and_lets_nobody_in(
    pair: tuple[Instance, Instance], redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = pair
    cookie = await a.sign_in()
    redis_server.stop()
    with_cookie = {"Cookie": f"{SESSION}={cookie}"}
    answers = [
        await b.client.get("/api/prompt", headers=with_cookie),
        await b.client.post("/api/prompt", headers=with_cookie, json={}),
        await b.client.get("/api/prompt", headers={"Authorization": "Bearer wrong-key-0123456"}),
        await b.login(),
        await b.client.post("/auth/logout", headers=with_cookie),
    ]
    for answer in answers:
        assert answer.status == 503
        body = await answer.json()
        assert body == {"error": "the shared session store does not answer; try again shortly"}
        assert answer.headers["Retry-After"] == "5"
    assert b.host.calls == []
    assert (await b.client.get("/api/prompt")).status == 401  # no credentials: no Redis needed
    # A valid key needs neither sessions nor the throttle (issue 10: failures only).
    valid = await b.client.get("/api/prompt", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert valid.status == 200
    assert f"127.0.0.1:{redis_server.port}" not in caplog.text

    redis_server.start()  # an empty Redis: every session is gone, the service is back
    assert await b.me(cookie) == 401
    assert (await b.login()).status == 200


async def test_the_store_gives_each_key_the_lifetime_of_its_sessions(
    store: tuple[RedisSessionStore, list[float]], redis_server: RedisServer
) -> None:
    sessions, _ = store
    sessions.create(user="gina", key_id=None, tag="t", lifetime=3600, persistent=False)
    sessions.create(user="gina", key_id=None, tag="t", lifetime=60, persistent=False)
    with redis.Redis.from_url(redis_server.url) as client:
        session_keys = list(client.scan_iter("comfyui-auth:session:*"))
        session_ttls = sorted(client.pttl(key) for key in session_keys)
        assert 0 < session_ttls[0] <= 60_000 < session_ttls[1] <= 3_600_000
        (user_set,) = client.scan_iter("comfyui-auth:user-sessions:*")
        assert client.zcard(user_set) == 2
        # Absolute expiry times: the set outlives its longest session, the shorter one did
        # not shorten it.
        longest = max(client.pexpiretime(key) for key in session_keys)
        assert longest <= client.pexpiretime(user_set)
    assert sessions.count() == 2


async def test_the_store_ends_expired_and_unreadable_sessions(
    store: tuple[RedisSessionStore, list[float]], redis_server: RedisServer
) -> None:
    sessions, now = store
    expiring, _ = sessions.create(user="gina", key_id=None, tag="t", lifetime=60, persistent=True)
    damaged, record = sessions.create(
        user="gina", key_id="k1", tag="t", lifetime=60, persistent=False
    )
    assert sessions.find(damaged) == record
    with redis.Redis.from_url(redis_server.url) as client:
        client.set(f"comfyui-auth:session:{record.id_hash}", b"{not json", keepttl=True)
    assert sessions.find(damaged) is None
    now[0] += 60
    assert sessions.find(expiring) is None
    assert sessions.count() == 0
    assert sessions.end_user("gina") == 0


def write_fooocus_user(auth_file: Path) -> None:
    """A Fooocus entry: the plain password that the first sign-in upgrades to argon2id."""
    auth_file.write_text(json.dumps([{"user": "gina", "pass": PASSWORD}]))


async def test_an_upgrade_on_one_instance_keeps_the_session_on_an_instance_still_behind(
    pair: tuple[Instance, Instance],
) -> None:
    """Issue 12: B's watcher has not seen A's rewrite yet; the session must live on both."""
    a, b = pair
    auth_file = a.host.runtime.settings.auth_file
    write_fooocus_user(auth_file)
    for instance in (a, b):
        instance.host.runtime.authenticator.credentials.reload_now()
    cookie = await a.sign_in()  # A rewrites the entry as argon2id
    assert json.loads(auth_file.read_text())[0]["hash"].startswith("$argon2id$")
    source_b = b.host.runtime.authenticator.credentials
    stale = source_b.current
    assert stale.user("gina").password.kind == "plain"  # type: ignore[union-attr]
    assert await b.me(cookie) == 200
    assert source_b.current is not stale  # caught up at the request, not at the next poll
    assert [await a.me(cookie), await b.me(cookie)] == [200, 200]
    # The watcher still reports the change it did not read itself.
    outcome = source_b.reload_if_changed()
    assert outcome.previous is stale
    assert outcome.store is source_b.current


async def test_a_tag_from_a_file_not_visible_yet_refuses_the_request_but_ends_nothing(
    pair: tuple[Instance, Instance], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = pair
    write_fooocus_user(a.host.runtime.settings.auth_file)
    for instance in (a, b):
        instance.host.runtime.authenticator.credentials.reload_now()
    source_b = b.host.runtime.authenticator.credentials
    stale = source_b.current
    with monkeypatch.context() as patch:  # a network filesystem that shows B the old file
        patch.setattr(source_b, "catch_up", lambda: stale)
        cookie = await a.sign_in()
        assert await b.me(cookie) == 401
    assert await a.me(cookie) == 200  # not ended for everyone
    assert await b.me(cookie) == 200  # once the file is visible, B accepts it


async def test_a_password_change_seen_by_one_instance_ends_the_session_on_one_still_behind(
    pair: tuple[Instance, Instance],
) -> None:
    a, b = pair
    cookie = await a.sign_in()
    assert await b.me(cookie) == 200
    write_users(a.host.runtime.settings.auth_file, "gina-new-password-2")
    b.host.runtime.authenticator.credentials.reload_if_changed()  # B's watcher polls first
    # The tag B saw before is superseded, so B ends the session in the shared store, and A,
    # whose copy still produces the old tag, refuses it once its memory of it lapses.
    assert await b.me(cookie) == 401
    session_id = a.host.runtime.cookies.unsign(cookie)
    assert session_id is not None
    assert a.host.runtime.authenticator.sessions.find(session_id) is None
    assert await seconds_until_refused(a, cookie) <= SHARED_TTL_S + 0.2


async def test_an_instance_with_another_signing_key_refuses_to_start_and_says_which_file(
    host_modules: FakePromptServer,  # noqa: F811 - the fixture imported above
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 12: the README's copy step forgotten is a 503 and a console line, not 401s."""
    shared = connect(Secret(redis_server.url))
    first = SharedConfig(shared.client, b"k" * 32, Path("a/secret_key"), Path("a/auth.json"))
    first.claim()  # the first instance, already running
    monkeypatch.setenv("COMFYUI_API_KEY", ADMIN_KEY)
    monkeypatch.setenv("COMFYUI_AUTH_REDIS_URL", redis_server.url)
    with caplog.at_level(logging.DEBUG):
        load_like_comfyui()
    status, body = await get(host_modules.app, "/api/prompt")
    assert status == 503
    problem = str(body["problem"])
    assert "signing key differs" in problem
    assert "secret_key" in problem
    assert "copy the secret_key file from the first instance" in problem
    assert "signing key differs" in caplog.text
    assert (b"k" * 32).hex() not in caplog.text + problem
    stored = stored_keys(redis_server)
    assert stored[SIGNING_KEY_ENTRY.encode()] == signing_key_fingerprint(b"k" * 32).encode()
    await shared.close()


async def test_instances_with_the_same_key_share_and_a_different_auth_file_is_reported(
    pair: tuple[Instance, Instance], redis_server: RedisServer, tmp_path: Path
) -> None:
    a, b = pair
    config_a, config_b = a.host.runtime.shared_config, b.host.runtime.shared_config
    assert config_a is not None  # both started: the key was copied
    assert config_b is not None
    assert [config_a.refresh(), config_b.refresh()] == [[], []]
    digests = published_digests(config_a.client)
    assert len(digests) == 2
    assert len(set(digests.values())) == 1
    other = tmp_path / "other-auth.json"
    other.write_text("[]")
    config_b.auth_file = other  # B reads a copy of its own, which differs
    problems = [config_b.refresh() for _ in range(DIFFERENT_FOR_POLLS)]
    assert problems[:-1] == [[]] * (DIFFERENT_FOR_POLLS - 1)  # an edit in flight is no problem
    assert "differs from the one 1 other instance(s)" in problems[-1][0]
    assert config_b.refresh() == []  # said once, not every second


async def test_manage_py_check_compares_this_key_and_file_with_the_running_instances(
    pair: tuple[Instance, Instance], tmp_path: Path
) -> None:
    a, _ = pair
    settings = a.host.runtime.settings
    report = check(settings)
    assert "the signing key matches the running instances'" in report
    assert "all 2 running instances read this auth.json" in report
    elsewhere = ensure_private_dir(tmp_path / "c" / "__auth")
    write_private_file(elsewhere / "secret_key", (b"x" * 32).hex().encode())
    with pytest.raises(ConfigError) as refused:
        check(replace(settings, state_dir=elsewhere))  # the copy step forgotten
    assert "copy the secret_key file from the first instance" in refused.value.explanation
    assert str(elsewhere / "secret_key") in refused.value.explanation


async def test_the_store_lists_a_users_live_sessions_oldest_first(
    store: tuple[RedisSessionStore, list[float]],
) -> None:
    sessions, now = store
    assert_lists_live_sessions_oldest_first(sessions, now)


async def test_a_password_set_through_one_instance_works_on_the_other_at_once(
    pair: tuple[Instance, Instance],
) -> None:
    """B's copy is a poll behind (nothing reloaded it): the new password works there all the
    same, the old one does not, and no failure was counted for the user who typed it right."""
    a, b = pair
    write_users(a.host.runtime.settings.auth_file, "gina-new-password-2")
    assert (await b.login("gina-new-password-2")).status == 200
    assert (await b.login()).status == 401
    assert (await a.login("gina-new-password-2")).status == 200


async def test_a_key_created_through_one_instance_works_on_the_other_at_once(
    pair: tuple[Instance, Instance],
) -> None:
    a, b = pair
    token, key_id = generate_token()
    auth_file = a.host.runtime.settings.auth_file
    entries = json.loads(auth_file.read_text())
    entries[0]["api_keys"] = [{"id": key_id, "name": "new", "hash": digest_token(token.encode())}]
    auth_file.write_text(json.dumps(entries))
    stale = b.host.runtime.authenticator.credentials.current
    response = await b.client.get("/api/prompt", headers={"X-API-Key": token})
    assert response.status == 200
    assert b.host.runtime.authenticator.credentials.current is not stale
    login = await a.client.post("/auth/login", json={"api_key": token})
    assert login.status == 200
    wrong = await b.client.get("/api/prompt", headers={"X-API-Key": token[:-4] + "0000"})
    assert wrong.status == 401  # a wrong key is still wrong after the re-read


async def test_a_key_revoked_through_one_instance_ends_its_sessions_in_the_shared_store(
    pair: tuple[Instance, Instance],
) -> None:
    """B's copy of the file still holds the key; the sessions opened with it end all the same."""
    a, b = pair
    signed_in = await a.login()
    csrf = signed_in.cookies["comfyui_auth_csrf"].value
    writes = {"Origin": str(a.client.make_url("/")).rstrip("/"), "X-CSRF-Token": csrf}
    created = await a.client.post("/auth/account/keys", json={"label": "x"}, headers=writes)
    assert created.status == 201
    key = await created.json()
    with_key = await b.client.post("/auth/login", json={"api_key": key["key"]})
    assert with_key.status == 200
    b.client.session.cookie_jar.clear()
    cookie = with_key.cookies[SESSION].value
    assert await b.me(cookie) == 200
    revoked = await a.client.delete(f"/auth/account/keys/{key['id']}", headers=writes)
    assert (revoked.status, (await revoked.json())["sessions_ended"]) == (200, 1)
    session_id = b.host.runtime.cookies.unsign(cookie)
    assert session_id is not None
    assert b.host.runtime.authenticator.sessions.find(session_id) is None
    assert await a.me(signed_in.cookies[SESSION].value) == 200  # the password session lives
