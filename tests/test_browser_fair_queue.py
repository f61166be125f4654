"""The ComfyUI frontend shows the per-user limit as it shows its own queue errors.

The host double serves the real ``comfyui-frontend-package`` with ``COMFYUI_AUTH_MAX_PENDING``
at 1 and no worker, so the first prompt stays waiting and the second is refused with 429.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from comfyui_auth.tests.browser_support import artifact, require_chromium
from comfyui_auth.tests.test_browser_e2e import Target, double_target, sign_in, wait_for_frontend

pytestmark = pytest.mark.browser


@pytest.fixture
async def limited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Target]:
    require_chromium()
    monkeypatch.setenv("COMFYUI_AUTH_MAX_PENDING", "1")
    async for target in double_target(tmp_path, monkeypatch):
        yield target


async def test_a_prompt_past_the_limit_opens_the_frontends_error_dialog_naming_it(
    limited: Target, browser: Browser
) -> None:
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    await page.goto(limited.base + "/")
    await sign_in(page)
    await page.wait_for_url(limited.base + "/")
    await wait_for_frontend(page)
    # A new user gets ComfyUI's template browser over an empty graph: close it, load the
    # default workflow (what a returning user sees).
    await page.keyboard.press("Escape")
    await page.evaluate("() => window.app.loadGraphData()")

    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status) if "/prompt" in r.url else None)
    for _ in range(2):
        await page.evaluate("() => window.app.queuePrompt(0)")
    dialog = page.get_by_text("the limit of 1 waiting prompt per user", exact=False)
    await dialog.first.wait_for(timeout=20_000)
    await page.screenshot(path=artifact("double-pending-limit-dialog.png"))
    assert [s for s in statuses if s != 200] == [429]
