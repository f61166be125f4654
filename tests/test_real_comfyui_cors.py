"""A real ComfyUI started with ``--enable-cors-header``: cross-origin API clients still work.

A browser app on another origin sends a preflight (``OPTIONS``, no credentials by design)
before its keyed request. comfyui-auth answers it without running any handler; everything
else still needs a key, and a cross-site cookie write is still refused.
"""

from __future__ import annotations

import aiohttp
import pytest

from comfyui_auth.tests.comfyui_harness import RunningComfyUI

pytestmark = pytest.mark.comfyui
API_KEY = "real-comfyui-cors-key-0123456789"
APP_ORIGIN = "https://app.example"


@pytest.fixture(scope="module")
def real_comfyui_env() -> dict[str, str]:
    return {"COMFYUI_API_KEY": API_KEY}


@pytest.fixture(scope="module")
def real_comfyui_args() -> list[str]:
    return ["--enable-cors-header", APP_ORIGIN]


async def test_a_preflight_is_answered_and_the_keyed_request_is_served(
    real_comfyui: RunningComfyUI,
) -> None:
    preflight_headers = {"Origin": APP_ORIGIN, "Access-Control-Request-Method": "POST"}
    async with aiohttp.ClientSession() as http:
        async with http.options(
            real_comfyui.url + "/api/prompt", headers=preflight_headers
        ) as preflight:
            assert preflight.status == 204, real_comfyui.log_tail()
            assert preflight.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
            assert "X-API-Key" in preflight.headers["Access-Control-Allow-Headers"]
        keyed = {"Origin": APP_ORIGIN, "X-API-Key": API_KEY}
        async with http.get(real_comfyui.url + "/api/queue", headers=keyed) as answer:
            assert answer.status == 200
            assert answer.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
        async with http.get(
            real_comfyui.url + "/api/queue", headers={"Origin": APP_ORIGIN}
        ) as anonymous:
            assert anonymous.status == 401


async def test_a_cross_site_cookie_write_is_still_refused(real_comfyui: RunningComfyUI) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        login = await http.post(real_comfyui.url + "/auth/login", json={"api_key": API_KEY})
        assert login.status == 200
        async with http.post(
            real_comfyui.url + "/api/prompt",
            data=b'{"prompt": {}}',
            headers={"Origin": "https://evil.example", "Content-Type": "text/plain"},
        ) as forged:
            assert forged.status == 403
