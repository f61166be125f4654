"""Trusted proxies, single sign-on headers, and routes kept for administrators."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from comfyui_auth.core.api_keys import digest_token, generate_token
from comfyui_auth.core.passwords import PasswordVerifier, make_hasher
from comfyui_auth.middleware.host_routes import canonical_path, requires_admin
from comfyui_auth.tests.minimal_host import build_minimal_host

VERIFIER = PasswordVerifier(make_hasher(cheap_for_tests=True))
USER_KEY, USER_KEY_ID = generate_token()
ADMIN_KEY = "admin-key-for-roles-0123456789"


async def make_client(tmp_path: Path, env: dict[str, str]) -> TestClient:
    auth_file = tmp_path / "auth.json"
    auth_file.write_text(
        json.dumps(
            [
                {
                    "user": "erin",
                    "hash": VERIFIER.hash("erin-password-12"),
                    "api_keys": [
                        {"id": USER_KEY_ID, "name": "s", "hash": digest_token(USER_KEY.encode())}
                    ],
                }
            ]
        )
    )
    host = build_minimal_host(
        tmp_path, {"COMFYUI_AUTH_FILE": str(auth_file), "COMFYUI_API_KEY": ADMIN_KEY, **env}
    )
    client = TestClient(TestServer(host.app, host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
async def behind_proxy(tmp_path: Path) -> AsyncIterator[TestClient]:
    client = await make_client(
        tmp_path,
        {
            "COMFYUI_AUTH_TRUSTED_PROXIES": "127.0.0.1/32",
            "COMFYUI_AUTH_PROXY_USER_HEADER": "Remote-User",
            "COMFYUI_AUTH_PROXY_GROUPS_HEADER": "Remote-Groups",
            "COMFYUI_AUTH_PROXY_ADMIN_GROUPS": "comfy-admins",
        },
    )
    yield client
    await client.close()


@pytest.fixture
async def direct(tmp_path: Path) -> AsyncIterator[TestClient]:
    client = await make_client(
        tmp_path,
        {
            "COMFYUI_AUTH_TRUSTED_PROXIES": "10.9.9.9",
            "COMFYUI_AUTH_PROXY_USER_HEADER": "Remote-User",
        },
    )
    yield client
    await client.close()


async def test_a_trusted_proxy_names_the_user_and_their_role(behind_proxy: TestClient) -> None:
    me = await behind_proxy.get(
        "/auth/me", headers={"Remote-User": "frank", "Remote-Groups": "staff, comfy-admins"}
    )
    assert await me.json() == {"user": "frank", "role": "admin", "via": "proxy"}


async def test_the_user_header_from_an_untrusted_peer_is_ignored(direct: TestClient) -> None:
    response = await direct.get("/auth/me", headers={"Remote-User": "frank"})
    assert response.status == 401


async def test_forwarded_headers_from_an_untrusted_peer_do_not_make_cookies_secure(
    direct: TestClient,
) -> None:
    response = await direct.post(
        "/auth/login",
        json={"username": "erin", "password": "erin-password-12"},
        headers={"X-Forwarded-Proto": "https"},
    )
    assert response.cookies["comfyui_auth_session"]["secure"] == ""


async def test_a_trusted_proxys_https_makes_cookies_secure(behind_proxy: TestClient) -> None:
    response = await behind_proxy.post(
        "/auth/login",
        json={"username": "erin", "password": "erin-password-12"},
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"},
    )
    assert response.cookies["comfyui_auth_session"]["secure"] is True


async def test_spoofed_forwarded_for_does_not_escape_address_throttling(direct: TestClient) -> None:
    statuses = []
    for attempt in range(7):
        response = await direct.post(
            "/auth/login",
            json={"username": f"nobody{attempt}", "password": "wrong"},
            headers={"X-Forwarded-For": f"198.51.100.{attempt}"},
        )
        statuses.append(response.status)
    assert statuses == [401] * 5 + [429] * 2


@pytest.mark.parametrize(
    "path",
    [
        "/manager/queue/install",
        "/api/manager/queue/install",
        "/Manager/queue/install",
        "/%6danager/queue/install",
        "/internal/logs",
        "/api//manager/x",
        "/v2/manager/x",
    ],
    ids=[
        "manager",
        "manager-api-twin",
        "manager-case",
        "manager-encoded",
        "internal-logs",
        "manager-double-slash",
        "manager-v2",
    ],
)
def test_administrator_routes_are_recognised_in_every_spelling(path: str) -> None:
    assert requires_admin(path)


@pytest.mark.parametrize(
    "path",
    [
        "/prompt",
        "/api/userdata/x",
        "/v2/userdata",
        "/internal/folder_paths",
        "/managerx",
        "/internal/files/input",
    ],
)
def test_ordinary_routes_are_not_administrator_routes(path: str) -> None:
    assert not requires_admin(path)


def test_the_canonical_path_decodes_and_normalises() -> None:
    assert canonical_path("/api/%2e%2e/%6Danager//x") == "/manager/x"


async def test_a_user_key_cannot_reach_manager_routes_but_the_admin_key_can(
    direct: TestClient,
) -> None:
    user = await direct.get("/manager/queue/install", headers={"X-API-Key": USER_KEY})
    assert user.status == 403
    admin = await direct.get("/manager/queue/install", headers={"X-API-Key": ADMIN_KEY})
    assert admin.status == 200


async def test_a_disabled_user_is_not_signed_in_by_the_proxy_header(
    behind_proxy: TestClient,
) -> None:
    headers = {"Remote-User": "Erin"}  # names match case-insensitively
    assert (await behind_proxy.get("/auth/me", headers=headers)).status == 200
    disable = await behind_proxy.post(
        "/auth/admin/users/erin/disabled",
        json={"disabled": True},
        headers={"X-API-Key": ADMIN_KEY},
    )
    assert disable.status == 200
    assert (await behind_proxy.get("/auth/me", headers=headers)).status == 401
    assert (await behind_proxy.get("/api/prompt", headers={"X-API-Key": USER_KEY})).status == 401
