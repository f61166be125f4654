"""The account and user-administration API under ``/auth/`` against the in-process host.

Browsers sign in with a password and write with the CSRF header; scripts use API keys.
Every change lands in ``auth.json`` through ``admin_commands`` and is enforced by the very
next request, without waiting for the file watcher.
"""

from __future__ import annotations

import json
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from comfyui_auth.core.passwords import PasswordVerifier, make_hasher
from comfyui_auth.tests.minimal_host import MinimalHost, build_minimal_host

VERIFIER = PasswordVerifier(make_hasher(cheap_for_tests=True))
PASSWORDS = {"root": "root-password-123", "alice": "alice-password-123", "bob": "bob-password-1234"}
NEW_PASSWORD = "a-brand-new-password"


class Browser:
    """A signed-in browser: its cookie jar, its CSRF token and its origin."""

    def __init__(self, client: TestClient, csrf: str) -> None:
        self.client = client
        self.csrf = csrf
        self.origin = str(client.make_url("/")).rstrip("/")

    def write_headers(self) -> dict[str, str]:
        return {"Origin": self.origin, "X-CSRF-Token": self.csrf}

    async def post(self, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        response = await self.client.post(path, json=body, headers=self.write_headers())
        return response.status, await response.json()

    async def delete(self, path: str) -> tuple[int, dict[str, Any]]:
        response = await self.client.delete(path, headers=self.write_headers())
        return response.status, await response.json()

    async def get(self, path: str) -> tuple[int, dict[str, Any]]:
        response = await self.client.get(path)
        return response.status, await response.json()


SignIn = Callable[[str], Awaitable[Browser]]


@pytest.fixture
async def host(tmp_path: Path) -> MinimalHost:
    auth_file = tmp_path / "auth.json"
    entries = [
        {"user": "root", "hash": VERIFIER.hash(PASSWORDS["root"]), "role": "admin", "team": "x"},
        {"user": "alice", "hash": VERIFIER.hash(PASSWORDS["alice"])},
        {"user": "bob", "hash": VERIFIER.hash(PASSWORDS["bob"])},
    ]
    auth_file.write_text(json.dumps(entries))
    auth_file.chmod(0o600)
    return build_minimal_host(tmp_path, {"COMFYUI_AUTH_FILE": str(auth_file)})


@pytest.fixture
async def sign_in(host: MinimalHost) -> AsyncIterator[SignIn]:
    clients: list[TestClient] = []
    server = TestServer(host.app, host="127.0.0.1")
    await server.start_server()

    async def open_browser(name: str, password: str | None = None) -> Browser:
        client = TestClient(server)
        await client.start_server()
        clients.append(client)
        response = await client.post(
            "/auth/login", json={"username": name, "password": password or PASSWORDS[name]}
        )
        assert response.status == 200
        cookies = client.session.cookie_jar.filter_cookies(client.make_url("/"))
        return Browser(client, cookies["comfyui_auth_csrf"].value)

    yield open_browser
    for client in clients:
        await client.close()
    await server.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def auth_entries(host: MinimalHost) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(host.runtime.settings.auth_file.read_text())
    return entries


async def test_a_user_creates_a_key_uses_it_revokes_it_and_is_refused(sign_in: SignIn) -> None:
    alice = await sign_in("alice")
    status, created = await alice.post("/auth/account/keys", {"label": "krita", "expires_days": 7})
    assert status == 201
    token = created["key"]
    assert token.startswith("cak_")
    assert created["label"] == "krita"
    assert created["expires"]
    assert await script_get(alice, "/api/prompt", bearer(token)) == 200
    status, account = await alice.get("/auth/account")
    assert [key["id"] for key in account["api_keys"]] == [created["id"]]
    assert token not in json.dumps(account)
    assert "sha256" not in json.dumps(account)
    status, revoked = await alice.delete(f"/auth/account/keys/{created['id']}")
    assert (status, revoked["sessions_ended"]) == (200, 0)
    assert await script_get(alice, "/api/prompt", bearer(token)) == 401
    _, account = await alice.get("/auth/account")
    assert account["api_keys"] == []


async def script_get(browser: Browser, path: str, headers: dict[str, str]) -> int:
    """A request from a script: no cookie jar, only the headers given."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(browser.client.make_url(path), headers=headers) as response,
    ):
        return response.status


async def test_a_script_with_its_own_key_needs_no_csrf_token(
    sign_in: SignIn, host: MinimalHost
) -> None:
    alice = await sign_in("alice")
    _, created = await alice.post("/auth/account/keys", {"label": "script"})
    async with aiohttp.ClientSession() as script:
        url = alice.client.make_url("/auth/account/keys")
        async with script.post(url, json={"label": "second"}, headers=bearer(created["key"])) as r:
            assert r.status == 201
            assert (await r.json())["expires"] is None
    alice_entry = next(e for e in auth_entries(host) if e["user"] == "alice")
    assert [key["name"] for key in alice_entry["api_keys"]] == ["script", "second"]


async def test_the_file_stays_private_and_keeps_unknown_fields(
    sign_in: SignIn, host: MinimalHost
) -> None:
    alice = await sign_in("alice")
    assert (await alice.post("/auth/account/keys", {"label": "x"}))[0] == 201
    path = host.runtime.settings.auth_file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert next(e for e in auth_entries(host) if e["user"] == "root")["team"] == "x"


async def test_a_user_cannot_revoke_another_users_key(sign_in: SignIn, host: MinimalHost) -> None:
    alice, bob = await sign_in("alice"), await sign_in("bob")
    _, created = await alice.post("/auth/account/keys", {"label": "mine"})
    status, answer = await bob.delete(f"/auth/account/keys/{created['id']}")
    assert status == 404
    assert "id" not in answer or answer.get("id") is None
    assert await script_get(alice, "/api/prompt", bearer(created["key"])) == 200


async def test_changing_the_password_needs_the_current_one_and_ends_other_sessions(
    sign_in: SignIn,
) -> None:
    here, elsewhere = await sign_in("alice"), await sign_in("alice")
    body = {"current": "not-the-password", "new": NEW_PASSWORD}
    status, answer = await here.post("/auth/account/password", body)
    assert status == 403
    assert "current password" in answer["error"]
    status, answer = await here.post(
        "/auth/account/password", {"current": PASSWORDS["alice"], "new": "short"}
    )
    assert status == 400
    assert "12 characters" in answer["error"]
    status, answer = await here.post(
        "/auth/account/password", {"current": PASSWORDS["alice"], "new": NEW_PASSWORD}
    )
    assert status == 200
    assert answer["sessions_ended"] == 2
    assert (await elsewhere.client.get("/api/prompt")).status == 401
    cookies = here.client.session.cookie_jar.filter_cookies(here.client.make_url("/"))
    here.csrf = cookies["comfyui_auth_csrf"].value
    assert (await here.client.get("/api/prompt")).status == 200  # this browser stays in
    status, account = await here.get("/auth/account")
    assert [session["current"] for session in account["sessions"]] == [True]
    assert (await sign_in("alice", NEW_PASSWORD)).csrf


async def test_wrong_current_passwords_are_throttled(sign_in: SignIn, host: MinimalHost) -> None:
    alice = await sign_in("alice")
    limit = host.runtime.settings.failure_limit
    statuses = [
        (await alice.post("/auth/account/password", {"current": "wrong", "new": NEW_PASSWORD}))[0]
        for _ in range(limit + 1)
    ]
    assert statuses[:limit] == [403] * limit
    assert statuses[-1] == 429
    right = {"current": PASSWORDS["alice"], "new": NEW_PASSWORD}
    assert (await alice.post("/auth/account/password", right))[0] == 429


async def test_a_user_cannot_reach_the_administrator_routes(sign_in: SignIn) -> None:
    alice = await sign_in("alice")
    assert (await alice.get("/auth/admin/users"))[0] == 403
    add = {"name": "eve", "role": "admin", "password": NEW_PASSWORD}
    assert (await alice.post("/auth/admin/users", add))[0] == 403
    assert (await alice.post("/auth/admin/users/alice/role", {"role": "admin"}))[0] == 403
    assert (await alice.delete("/auth/admin/users/root"))[0] == 403
    assert (await alice.get("/auth/%61dmin/users"))[0] in (403, 404)


async def test_an_administrator_adds_resets_promotes_and_removes_users(
    sign_in: SignIn, host: MinimalHost
) -> None:
    root = await sign_in("root")
    status, _ = await root.post(
        "/auth/admin/users", {"name": "carol", "role": "user", "password": NEW_PASSWORD}
    )
    assert status == 201
    carol = await sign_in("carol", NEW_PASSWORD)  # at once: no wait for the watcher
    status, listing = await root.get("/auth/admin/users")
    rows = {row["user"]: row for row in listing["users"]}
    assert rows["carol"].pop("last_sign_in") is not None  # carol just signed in
    assert rows["carol"] == {
        "user": "carol",
        "role": "user",
        "disabled": False,
        "link_pending": False,
        "api_keys": 0,
        "sessions": 1,
    }
    again = {"name": "Carol", "role": "user", "password": NEW_PASSWORD}
    assert (await root.post("/auth/admin/users", again))[0] == 400
    reset = {"password": "reset-by-the-admin"}
    status, answer = await root.post("/auth/admin/users/carol/password", reset)
    assert status == 200
    assert answer["sessions_ended"] == 1
    assert (await carol.client.get("/api/prompt")).status == 401
    carol = await sign_in("carol", "reset-by-the-admin")
    assert (await root.post("/auth/admin/users/carol/role", {"role": "admin"}))[0] == 200
    assert (await carol.client.get("/api/prompt")).status == 401  # the role change ended it
    carol = await sign_in("carol", "reset-by-the-admin")
    assert (await carol.get("/auth/admin/users"))[0] == 200
    status, answer = await root.delete("/auth/admin/users/carol")
    assert status == 200
    assert answer["sessions_ended"] == 1
    assert (await carol.client.get("/api/prompt")).status == 401
    assert "carol" not in {entry["user"] for entry in auth_entries(host)}
    assert (await root.delete("/auth/admin/users/carol"))[0] == 404


async def test_the_last_administrator_can_be_neither_removed_nor_demoted(sign_in: SignIn) -> None:
    root = await sign_in("root")
    status, answer = await root.delete("/auth/admin/users/root")
    assert status == 400
    assert "last administrator" in answer["error"]
    status, answer = await root.post("/auth/admin/users/ROOT/role", {"role": "user"})
    assert status == 400
    assert "last administrator" in answer["error"]
    assert (await root.post("/auth/admin/users/alice/role", {"role": "admin"}))[0] == 200
    assert (await root.post("/auth/admin/users/root/role", {"role": "user"}))[0] == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/auth/account/keys", "not json"),
        ("/auth/account/keys", ["a list"]),
        ("/auth/account/keys", {"label": ""}),
        ("/auth/account/keys", {"label": 3}),
        ("/auth/account/keys", {"label": "x", "expires_days": 0}),
        ("/auth/account/keys", {"label": "x", "expires_days": "7"}),
        ("/auth/account/keys", {"label": "x", "expires_days": True}),
        ("/auth/account/keys", {"label": "tab\there"}),
        ("/auth/account/password", {"current": PASSWORDS["root"]}),
        ("/auth/admin/users", {"name": "x", "role": "owner", "password": NEW_PASSWORD}),
        ("/auth/admin/users", {"name": "bad\nname", "password": NEW_PASSWORD}),
        ("/auth/admin/users", {"name": "dave", "password": "short"}),
        ("/auth/admin/users/alice/role", {"role": None}),
    ],
)
async def test_malformed_bodies_get_a_clear_400(sign_in: SignIn, path: str, body: Any) -> None:
    root = await sign_in("root")
    headers = {**root.write_headers(), "Content-Type": "application/json"}
    data = body if isinstance(body, str) else json.dumps(body)
    response = await root.client.post(path, data=data, headers=headers)
    assert response.status == 400
    answer = await response.json()
    assert answer["error"]
    assert NEW_PASSWORD not in answer["error"]


async def test_a_form_post_is_not_read_as_the_api(sign_in: SignIn) -> None:
    root = await sign_in("root")
    response = await root.client.post(
        "/auth/account/keys", data={"label": "x"}, headers=root.write_headers()
    )
    assert response.status == 400


async def test_cross_site_and_tokenless_cookie_writes_are_refused(
    sign_in: SignIn, host: MinimalHost
) -> None:
    alice = await sign_in("alice")
    cross = await alice.client.post(
        "/auth/account/keys",
        json={"label": "x"},
        headers={"Origin": "https://evil.example", "X-CSRF-Token": alice.csrf},
    )
    assert cross.status == 403
    tokenless = await alice.client.post(
        "/auth/account/keys", json={"label": "x"}, headers={"Origin": alice.origin}
    )
    assert tokenless.status == 403
    assert "api_keys" not in next(e for e in auth_entries(host) if e["user"] == "alice")


async def test_changes_are_audited_without_secrets(sign_in: SignIn, host: MinimalHost) -> None:
    root = await sign_in("root")
    _, created = await root.post("/auth/account/keys", {"label": "audited"})
    await root.post("/auth/admin/users", {"name": "erin", "password": NEW_PASSWORD})
    log = host.runtime.settings.audit_log_path.read_text()
    events = [json.loads(line)["event"] for line in log.splitlines()]
    assert "api_key_created" in events
    assert "user_added" in events
    assert created["key"] not in log
    assert NEW_PASSWORD not in log


async def test_a_user_signs_out_another_browser_but_not_someone_elses(sign_in: SignIn) -> None:
    here, elsewhere, bob = await sign_in("alice"), await sign_in("alice"), await sign_in("bob")
    _, account = await here.get("/auth/account")
    current = next(s["id"] for s in account["sessions"] if s["current"])
    other = next(s["id"] for s in account["sessions"] if not s["current"])
    assert (await bob.delete(f"/auth/account/sessions/{other}"))[0] == 404
    assert (await here.delete(f"/auth/account/sessions/{current}"))[0] == 404
    assert (await elsewhere.client.get("/api/prompt")).status == 200
    assert (await here.delete(f"/auth/account/sessions/{other}"))[0] == 200
    assert (await elsewhere.client.get("/api/prompt")).status == 401
    assert (await here.client.get("/api/prompt")).status == 200
