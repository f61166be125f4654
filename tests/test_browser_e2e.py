"""A person in a real browser: login page, the real ComfyUI frontend, media, WebSocket, logout.

Runs the real ``comfyui-frontend-package`` in the host double (``devhost``) with this package
loaded as ComfyUI loads it, and drives Debian's Chromium through Playwright.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, async_playwright

from comfyui_auth.core.passwords import PasswordVerifier, make_hasher
from comfyui_auth.devhost.host_double import HostDouble
from comfyui_auth.devhost.loader import start_host
from comfyui_auth.tests.browser_support import CHROMIUM, LAUNCH_ARGS, artifact, require_chromium
from comfyui_auth.tests.conftest import REPO_ROOT

pytestmark = pytest.mark.browser
PASSWORD = "browser-password-123"
VERIFIER = PasswordVerifier(make_hasher(cheap_for_tests=True))


@pytest.fixture
async def served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[HostDouble, str]]:
    require_chromium()
    auth_file = tmp_path / "auth.json"
    auth_file.write_text(json.dumps([{"user": "hana", "hash": VERIFIER.hash(PASSWORD)}]))
    monkeypatch.setenv("COMFYUI_AUTH_FILE", str(auth_file))
    monkeypatch.setenv("COMFYUI_AUTH_TEST_CHEAP_HASHING", "1")
    host = start_host(tmp_path / "host", [REPO_ROOT])
    server = TestServer(host.app, host="127.0.0.1")
    await server.start_server()
    try:
        yield host, f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS
        )
        yield launched
        await launched.close()


async def sign_in(page: Page, base: str, password: str = PASSWORD) -> None:
    await page.fill("#username", "hana")
    await page.fill("#password", password)
    await page.click("#password-form button[type=submit]")


async def wait_for_frontend(page: Page) -> None:
    await page.wait_for_function("() => window.app && window.app.graph", timeout=60_000)
    await page.wait_for_selector("canvas", timeout=60_000)


async def test_a_person_signs_in_uses_comfyui_and_signs_out(
    served: tuple[HostDouble, str], browser: Browser
) -> None:
    host, base = served
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    statuses: list[tuple[int, str]] = []
    page.on("response", lambda response: statuses.append((response.status, response.url)))

    await page.goto(base + "/")
    assert page.url.startswith(base + "/auth/login")
    await page.screenshot(path=artifact("login-page.png"))

    await sign_in(page, base, "not-the-password")
    await page.wait_for_selector(".message.error")
    assert "Sign-in failed" in await page.inner_text("#message")
    await page.screenshot(path=artifact("login-page-error.png"))

    statuses.clear()
    await sign_in(page, base)
    await page.wait_for_url(base + "/")
    await wait_for_frontend(page)
    await page.wait_for_timeout(1500)
    await page.screenshot(path=artifact("frontend-signed-in.png"))
    assert [url for status, url in statuses if status == 401] == []
    for _ in range(150):  # the frontend opens its socket once its stores are ready
        if host.sockets:
            break
        await page.wait_for_timeout(100)
    assert len(host.sockets) == 1  # the frontend's WebSocket passed the middleware
    assert await page.evaluate(
        "() => localStorage.length === 0 || "
        "!Object.keys(localStorage).some(k => /auth|token|key/i.test(k))"
    )

    width = await page.evaluate(
        """async () => {
            const image = new Image();
            image.src = '/api/view?filename=demo.png&type=output';
            await image.decode();
            return image.naturalWidth;
        }"""
    )
    assert width == 64

    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    await page.evaluate("() => window.app.extensionManager.command.execute('comfyui-auth.signOut')")
    await page.wait_for_url("**/auth/login?logout=true")
    await page.screenshot(path=artifact("signed-out.png"))
    replay = await page.request.get(
        base + "/api/prompt",
        headers={"Cookie": f"comfyui_auth_session={cookies['comfyui_auth_session']}"},
    )
    assert replay.status == 401


async def test_an_expired_session_leads_to_the_login_page_with_a_return_path(
    served: tuple[HostDouble, str], browser: Browser
) -> None:
    host, base = served
    page = await browser.new_page()
    await page.goto(base + "/auth/login")
    await sign_in(page, base)
    await page.wait_for_url(base + "/")
    await wait_for_frontend(page)
    with sqlite3.connect(host.user_dir / "__auth" / "sessions.sqlite3") as db:
        assert db.execute("DELETE FROM sessions").rowcount == 1  # as an expiry would
    await page.evaluate("() => fetch('/api/queue')")
    await page.wait_for_url("**/auth/login?next=*")
    assert page.url.endswith("/auth/login?next=%2F")
