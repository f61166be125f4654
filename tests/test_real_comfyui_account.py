"""A person administers accounts in a real ComfyUI's own frontend, with the keyboard.

For each ComfyUI tree in ``../shared`` (``comfyui_harness``): alice creates an API key in
the Account dialog, a script uses it (aiohttp, as curl would), she revokes it and the script
is refused; the administrator adds nina with a one-time set-password link, nina opens it,
chooses a password and signs in; the administrator disables her, and nina's open tab lands
on the login page at its next request. Dialogs are driven by Tab and Enter; screenshots go
to ``test-artifacts/``.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, Page
from playwright.async_api import Error as PlaywrightError

from comfyui_auth.tests.browser_support import (
    artifact,
    require_chromium,
    type_into_autofocused,
)
from comfyui_auth.tests.comfyui_harness import ComfyUITree, RunningComfyUI
from comfyui_auth.tests.comfyui_users import VERIFIER, auth_environment, password_of
from comfyui_auth.tests.test_browser_e2e import wait_for_frontend

pytestmark = pytest.mark.browser
ROOT_PASSWORD = "root-password-1234"
NINA_PASSWORD = "nina-chose-this-one"


@pytest.fixture(scope="module")
def real_comfyui_env(
    comfyui_tree: ComfyUITree, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """alice and bob (``comfyui_users``) and root, an administrator with a password.

    One file per tree (the fixture asks for the tree): each ComfyUI starts from scratch.
    """
    env, _ = auth_environment(tmp_path_factory.mktemp("auth"))
    auth_file = Path(env["COMFYUI_AUTH_FILE"])
    entries = json.loads(auth_file.read_text())
    entries.append({"user": "root", "hash": VERIFIER.hash(ROOT_PASSWORD), "role": "admin"})
    auth_file.write_text(json.dumps(entries))
    return env


@pytest.fixture
def comfyui(real_comfyui: RunningComfyUI) -> RunningComfyUI:
    require_chromium()
    return real_comfyui


async def signed_in_page(browser: Browser, base: str, user: str, password: str) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    await page.goto(base + "/")
    await page.wait_for_url("**/auth/login**")
    await type_into_autofocused(page, "username", user)
    await page.keyboard.press("Tab")
    await page.keyboard.type(password)
    await page.keyboard.press("Enter")
    await page.wait_for_url(base + "/")
    await wait_for_frontend(page)
    return page


async def open_dialog(page: Page, command: str) -> None:
    await page.evaluate(f"() => window.app.extensionManager.command.execute('{command}')")
    await page.locator("dialog.cauth-dialog[open]").wait_for()


async def tab_to(page: Page, label: str, limit: int = 80) -> None:
    """Press Tab until the focused element is named ``label`` (its label or its text)."""
    for _ in range(limit):
        name = await page.evaluate(
            """() => { const a = document.activeElement;
                 return a.labels?.[0]?.firstChild?.textContent?.trim()
                   || a.getAttribute('aria-label') || a.textContent.trim(); }"""
        )
        if name == label:
            return
        await page.keyboard.press("Tab")
    pytest.fail(f"Tab never reached {label!r}")


async def script_status(base: str, key: str) -> int:
    """What a script sending only the key gets, as ``curl -H "Authorization: Bearer ..."``."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(base + "/api/queue", headers={"Authorization": f"Bearer {key}"}) as response,
    ):
        return response.status


async def confirm_by_keyboard(page: Page, action: str) -> None:
    """The extension's own confirmation (never the browser's ``confirm()``): Cancel has the
    focus, so Enter alone would change nothing; Tab to ``action``, then Enter."""
    question = page.locator("dialog.cauth-confirm[open]")
    await question.wait_for()
    assert await page.evaluate("() => document.activeElement.textContent") == "Cancel"
    await tab_to(page, action)
    await page.keyboard.press("Enter")
    await question.wait_for(state="detached")


