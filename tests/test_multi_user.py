"""Several people on one server: nobody can name another user or take over their socket."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import WSServerHandshakeError
from aiohttp.test_utils import TestClient, TestServer

from comfyui_auth.core.api_keys import digest_token, generate_token
from comfyui_auth.core.passwords import PasswordVerifier, make_hasher
from comfyui_auth.middleware.host_users import host_user_id
from comfyui_auth.tests.minimal_host import build_minimal_host

VERIFIER = PasswordVerifier(make_hasher(cheap_for_tests=True))
ALICE_KEY, ALICE_ID = generate_token()
BOB_KEY, BOB_ID = generate_token()


def user_entry(name: str, key_id: str, key: str) -> dict[str, object]:
    return {
        "user": name,
        "hash": VERIFIER.hash(f"{name}-password-123"),
        "api_keys": [{"id": key_id, "name": "script", "hash": digest_token(key.encode())}],
    }


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    auth_file = tmp_path / "auth.json"
    auth_file.write_text(
        json.dumps([user_entry("alice", ALICE_ID, ALICE_KEY), user_entry("bob", BOB_ID, BOB_KEY)])
    )
    host = build_minimal_host(tmp_path, {"COMFYUI_AUTH_FILE": str(auth_file)})
    async with TestClient(TestServer(host.app, host="127.0.0.1")) as test_client:
        yield test_client


@pytest.mark.parametrize(
    "claimed",
    ["alice", "auth_alice", "default", "", "__auth"],
    ids=["other-name", "other-host-id", "default-user", "empty", "system-user"],
)
async def test_the_comfy_user_header_always_names_the_authenticated_user(
    client: TestClient, claimed: str
) -> None:
    response = await client.get(
        "/api/userdata/x.json",
        headers={"Authorization": f"Bearer {BOB_KEY}", "Comfy-User": claimed},
    )
    assert response.status == 200
    assert await response.json() == {"comfy_user": [host_user_id("bob")]}


async def test_a_per_user_key_identifies_its_user(client: TestClient) -> None:
    me = await client.get("/auth/me", headers={"X-API-Key": ALICE_KEY})
    assert await me.json() == {"user": "alice", "role": "user", "via": "api_key"}


async def test_another_users_websocket_client_id_cannot_be_taken_over(client: TestClient) -> None:
    alice = await client.ws_connect(f"/ws?clientId=alices-tab&api_key={ALICE_KEY}")
    assert (await alice.receive_json())["data"]["sid"] == "alices-tab"
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect(f"/ws?clientId=alices-tab&api_key={BOB_KEY}")
    assert refused.value.status == 403
    again = await client.ws_connect(f"/ws?clientId=alices-tab&api_key={ALICE_KEY}")
    await again.close()
    await alice.close()
