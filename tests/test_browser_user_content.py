"""A file a user put on the server never runs as a page on the ComfyUI origin (Chromium).

Bob uploads an SVG whose ``onload`` and ``<script>`` would act with the viewer's cookies, and
an HTML file lands in user data; an administrator, signed in, opens both. Served under
``Content-Security-Policy: sandbox``, neither runs a script: the page keeps its title and
never learns the administrator's CSRF cookie. Also with ``--disable-api-nodes``, where
ComfyUI puts its own policy (one that allows inline scripts) on every answer, and its
policy must still reach the frontend's page.
"""

from __future__ import annotations

import pytest
from playwright.async_api import Browser
from playwright.async_api import Error as PlaywrightError

from comfyui_auth.tests.browser_support import artifact, require_chromium
from comfyui_auth.tests.comfyui_harness import RunningComfyUI
from comfyui_auth.tests.comfyui_users import Accounts, Client

pytestmark = [pytest.mark.browser, pytest.mark.comfyui]
SCRIPT = b"document.title='ran:'+document.cookie;fetch('/api/prompt?ran=1')"
SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" onload="' + SCRIPT + b'">'
    b"<script>" + SCRIPT + b"</script><rect width='10' height='10'/></svg>"
)
HTML = (
    b"<!doctype html><html><head><title>quiet</title></head><body><script>"
    + SCRIPT
    + (b"</script></body></html>")
)


@pytest.fixture(scope="module")
def real_comfyui_env(accounts: Accounts) -> dict[str, str]:
    return accounts.env


@pytest.fixture(scope="module", params=[[], ["--disable-api-nodes"]], ids=["", "no-api-nodes"])
def real_comfyui_args(request: pytest.FixtureRequest) -> list[str]:
    return list(request.param)


async def test_an_uploaded_svg_and_an_html_user_file_run_no_script_for_an_administrator(
    client: Client, browser: Browser, real_comfyui: RunningComfyUI, real_comfyui_args: list[str]
) -> None:
    require_chromium()
    index = await client.raw("admin", "GET", "/")
    policies = index.headers.getall("Content-Security-Policy", [])
    assert "sandbox" not in policies
    assert any("connect-src 'self'" in each for each in policies) == bool(real_comfyui_args)
    status, upload = await client.upload("bob", "p.svg", SVG, content_type="image/svg+xml")
    assert status == 200, upload
    status, _ = await client.call("admin", "POST", "/api/userdata/page.html", data=HTML)
    assert status == 200

    context = await browser.new_context()
    login = await context.new_page()
    await login.goto(client.base + "/auth/login")
    styled = "() => [...document.styleSheets].some(sheet => sheet.cssRules.length > 0)"
    assert await login.evaluate(styled), "the login page must load its stylesheet, unsandboxed"
    signed_in = await context.request.post(
        client.base + "/auth/login", data={"api_key": client.keys["admin"]}
    )
    assert signed_in.status == 200
    page = await context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    svg = f"/api/view?filename=p.svg&type=input&subfolder={upload['subfolder']}"
    for name, path in (("svg", svg), ("html", "/api/userdata/page.html")):
        served = await client.raw("admin", "GET", path)
        assert "sandbox" in served.headers.getall("Content-Security-Policy"), name
        if served.headers.get("Content-Disposition", "").startswith("attachment"):
            with pytest.raises(PlaywrightError, match="Download is starting"):
                await page.goto(client.base + path)  # a download: never a document at all
            continue
        response = await page.goto(client.base + path)
        assert response is not None
        assert response.status == 200
        await page.wait_for_timeout(500)
        await page.screenshot(path=artifact(f"{real_comfyui.tree.version}-user-{name}.png"))
        assert not (await page.title()).startswith("ran"), name
    assert not any("ran=1" in url for url in requests)
    await context.close()
