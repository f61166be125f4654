"""A person in a real browser manages their API keys from ComfyUI's own frontend.

Against the host double serving the real ``comfyui-frontend-package``: sign in, open the
Account dialog through the extension's command, create a key with the keyboard alone, use it
from a script (no cookies), revoke it and see the script refused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser

from comfyui_auth.tests.browser_support import artifact, require_chromium
from comfyui_auth.tests.test_browser_e2e import Target, double_target, sign_in, wait_for_frontend

pytestmark = pytest.mark.browser


@pytest.fixture
async def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Target]:
    require_chromium()
    async for target in double_target(tmp_path, monkeypatch):
        yield target


async def script_status(base: str, token: str) -> int:
    """What a script sending only the key gets for ``GET /api/queue``."""
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(base + "/api/queue", headers=headers) as response,
    ):
        return response.status


async def test_a_person_creates_a_key_in_the_account_dialog_uses_and_revokes_it(
    served: Target, browser: Browser
) -> None:
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    await page.goto(served.base + "/")
    await sign_in(page)
    await page.wait_for_url(served.base + "/")
    await wait_for_frontend(page)

    await page.evaluate("() => window.app.extensionManager.command.execute('comfyui-auth.account')")
    dialog = page.locator("dialog.cauth-dialog[open]")
    await dialog.wait_for()
    label = dialog.get_by_label("Label")
    await label.wait_for()
    await label.focus()
    await page.keyboard.type("krita")
    await page.keyboard.press("Enter")  # submits the form: no mouse needed
    shown = dialog.get_by_test_id("new-key-value")
    await shown.wait_for()
    token = (await shown.inner_text()).strip()
    assert token.startswith("cak_")
    assert await page.evaluate("() => document.activeElement.textContent") == "Copy key"
    assert "curl -H" in await dialog.inner_text()
    await page.screenshot(path=artifact("double-account-dialog-new-key.png"))

    assert await script_status(served.base, token) == 200

    browser_prompts: list[str] = []
    page.on("dialog", lambda prompt: browser_prompts.append(prompt.message))
    await dialog.get_by_role("button", name="Revoke key krita").click()
    question = page.locator("dialog.cauth-confirm[open]")
    await question.get_by_role("button", name="Cancel").click()  # cancelled: nothing changes
    await question.wait_for(state="detached")
    assert await script_status(served.base, token) == 200
    await dialog.get_by_role("button", name="Revoke key krita").click()
    await question.get_by_role("button", name="Revoke").click()
    await dialog.get_by_text("No API keys yet.").wait_for()
    assert token not in await dialog.inner_text()  # shown once: gone after the redraw
    assert await script_status(served.base, token) == 401
    assert browser_prompts == []  # the confirmation is the extension's, in ComfyUI's look
    await page.keyboard.press("Escape")
    await page.locator("dialog.cauth-dialog").wait_for(state="detached")
