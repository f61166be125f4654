"""The browser flow over HTTP: login, session cookie, CSRF, /auth/me, logout, index injection."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from comfyui_auth.core.passwords import PasswordVerifier, make_hasher
from comfyui_auth.middleware.index_injection import INJECT_TAG
from comfyui_auth.tests.minimal_host import MinimalHost, build_minimal_host

VERIFIER = PasswordVerifier(make_hasher(cheap_for_tests=True))
PASSWORD = "alice-password-123"


@pytest.fixture
async def signed_out(tmp_path: Path) -> AsyncIterator[tuple[MinimalHost, TestClient]]:
    auth_file = tmp_path / "auth.json"
    auth_file.write_text(json.dumps([{"user": "alice", "hash": VERIFIER.hash(PASSWORD)}]))
    host = build_minimal_host(tmp_path, {"COMFYUI_AUTH_FILE": str(auth_file)})
    client = TestClient(TestServer(host.app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield host, client
    finally:
        await client.close()


async def sign_in(client: TestClient, remember: bool = False) -> str:
    response = await client.post(
        "/auth/login", json={"username": "alice", "password": PASSWORD, "remember": remember}
    )
    assert response.status == 200
    return client.session.cookie_jar.filter_cookies(client.make_url("/"))["comfyui_auth_csrf"].value


async def test_a_browser_navigation_is_sent_to_the_login_page_with_its_return_path(
    signed_out: tuple[MinimalHost, TestClient],
) -> None:
    _, client = signed_out
    response = await client.get(
        "/userdata/x.json?api=1", headers={"Accept": "text/html"}, allow_redirects=False
    )
    assert response.status == 303
    assert response.headers["Location"] == "/auth/login?next=%2Fuserdata%2Fx.json%3Fapi%3D1"


async def test_signing_in_sets_a_hardened_session_cookie_and_opens_the_api(
    signed_out: tuple[MinimalHost, TestClient],
) -> None:
    host, client = signed_out
    response = await client.post("/auth/login", json={"username": "alice", "password": PASSWORD})
    assert response.status == 200
    assert await response.json() == {"user": "alice", "role": "user", "next": "/"}
    cookie = response.cookies["comfyui_auth_session"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/"
    assert cookie["max-age"] == ""  # ends with the browser without "remember me"
    assert PASSWORD not in cookie.value
    me = await client.get("/auth/me")
    assert await me.json() == {"user": "alice", "role": "user", "via": "session"}
    assert (await client.get("/api/prompt")).status == 200
    assert host.calls == ["get_prompt"]


async def test_remember_me_makes_the_cookie_persistent(
    signed_out: tuple[MinimalHost, TestClient],
) -> None:
    _, client = signed_out
    response = await client.post(
        "/auth/login", json={"username": "alice", "password": PASSWORD, "remember": True}
    )
    assert response.cookies["comfyui_auth_session"]["max-age"] == str(30 * 86400)


async def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(
    signed_out: tuple[MinimalHost, TestClient],
) -> None:
    _, client = signed_out
    wrong = await client.post("/auth/login", json={"username": "alice", "password": "nope"})
    unknown = await client.post("/auth/login", json={"username": "mallory", "password": "nope"})
    assert wrong.status == unknown.status == 401
    assert await wrong.json() == await unknown.json()


async def test_a_form_post_without_javascript_redirects_to_the_return_path(
    signed_out: tuple[MinimalHost, TestClient],
) -> None:
    _, client = signed_out
    response = await client.post(
        "/auth/login",
        data={"username": "alice", "password": PASSWORD, "next": "/?workflow=1"},
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == "/?workflow=1"


@pytest.mark.parametrize(
    "hostile",
    ["//evil.example", "\\\\evil", "https://evil.example", "javascript:alert(1)", "/\\evil"],
    ids=["scheme-relative", "backslashes", "absolute", "javascript", "slash-backslash"],
)
async def test_a_hostile_return_path_falls_back_to_the_root(
    signed_out: tuple[MinimalHost, TestClient], hostile: str
) -> None:
    _, client = signed_out
    response = await client.post(
        "/auth/login",
        data={"username": "alice", "password": PASSWORD, "next": hostile},
        allow_redirects=False,
    )
    assert response.headers["Location"] == "/"


async def test_writes_with_a_session_need_the_csrf_header(
    signed_out: tuple[MinimalHost, TestClient],
) -> None:
    host, client = signed_out
    token = await sign_in(client)
    origin = str(client.make_url("/")).rstrip("/")
    refused = await client.post("/api/prompt", json={}, headers={"Origin": origin})
    assert refused.status == 403
    accepted = await client.post(
        "/api/prompt", json={}, headers={"Origin": origin, "X-CSRF-Token": token}
    )
    assert accepted.status == 200
    assert host.calls == ["post_prompt"]


async def test_logout_ends_the_session_for_the_old_cookie(
    signed_out: tuple[MinimalHost, TestClient],
) -> None:
    _, client = signed_out
    await sign_in(client)
    old = client.session.cookie_jar.filter_cookies(client.make_url("/"))["comfyui_auth_session"]
    origin = str(client.make_url("/")).rstrip("/")
    assert (await client.post("/auth/logout", headers={"Origin": origin})).status == 200
    replay = await client.get(
        "/api/prompt", headers={"Cookie": f"comfyui_auth_session={old.value}"}
    )
    assert replay.status == 401


async def test_the_legacy_logout_link_ends_the_session_and_shows_the_login_page(
    signed_out: tuple[MinimalHost, TestClient],
) -> None:
    """Followed on the site itself (as the browser's Fetch metadata says); see issue 10."""
    _, client = signed_out
    await sign_in(client)
    own_navigation = {
        "Sec-Fetch-Site": "same-origin",
        "Sec-Fetch-Mode": "navigate",
        "Sec-Fetch-Dest": "document",
    }
    page = await client.get("/auth_login.html?logout=true", headers=own_navigation)
    assert page.status == 200
    assert "text/html" in page.headers["Content-Type"]
    assert (await client.get("/auth/me")).status == 401


async def test_the_frontend_index_gets_the_interceptor_in_its_head(
    signed_out: tuple[MinimalHost, TestClient],
) -> None:
    _, client = signed_out
    await sign_in(client)
    for path in ("/", "/index.html"):
        html = await (await client.get(path)).text()
        assert html.startswith("<!doctype html><html><head>" + INJECT_TAG)


async def test_health_reports_queue_and_device_without_credentials(
    signed_out: tuple[MinimalHost, TestClient],
) -> None:
    host, client = signed_out
    host.adapter.prompt_queue.pending.extend([object(), object()])
    body = await (await client.get("/health")).json()
    assert set(body) == {"status", "queue", "device", "vram"}
    assert body["status"] == "ok"
    assert body["queue"] == {"pending": 2, "running": 0}
    assert body["device"]["type"] in {"cpu", "cuda", "mps"}
    assert body["vram"]["total"] >= body["vram"]["free"] >= 0
    head = await client.head("/health")
    assert head.status == 200


async def test_an_unauthenticated_upload_never_has_its_body_read(
    signed_out: tuple[MinimalHost, TestClient],
) -> None:
    host, client = signed_out
    response = await client.post(
        "/api/upload/image", data=b"x" * 100_000, headers={"Expect": "100-continue"}
    )
    assert response.status == 401
    assert host.bodies_read == []
