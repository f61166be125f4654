"""A person in a real browser: login page, the real ComfyUI frontend, media, WebSocket, logout.

The same scenario runs twice: against the host double (``devhost``), which serves the real
``comfyui-frontend-package`` with this package loaded as ComfyUI loads it, and against a real
ComfyUI when ``COMFYUI_DIR`` names a checkout (skipped otherwise, see ``comfyui_harness``).
Debian's Chromium is driven through Playwright.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, WebSocket

from comfyui_auth.core.passwords import PasswordVerifier, make_hasher
from comfyui_auth.devhost.loader import start_host
from comfyui_auth.devhost.media import DEMO_IMAGE, DEMO_SIZE, png_bytes
from comfyui_auth.middleware.host_users import host_user_id
from comfyui_auth.tests.browser_support import artifact, require_chromium
from comfyui_auth.tests.comfyui_harness import RunningComfyUI
from comfyui_auth.tests.conftest import REPO_ROOT

pytestmark = pytest.mark.browser
PASSWORD = "browser-password-123"
VERIFIER = PasswordVerifier(make_hasher(cheap_for_tests=True))


@dataclass(frozen=True)
class Target:
    """A server running this package: its URL, its user directory, a name for screenshots."""

    name: str
    base: str
    user_dir: Path
    auth_file: Path = Path()
    """hana's ``auth.json``."""
    image_subfolder: str = ""
    """Where the demo image lies under ``output/``: a real ComfyUI keeps it in hana's folder."""


def write_auth_file(folder: Path) -> dict[str, str]:
    """One user, hana; the environment that points comfyui-auth at her file."""
    auth_file = folder / "auth.json"
    auth_file.write_text(json.dumps([{"user": "hana", "hash": VERIFIER.hash(PASSWORD)}]))
    return {"COMFYUI_AUTH_FILE": str(auth_file), "COMFYUI_AUTH_TEST_CHEAP_HASHING": "1"}


@pytest.fixture(scope="module", params=[[], ["--multi-user"]], ids=["single-user", "multi-user"])
def real_comfyui_args(request: pytest.FixtureRequest) -> list[str]:
    """Both of ComfyUI's storage modes: neither may show its user-selection screen."""
    return list(request.param)


@pytest.fixture(scope="module")
def real_comfyui_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The real ComfyUI of this module knows hana (see ``comfyui_harness.real_comfyui``)."""
    return write_auth_file(tmp_path_factory.mktemp("auth"))


async def double_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Target]:
    for name, value in write_auth_file(tmp_path).items():
        monkeypatch.setenv(name, value)
    host = start_host(tmp_path / "host", [REPO_ROOT])
    hanas = host.output_dir / host_user_id("hana")  # the package keeps hana's files here
    hanas.mkdir(parents=True, exist_ok=True)
    (hanas / DEMO_IMAGE).write_bytes(png_bytes())
    server = TestServer(host.app, host="127.0.0.1")
    await server.start_server()
    try:
        url = f"http://127.0.0.1:{server.port}"
        yield Target(
            "double",
            url,
            host.user_dir,
            auth_file=tmp_path / "auth.json",
            image_subfolder=host_user_id("hana"),
        )
    finally:
        await server.close()


def comfyui_target(comfyui: RunningComfyUI, auth_file: Path) -> Iterator[Target]:
    output = comfyui.base_dir / "output" / host_user_id("hana")  # hana's own outputs
    output.mkdir(parents=True, exist_ok=True)
    (output / DEMO_IMAGE).write_bytes(png_bytes())
    mode = "-multi-user" if "--multi-user" in comfyui.args else ""
    target = Target(
        "comfyui-" + comfyui.tree.version + mode,
        comfyui.url,
        comfyui.base_dir / "user",
        auth_file=auth_file,
        image_subfolder=host_user_id("hana"),
    )
    yield target


@pytest.fixture
async def double(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Target]:
    """The host double serving the real frontend (the demo)."""
    require_chromium()
    async for target in double_target(tmp_path, monkeypatch):
        yield target


@pytest.fixture
def comfyui(real_comfyui: RunningComfyUI, real_comfyui_env: dict[str, str]) -> Iterator[Target]:
    """A real ComfyUI (each tree in ``../shared``) serving its own frontend."""
    require_chromium()
    yield from comfyui_target(real_comfyui, Path(real_comfyui_env["COMFYUI_AUTH_FILE"]))


async def sign_in(page: Page, password: str = PASSWORD) -> None:
    await page.fill("#username", "hana")
    await page.fill("#password", password)
    await page.click("#password-form button[type=submit]")


async def wait_for_frontend(page: Page) -> None:
    await page.wait_for_function("() => window.app && window.app.graph", timeout=60_000)
    await page.wait_for_selector("canvas", timeout=60_000)


def watch_status_messages(page: Page) -> list[str]:
    """Collects the ``type`` of every JSON frame the page's ``/ws`` sockets receive."""
    received: list[str] = []

    def on_socket(socket: WebSocket) -> None:
        if "/ws" in socket.url:
            socket.on("framereceived", lambda frame: received.append(frame_type(frame)))

    page.on("websocket", on_socket)
    return received


