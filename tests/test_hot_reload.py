"""Edits of auth.json and the key file apply while the server runs, within two seconds."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from comfyui_auth.core.passwords import PasswordVerifier, make_hasher
from comfyui_auth.tests.minimal_host import MinimalHost, build_minimal_host

VERIFIER = PasswordVerifier(make_hasher(cheap_for_tests=True))
KEY_ONE = "first-admin-key-0123456789"
KEY_TWO = "second-admin-key-0123456789"


def users(*names: str) -> str:
    return json.dumps([{"user": n, "hash": VERIFIER.hash(f"{n}-password-123")} for n in names])


async def within_two_seconds(check: Callable[[], Awaitable[bool]]) -> float:
    """Seconds until ``check`` holds; fails the test after two seconds."""
    start = time.monotonic()
    while not await check():
        assert time.monotonic() - start < 2.0, "the change was not applied within two seconds"
        await asyncio.sleep(0.05)
    return time.monotonic() - start


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Path, Path, TestClient, MinimalHost]]:
    auth_file, key_file = tmp_path / "auth.json", tmp_path / "key"
    auth_file.write_text(users("alice"))
    key_file.write_text(KEY_ONE + "\n")
    host = build_minimal_host(
        tmp_path, {"COMFYUI_AUTH_FILE": str(auth_file), "COMFYUI_API_KEY_FILE": str(key_file)}
    )
    async with TestClient(TestServer(host.app, host="127.0.0.1")) as client:
        yield auth_file, key_file, client, host


async def login_status(client: TestClient, name: str) -> int:
    response = await client.post(
        "/auth/login", json={"username": name, "password": f"{name}-password-123"}
    )
    return response.status


async def test_a_new_user_can_sign_in_without_a_restart(
    served: tuple[Path, Path, TestClient, MinimalHost],
) -> None:
    auth_file, _, client, host = served
    assert await login_status(client, "bob") == 401
    auth_file.write_text(users("alice", "bob"))

    async def bob_is_known() -> bool:  # polling by logging in would trip the throttle
        return host.runtime.authenticator.credentials.current.user("bob") is not None

    await within_two_seconds(bob_is_known)
    assert await login_status(client, "bob") == 200


async def test_a_removed_user_loses_their_session(
    served: tuple[Path, Path, TestClient, MinimalHost],
) -> None:
    auth_file, _, client, _ = served
    assert await login_status(client, "alice") == 200
    assert (await client.get("/auth/me")).status == 200
    auth_file.write_text(users("bob"))

    async def alice_is_out() -> bool:
        return (await client.get("/auth/me")).status == 401

    await within_two_seconds(alice_is_out)


async def test_a_rotated_key_file_revokes_the_old_key(
    served: tuple[Path, Path, TestClient, MinimalHost],
) -> None:
    _, key_file, client, host = served
    assert (await client.get("/api/prompt", headers={"X-API-Key": KEY_ONE})).status == 200
    key_file.write_text(KEY_TWO + "\n")

    async def rotated() -> bool:  # polling with the old key would trip the throttle
        admin_key = host.runtime.authenticator.credentials.current.admin_key
        return admin_key is not None and admin_key.matches(KEY_TWO.encode())

    await within_two_seconds(rotated)
    assert (await client.get("/api/prompt", headers={"X-API-Key": KEY_ONE})).status == 401
    assert (await client.get("/api/prompt", headers={"X-API-Key": KEY_TWO})).status == 200


async def test_a_broken_edit_keeps_the_last_good_configuration(
    served: tuple[Path, Path, TestClient, MinimalHost], caplog: pytest.LogCaptureFixture
) -> None:
    auth_file, _, client, _ = served
    auth_file.write_text('[{"user": "alice", "hash": ')

    async def reported() -> bool:
        return "kept the last good configuration" in caplog.text

    await within_two_seconds(reported)
    assert "not valid JSON (line 1" in caplog.text
    assert await login_status(client, "alice") == 200
    client.session.cookie_jar.clear()
    assert (await client.get("/api/prompt")).status == 401
