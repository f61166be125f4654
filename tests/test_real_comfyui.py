"""comfyui-auth inside a real ComfyUI: every kind of route is closed without a key, open with it.

Runs only with a ComfyUI checkout (see ``comfyui_harness``)::

    COMFYUI_DIR=/path/to/ComfyUI COMFYUI_PYTHON=/path/to/its/python pytest -m comfyui

What the host double stands in for elsewhere is checked here against the real server: its
``/api`` twins, the ``/internal`` sub-app, ``/view`` (what ``<img>`` tags load), per-user
data and the WebSocket.
"""

from __future__ import annotations

import aiohttp
import pytest

from comfyui_auth.tests.comfyui_harness import RunningComfyUI

pytestmark = pytest.mark.comfyui
API_KEY = "real-comfyui-admin-key-0123456789"
BEARER = {"Authorization": f"Bearer {API_KEY}"}
# Each protected route, and what ComfyUI itself answers once the caller is let in.
PROTECTED = [
    ("/object_info", 200),
    ("/api/object_info", 200),
    ("/system_stats", 200),
    ("/internal/logs", 200),
    ("/view?filename=x.png", 404),
    ("/api/userdata?dir=workflows", 404),
]


@pytest.fixture(scope="module")
def real_comfyui_env() -> dict[str, str]:
    return {"COMFYUI_API_KEY": API_KEY}


async def test_health_answers_without_credentials_with_queue_and_device(
    real_comfyui: RunningComfyUI,
) -> None:
    async with aiohttp.ClientSession() as http, http.get(real_comfyui.url + "/health") as answer:
        assert answer.status == 200, real_comfyui.log_tail()
        health = await answer.json()
    assert health["status"] == "ok"
    assert set(health["queue"]) == {"pending", "running"}
    assert health["device"]["type"] == "cpu"


@pytest.mark.parametrize(("path", "_allowed"), PROTECTED)
async def test_a_request_without_credentials_gets_401_with_a_bearer_challenge(
    real_comfyui: RunningComfyUI, path: str, _allowed: int
) -> None:
    async with aiohttp.ClientSession() as http, http.get(real_comfyui.url + path) as answer:
        assert answer.status == 401, real_comfyui.log_tail()
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert "error" in await answer.json()


@pytest.mark.parametrize(("path", "allowed"), PROTECTED)
async def test_the_api_key_as_a_bearer_token_reaches_comfyuis_own_answer(
    real_comfyui: RunningComfyUI, path: str, allowed: int
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(real_comfyui.url + path, headers=BEARER) as answer,
    ):
        assert answer.status == allowed, real_comfyui.log_tail()


async def test_a_wrong_key_is_refused_like_no_key(real_comfyui: RunningComfyUI) -> None:
    wrong = {"Authorization": "Bearer " + "x" * len(API_KEY)}
    async with (
        aiohttp.ClientSession() as http,
        http.get(real_comfyui.url + "/api/object_info", headers=wrong) as answer,
    ):
        assert answer.status == 401


async def test_the_websocket_is_refused_without_a_key(real_comfyui: RunningComfyUI) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(real_comfyui.url + "/ws?clientId=abc")
    assert refused.value.status == 401


async def test_the_websocket_with_the_key_in_its_url_gets_comfyuis_status_message(
    real_comfyui: RunningComfyUI,
) -> None:
    url = f"{real_comfyui.url}/ws?clientId=abc&api_key={API_KEY}"
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as socket:
        message = await socket.receive_json(timeout=10)
    assert message["type"] == "status"
    assert "exec_info" in message["data"]["status"]
    assert message["data"]["sid"]


async def test_a_browser_navigation_is_sent_to_the_login_page_with_its_return_path(
    real_comfyui: RunningComfyUI,
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            real_comfyui.url + "/api/userdata?dir=workflows",
            headers={"Accept": "text/html"},
            allow_redirects=False,
        ) as answer,
    ):
        assert answer.status == 303
        assert answer.headers["Location"] == "/auth/login?next=%2Fapi%2Fuserdata%3Fdir%3Dworkflows"


@pytest.mark.parametrize(
    "headers_or_query",
    [
        pytest.param({"X-API-Key": API_KEY}, id="x-api-key"),
        pytest.param({"Authorization": f"bearer {API_KEY}"}, id="lower-case-scheme"),
        pytest.param("api_key", id="api_key-query"),
        pytest.param("token", id="token-query"),
    ],
)
async def test_every_documented_carrier_of_the_key_is_accepted(
    real_comfyui: RunningComfyUI, headers_or_query: dict[str, str] | str
) -> None:
    headers = headers_or_query if isinstance(headers_or_query, dict) else {}
    query = {headers_or_query: API_KEY} if isinstance(headers_or_query, str) else {}
    async with (
        aiohttp.ClientSession() as http,
        http.get(real_comfyui.url + "/api/queue", headers=headers, params=query) as answer,
    ):
        assert answer.status == 200
        assert set(await answer.json()) == {"queue_running", "queue_pending"}


async def test_an_anonymous_prompt_is_refused_and_never_queued(
    real_comfyui: RunningComfyUI,
) -> None:
    prompt = {"prompt": {"1": {"class_type": "EmptyImage", "inputs": {}}}}
    async with aiohttp.ClientSession() as http:
        async with http.post(real_comfyui.url + "/api/prompt", json=prompt) as refused:
            assert refused.status == 401
        async with http.get(real_comfyui.url + "/api/history", headers=BEARER) as history:
            assert await history.json() == {}


async def test_a_cookie_session_opens_the_websocket_only_from_the_same_origin(
    real_comfyui: RunningComfyUI,
) -> None:
    # unsafe=True: aiohttp's cookie jar otherwise drops cookies set by an IP-address host.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        login = await http.post(
            real_comfyui.url + "/auth/login", json={"api_key": API_KEY, "remember": False}
        )
        assert login.status == 200
        me = await (await http.get(real_comfyui.url + "/auth/me")).json()
        assert me["role"] == "admin"
        with pytest.raises(aiohttp.WSServerHandshakeError) as cross_site:
            await http.ws_connect(
                real_comfyui.url + "/ws?clientId=c1", headers={"Origin": "https://evil.example"}
            )
        assert cross_site.value.status == 403
        async with http.ws_connect(
            real_comfyui.url + "/ws?clientId=c1", headers={"Origin": real_comfyui.url}
        ) as socket:
            assert (await socket.receive_json(timeout=10))["type"] == "status"