async def test_a_user_creates_uses_and_revokes_a_key(
    comfyui: RunningComfyUI, browser: Browser
) -> None:
    base, version = comfyui.url, comfyui.tree.version
    page = await signed_in_page(browser, base, "alice", password_of("alice"))
    await open_dialog(page, "comfyui-auth.account")
    dialog = page.locator("dialog.cauth-dialog[open]")
    await tab_to(page, "Label")
    await page.keyboard.type("krita")
    await page.keyboard.press("Enter")
    shown = dialog.get_by_test_id("new-key-value")
    await shown.wait_for()
    key = (await shown.inner_text()).strip()
    assert key.startswith("cak_")
    assert "curl -H" in await dialog.inner_text()
    await page.screenshot(path=artifact(f"comfyui-{version}-account-new-key.png"))

    assert await script_status(base, key) == 200
    await page.keyboard.press("Escape")  # close and reopen: the key is listed, never shown
    await open_dialog(page, "comfyui-auth.account")
    row = dialog.get_by_role("row").filter(has_text="krita")
    assert "127.0.0.1" in await row.inner_text()  # last used, and from where
    assert key not in await dialog.inner_text()
    await tab_to(page, "Revoke key krita")
    await page.keyboard.press("Enter")
    await confirm_by_keyboard(page, "Revoke")
    await row.wait_for(state="detached")  # alice's other key ("test") stays listed
    assert await script_status(base, key) == 401
    await page.context.close()


async def test_an_invited_user_sets_a_password_and_is_signed_out_when_disabled(
    comfyui: RunningComfyUI, browser: Browser
) -> None:
    base, version = comfyui.url, comfyui.tree.version
    admin = await signed_in_page(browser, base, "root", ROOT_PASSWORD)
    await open_dialog(admin, "comfyui-auth.users")
    dialog = admin.locator("dialog.cauth-dialog[open]")
    await tab_to(admin, "Name")
    await admin.keyboard.type("nina")
    await admin.keyboard.press("Enter")  # role user, "a one-time link": the defaults
    shown = dialog.get_by_test_id("new-link-value")
    await shown.wait_for()
    link = (await shown.inner_text()).strip()
    assert link.startswith(base + "/auth/set-password?token=spl_")
    assert await admin.evaluate("() => document.activeElement.textContent") == "Copy link"
    await admin.screenshot(path=artifact(f"comfyui-{version}-users-link.png"))

    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    nina = await context.new_page()
    await nina.goto(link)
    await nina.get_by_text("Set the password for nina").wait_for()
    assert "token=" not in nina.url  # taken out of the address bar and the history
    await nina.screenshot(path=artifact(f"comfyui-{version}-set-password.png"))
    await type_into_autofocused(nina, "password", NINA_PASSWORD)
    await nina.keyboard.press("Tab")
    await nina.keyboard.type(NINA_PASSWORD)
    await nina.keyboard.press("Enter")
    await nina.wait_for_url("**/auth/login?notice=password_set")
    await nina.get_by_text("Your password is set").wait_for()
    await type_into_autofocused(nina, "username", "nina")
    await nina.keyboard.press("Tab")
    await nina.keyboard.type(NINA_PASSWORD)
    await nina.keyboard.press("Enter")
    await nina.wait_for_url(base + "/")
    await wait_for_frontend(nina)
    again = await context.new_page()  # the link worked once
    assert (await again.goto(link)) is not None
    await again.get_by_text("invalid, already used or expired").wait_for()
    await again.close()

    await admin.keyboard.press("Escape")
    await open_dialog(admin, "comfyui-auth.users")
    assert "nina" in await dialog.get_by_role("row").filter(has_text="nina").first.inner_text()
    await tab_to(admin, "Disable: nina")
    await admin.keyboard.press("Enter")
    await confirm_by_keyboard(admin, "Disable")
    await dialog.get_by_text("Disable: nina done.").wait_for()
    row = dialog.get_by_role("row").filter(has_text="nina").first
    assert "disabled" in await row.inner_text()
    await admin.screenshot(path=artifact(f"comfyui-{version}-users-disabled.png"))

    # Her tab's next request: ours, unless the frontend's own polling gets there first and
    # the page is already on its way to the login page (then there is nothing to run it in).
    with contextlib.suppress(PlaywrightError):
        await nina.evaluate("() => fetch('/api/queue').catch(() => null)")
    await nina.wait_for_url("**/auth/login**")
    await nina.screenshot(path=artifact(f"comfyui-{version}-disabled-signed-out.png"))
    await context.close()
    await admin.context.close()
