"""Playwright against Debian's Chromium (browser downloads are not possible here).

Loaded as a plugin by ``conftest.py``: the ``browser`` fixture is shared by the browser suites.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_chromium() -> None:
    if shutil.which(CHROMIUM) is None:
        pytest.skip(
            "Debian's chromium is not installed: apt-get install chromium (scripts/test does)"
        )


def artifact(name: str) -> str:
    ARTIFACTS.mkdir(exist_ok=True)
    return str(ARTIFACTS / name)


async def type_into_autofocused(page: Page, field_id: str, text: str) -> None:
    """Type ``text`` once the field with ``autofocus`` has the focus.

    Chromium applies ``autofocus`` at a rendering update, which on a loaded machine can come
    after the ``load`` event: keys typed before it go to the page body and are lost.
    """
    await page.wait_for_function("id => document.activeElement?.id === id", arg=field_id)
    await page.keyboard.type(text)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless; skipped where it is not installed."""
    require_chromium()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS
        )
        yield launched
        await launched.close()
