"""First run: the one-time setup link creates the first administrator, then closes."""

from __future__ import annotations

import json
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from comfyui_auth.core.setup_token import SetupToken
from comfyui_auth.tests.minimal_host import MinimalHost, build_minimal_host

PASSWORD = "a-long-admin-password"


@pytest.fixture
async def fresh(tmp_path: Path) -> AsyncIterator[tuple[MinimalHost, TestClient, str]]:
    host = build_minimal_host(tmp_path, {})
    assert host.runtime.needs_setup
    host.runtime.setup_token = SetupToken()
    async with TestClient(TestServer(host.app, host="127.0.0.1")) as client:
        yield host, client, host.runtime.setup_token.value


def form(token: str, **overrides: str) -> dict[str, str]:
    return {
        "token": token,
        "username": "root-admin",
        "password": PASSWORD,
        "confirm": PASSWORD,
        **overrides,
    }


async def test_the_setup_link_creates_an_argon2id_admin_in_a_private_file(
    fresh: tuple[MinimalHost, TestClient, str],
) -> None:
    host, client, token = fresh
    origin = str(client.make_url("/")).rstrip("/")
    page = await client.get(f"/auth/setup?token={token}")
    assert page.status == 200
    response = await client.post(
        "/auth/setup", data=form(token), headers={"Origin": origin}, allow_redirects=False
    )
    assert response.status == 303
    auth_file = host.runtime.settings.auth_file
    (entry,) = json.loads(auth_file.read_text())
    assert entry["user"] == "root-admin"
    assert entry["role"] == "admin"
    assert entry["hash"].startswith("$argon2id$")
    assert PASSWORD not in auth_file.read_text()
    assert stat.S_IMODE(auth_file.stat().st_mode) == 0o600
    me = await client.get("/auth/me")
    assert await me.json() == {"user": "root-admin", "role": "admin", "via": "session"}
    again = await client.post("/auth/setup", data=form(token), headers={"Origin": origin})
    assert again.status == 403


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"password": "short", "confirm": "short"}, "at least 12 characters"),
        ({"confirm": "something-else-entirely"}, "The two passwords differ"),
        ({"username": ""}, "Choose a user name"),
        ({"username": "__system"}, "Choose a user name"),
    ],
    ids=["short-password", "mismatch", "empty-name", "system-name"],
)
async def test_a_bad_setup_form_is_refused_and_nothing_is_written(
    fresh: tuple[MinimalHost, TestClient, str], overrides: dict[str, str], message: str
) -> None:
    host, client, token = fresh
    origin = str(client.make_url("/")).rstrip("/")
    response = await client.post(
        "/auth/setup", data=form(token, **overrides), headers={"Origin": origin}
    )
    assert response.status == 400
    assert message in await response.text()
    assert not host.runtime.settings.auth_file.exists()


@pytest.mark.parametrize("token", ["", "wrong", "x" * 5000], ids=["empty", "wrong", "huge"])
async def test_a_wrong_setup_token_is_refused(
    fresh: tuple[MinimalHost, TestClient, str], token: str
) -> None:
    _, client, _ = fresh
    assert (await client.get(f"/auth/setup?token={token}")).status == 403
    origin = str(client.make_url("/")).rstrip("/")
    response = await client.post("/auth/setup", data=form(token), headers={"Origin": origin})
    assert response.status in (403, 413)


async def test_a_cross_site_setup_post_is_refused(
    fresh: tuple[MinimalHost, TestClient, str],
) -> None:
    host, client, token = fresh
    response = await client.post(
        "/auth/setup", data=form(token), headers={"Origin": "https://evil.example"}
    )
    assert response.status == 403
    assert not host.runtime.settings.auth_file.exists()


async def test_login_throttling_answers_429_with_retry_after(
    fresh: tuple[MinimalHost, TestClient, str],
) -> None:
    _, client, _ = fresh
    statuses = [
        (await client.post("/auth/login", json={"username": "x", "password": "y"})).status
        for _ in range(6)
    ]
    assert statuses == [401] * 5 + [429]
    throttled = await client.post("/auth/login", json={"username": "x", "password": "y"})
    assert 0 < int(throttled.headers["Retry-After"]) <= 60
    assert (await throttled.json())["retry_after"] == int(throttled.headers["Retry-After"])