def frame_type(frame: str | bytes) -> str:
    if isinstance(frame, bytes):
        return "binary"
    message = json.loads(frame)
    return str(message.get("type")) if isinstance(message, dict) else "other"


async def test_a_person_signs_in_uses_the_demo_and_signs_out(
    double: Target, browser: Browser
) -> None:
    await sign_in_use_and_sign_out(double, browser)


@pytest.mark.comfyui
async def test_a_person_signs_in_uses_comfyui_and_signs_out(
    comfyui: Target, browser: Browser
) -> None:
    await sign_in_use_and_sign_out(comfyui, browser)


async def sign_in_use_and_sign_out(served: Target, browser: Browser) -> None:
    """Login page, wrong password, sign in, frontend with socket and image, sign out."""
    base = served.base
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    statuses: list[tuple[int, str]] = []
    page.on("response", lambda response: statuses.append((response.status, response.url)))
    socket_messages = watch_status_messages(page)

    await page.goto(base + "/")
    assert page.url.startswith(base + "/auth/login")
    await page.screenshot(path=artifact(f"{served.name}-login-page.png"))

    await sign_in(page, "not-the-password")
    await page.wait_for_selector(".message.error")
    assert "Sign-in failed" in await page.inner_text("#message")
    await page.screenshot(path=artifact(f"{served.name}-login-page-error.png"))

    statuses.clear()
    await sign_in(page)
    await page.wait_for_url(base + "/")
    await wait_for_frontend(page)
    for _ in range(150):  # the frontend opens its socket once its stores are ready
        if "status" in socket_messages:
            break
        await page.wait_for_timeout(100)
    await page.screenshot(path=artifact(f"{served.name}-frontend-signed-in.png"))
    assert "user-select" not in page.url  # --multi-user: straight into the signed-in workspace
    assert [url for status, url in statuses if status == 401] == []
    assert "status" in socket_messages  # the frontend's WebSocket passed the middleware
    assert await page.evaluate(
        "() => localStorage.length === 0 || "
        "!Object.keys(localStorage).some(k => /auth|token|key|session/i.test(k))"
    )

    width = await page.evaluate(
        """async ([name, subfolder]) => {
            const image = new Image();
            image.src = '/api/view?type=output&filename=' + encodeURIComponent(name)
                + '&subfolder=' + encodeURIComponent(subfolder);
            await image.decode();
            return image.naturalWidth;
        }""",
        [DEMO_IMAGE, served.image_subfolder],
    )
    assert width == DEMO_SIZE

    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    # Not awaited in the page: the command navigates away, which would end the evaluation.
    await page.evaluate(
        "() => { window.app.extensionManager.command.execute('comfyui-auth.signOut'); }"
    )
    await page.wait_for_url("**/auth/login?logout=true")
    await page.screenshot(path=artifact(f"{served.name}-signed-out.png"))
    replay = await page.request.get(
        base + "/api/prompt",
        headers={"Cookie": f"comfyui_auth_session={cookies['comfyui_auth_session']}"},
    )
    assert replay.status == 401


async def test_an_expired_demo_session_leads_to_the_login_page_with_a_return_path(
    double: Target, browser: Browser
) -> None:
    await expired_session_returns_to_login(double, browser)


@pytest.mark.comfyui
async def test_an_expired_session_leads_to_the_login_page_with_a_return_path(
    comfyui: Target, browser: Browser
) -> None:
    await expired_session_returns_to_login(comfyui, browser)


async def expired_session_returns_to_login(served: Target, browser: Browser) -> None:
    """The session ends under the open page (here: hana's password is re-hashed, which ends
    her sessions as a password change does); the next request takes her to the login page."""
    page = await browser.new_page()
    await page.goto(served.base + "/auth/login")
    await sign_in(page)
    await page.wait_for_url(served.base + "/")
    await wait_for_frontend(page)
    write_auth_file(served.auth_file.parent)  # a new salt: a new credential tag
    # Not awaited in the page: the frontend's own polling may hit the 401 first and navigate.
    await page.evaluate(
        "() => { setInterval(() => fetch('/api/queue'), 500); }"
    )  # the server applies the edit within two seconds
    await page.wait_for_url("**/auth/login?next=*", timeout=15_000)
    assert page.url.endswith("/auth/login?next=%2F")
