"""The login page in Debian's Chromium: keyboard only, without JavaScript, and the wait.

Runs against the minimal host (the page and the login API are the package's own; the full
frontend scenario is in ``test_browser_e2e``).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser

from comfyui_auth.core.passwords import PasswordVerifier, make_hasher
from comfyui_auth.tests.browser_support import artifact, require_chromium, type_into_autofocused
from comfyui_auth.tests.minimal_host import build_minimal_host

pytestmark = pytest.mark.browser
PASSWORD = "keyboard-password-123"
VERIFIER = PasswordVerifier(make_hasher(cheap_for_tests=True))


@pytest.fixture
async def base(tmp_path: Path) -> AsyncIterator[str]:
    require_chromium()
    auth_file = tmp_path / "auth.json"
    auth_file.write_text(json.dumps([{"user": "kim", "hash": VERIFIER.hash(PASSWORD)}]))
    host = build_minimal_host(tmp_path, {"COMFYUI_AUTH_FILE": str(auth_file)})
    server = TestServer(host.app, host="127.0.0.1")
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


async def test_a_person_signs_in_with_the_keyboard_alone(base: str, browser: Browser) -> None:
    page = await browser.new_page()
    await page.goto(base + "/auth/login?next=/%3Fafter%3Dkeyboard")
    await type_into_autofocused(page, "username", "kim")  # times out unless it has the focus
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_url(base + "/?after=keyboard")
    me = await page.request.get(base + "/auth/me")
    assert (me.status, (await me.json())["user"]) == (200, "kim")


async def test_the_form_works_without_javascript(base: str, browser: Browser) -> None:
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    await page.goto(base + "/auth/login?next=/%3Fafter%3Dform")
    await page.fill("#username", "kim")
    await page.fill("#password", "not-the-password")
    await page.click("#password-form button[type=submit]")
    assert "/auth/login" in page.url
    assert "Sign-in failed" in await page.inner_text("#message")  # rendered by the server
    await page.fill("#password", PASSWORD)
    await page.click("#password-form button[type=submit]")
    await page.wait_for_url(base + "/?after=form")
    assert "comfyui_auth_session" in {c["name"] for c in await context.cookies()}
    await context.close()


async def test_a_throttled_person_is_told_how_long_to_wait(base: str, browser: Browser) -> None:
    page = await browser.new_page()
    await page.goto(base + "/auth/login")
    for _ in range(5):
        await page.fill("#username", "kim")
        await page.fill("#password", "not-the-password")
        await page.click("#password-form button[type=submit]")
        await page.wait_for_selector(".message.error")
        await page.wait_for_function(
            "() => !document.querySelector('#password-form button').disabled"
        )
    await page.fill("#password", PASSWORD)  # even the right password waits
    await page.click("#password-form button[type=submit]")
    await page.wait_for_function(
        "() => /Try again in \\d+ seconds?/.test(document.querySelector('#message').innerText)"
    )
    text = await page.inner_text("#message")
    assert re.search(r"Too many attempts\. Try again in \d+ seconds?\.", text), text
    assert await page.is_disabled("#password-form button[type=submit]")
    await page.screenshot(path=artifact("login-page-throttled.png"))
    me = await page.request.get(base + "/auth/me")
    assert me.status == 401


async def test_the_first_administrator_is_created_without_javascript(
    tmp_path: Path, browser: Browser
) -> None:
    require_chromium()
    host = build_minimal_host(tmp_path, {})  # no user, no key: the setup link is offered
    assert host.runtime.setup_token is not None
    server = TestServer(host.app, host="127.0.0.1")
    await server.start_server()
    base = f"http://127.0.0.1:{server.port}"
    context = await browser.new_context(java_script_enabled=False)
    try:
        page = await context.new_page()
        await page.goto(f"{base}/auth/setup?token={host.runtime.setup_token.value}")
        await page.fill("#username", "owner")
        await page.fill("#password", "a-long-owner-password")
        await page.fill("#confirm", "a-long-owner-password")
        await page.click("button[type=submit]")
        await page.wait_for_url(base + "/")
        me = await page.request.get(base + "/auth/me")
        assert (me.status, await me.json()) == (
            200,
            {"user": "owner", "role": "admin", "via": "session"},
        )
    finally:
        await context.close()
        await server.close()
