"""Sessions and the signing key survive a restart; the key file is private."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from comfyui_auth.core.passwords import PasswordVerifier, make_hasher
from comfyui_auth.core.session_store import SessionStore
from comfyui_auth.core.sessions import SqliteSessionStore
from comfyui_auth.tests.minimal_host import build_minimal_host

VERIFIER = PasswordVerifier(make_hasher(cheap_for_tests=True))


async def test_a_session_survives_a_restart_of_the_server(tmp_path: Path) -> None:
    auth_file = tmp_path / "auth.json"
    auth_file.write_text(json.dumps([{"user": "gina", "hash": VERIFIER.hash("gina-password-1")}]))
    env = {"COMFYUI_AUTH_FILE": str(auth_file)}
    first = build_minimal_host(tmp_path, env)
    async with TestClient(TestServer(first.app, host="127.0.0.1")) as client:
        response = await client.post(
            "/auth/login", json={"username": "gina", "password": "gina-password-1"}
        )
        cookie = response.cookies["comfyui_auth_session"].value
    first.runtime.authenticator.sessions.close()

    second = build_minimal_host(tmp_path, env)
    async with TestClient(TestServer(second.app, host="127.0.0.1")) as client:
        me = await client.get("/auth/me", headers={"Cookie": f"comfyui_auth_session={cookie}"})
        assert await me.json() == {"user": "gina", "role": "user", "via": "session"}


def test_the_signing_key_and_session_database_are_private(tmp_path: Path) -> None:
    host = build_minimal_host(tmp_path, {"COMFYUI_API_KEY": "private-files-key-0123456789"})
    settings = host.runtime.settings
    assert stat.S_IMODE(settings.state_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(settings.signing_key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.sessions_path.stat().st_mode) == 0o600
    assert len(bytes.fromhex(settings.signing_key_path.read_text().strip())) == 32


def test_the_database_lists_a_users_live_sessions_oldest_first(tmp_path: Path) -> None:
    now = [1_000_000.0]
    sessions = SqliteSessionStore(tmp_path / "sessions.db", clock=lambda: now[0])
    assert_lists_live_sessions_oldest_first(sessions, now)
    sessions.close()


def assert_lists_live_sessions_oldest_first(sessions: SessionStore, now: list[float]) -> None:
    """What the account page shows: live sessions only, ended and expired ones left out.
    ``now`` is the store's clock; both stores (SQLite and Redis) must answer alike."""
    _, first = sessions.create(user="gina", key_id=None, tag="t", lifetime=600, persistent=True)
    now[0] += 1
    _, ended = sessions.create(user="gina", key_id=None, tag="t", lifetime=600, persistent=True)
    now[0] += 1
    _, short = sessions.create(user="gina", key_id="k1", tag="t", lifetime=5, persistent=False)
    sessions.create(user="hugo", key_id=None, tag="t", lifetime=600, persistent=False)
    sessions.end(ended.id_hash)
    assert sessions.for_user("gina") == [first, short]
    now[0] += 10
    assert sessions.for_user("gina") == [first]
    assert sessions.for_user("nobody") == []
