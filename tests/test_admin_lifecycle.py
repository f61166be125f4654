"""Set-password links, disabled users, any session ended, and "last used": the rules of
issue 11's second half, each proven by attempts that must fail.

Same in-process host and signed-in browsers as ``test_account_api`` (its fixtures are
reused). Every refusal is a real request; nothing under test is replaced.
"""

from __future__ import annotations

import base64
import json
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from comfyui_auth.core import admin_commands as commands
from comfyui_auth.core.activity import Activity, Seen, key_entry
from comfyui_auth.tests.minimal_host import MinimalHost
from comfyui_auth.tests.test_account_api import (
    PASSWORDS,
    Browser,
    SignIn,
    auth_entries,
    bearer,
    host,
    sign_in,
)

__all__ = ["host", "sign_in"]  # fixtures, used by name

CHOSEN = "chosen-by-the-new-user"


def token_of(link: str) -> str:
    parts = urlsplit(link)
    assert parts.path == "/auth/set-password"
    query = parse_qs(parts.query)
    assert list(query) == ["token"]  # the link carries the token and nothing else
    return query["token"][0]


async def anonymous(root: Browser) -> aiohttp.ClientSession:
    """A fresh browser or script on the same server, signed in as nobody."""
    return aiohttp.ClientSession(base_url=root.origin)


async def post_form(
    client: aiohttp.ClientSession, fields: dict[str, str], **headers: str
) -> aiohttp.ClientResponse:
    origin = str(client._base_url).rstrip("/")
    return await client.post(
        "/auth/set-password",
        data=fields,
        headers={"Origin": origin, **headers},
        allow_redirects=False,
    )


async def invite(root: Browser, name: str = "dora", role: str = "user") -> str:
    status, answer = await root.post(
        "/auth/admin/users", {"name": name, "role": role, "link": True}
    )
    assert status == 201, answer
    assert answer["user"] == name
    assert answer["link_expires"]
    return token_of(answer["link"])


async def can_sign_in(root: Browser, name: str, password: str) -> bool:
    client = await anonymous(root)
    try:
        response = await client.post("/auth/login", json={"username": name, "password": password})
        return response.status == 200
    finally:
        await client.close()


# --- set-password links -----------------------------------------------------------------


async def test_a_new_user_sets_a_password_through_the_link_once(
    sign_in: SignIn, host: MinimalHost
) -> None:
    root = await sign_in("root")
    token = await invite(root)
    entry = next(e for e in auth_entries(host) if e["user"] == "dora")
    assert token not in json.dumps(entry)  # only the digest is stored
    assert entry["set_password"]["hash"].startswith("sha256:")
    assert not await can_sign_in(root, "dora", CHOSEN)

    visitor = await anonymous(root)
    page = await visitor.get("/auth/set-password", params={"token": token})
    assert page.status == 200
    assert "dora" in await page.text()
    form = {"token": token, "password": CHOSEN, "confirm": CHOSEN}
    done = await post_form(visitor, form)
    assert done.status == 303
    assert done.headers["Location"] == "/auth/login?notice=password_set"
    assert await can_sign_in(root, "dora", CHOSEN)
    assert "set_password" not in next(e for e in auth_entries(host) if e["user"] == "dora")

    again = await post_form(visitor, {**form, "password": "someone-else-again", "confirm": "x"})
    assert again.status == 403  # used: refused, and the password stays
    assert (await visitor.get("/auth/set-password", params={"token": token})).status == 403
    assert await can_sign_in(root, "dora", CHOSEN)
    log = host.runtime.settings.audit_log_path.read_text()
    assert token not in log
    assert CHOSEN not in log
    assert "password_set_by_link" in log
    await visitor.close()


def expire_link(host: MinimalHost, name: str) -> str:
    """A link made a day and a half ago (the default lifetime is 24 hours)."""
    then = datetime.now(timezone.utc) - timedelta(hours=36)
    return commands.create_set_password_link(host.runtime.settings, name, then).token


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("expired", 403),
        ("wrong token", 403),
        ("not a token", 403),
        ("user disabled", 403),
        ("replaced by a newer link", 403),
        ("cross-site post", 403),
        ("passwords differ", 400),
        ("password too short", 400),
    ],
)
async def test_set_password_attempts_that_must_fail(
    sign_in: SignIn, host: MinimalHost, case: str, status: int
) -> None:
    root = await sign_in("root")
    token = await invite(root)
    password, confirm, headers = CHOSEN, CHOSEN, {}
    if case == "expired":
        token = expire_link(host, "dora")
        host.runtime.authenticator.credentials.reload_now()
    elif case == "wrong token":
        token = "spl_" + "A" * 43
    elif case == "not a token":
        token = "../../etc/passwd"
    elif case == "user disabled":
        assert (await root.post("/auth/admin/users/dora/disabled", {"disabled": True}))[0] == 200
    elif case == "replaced by a newer link":
        assert (await root.post("/auth/admin/users/dora/link", {}))[0] == 201
    elif case == "cross-site post":
        headers = {"Origin": "https://evil.example"}
    elif case == "passwords differ":
        confirm = CHOSEN + "!"
    elif case == "password too short":
        password = confirm = "short"
    visitor = await anonymous(root)
    fields = {"token": token, "password": password, "confirm": confirm}
    response = await post_form(visitor, fields, **headers)
    assert response.status == status
    assert token not in response.headers.get("Location", "")
    assert not await can_sign_in(root, "dora", password)
    await visitor.close()


async def test_a_reset_link_keeps_the_old_password_until_used_then_ends_sessions(
    sign_in: SignIn,
) -> None:
    root, alice = await sign_in("root"), await sign_in("alice")
    status, answer = await root.post("/auth/admin/users/alice/link", {})
    assert status == 201
    assert (await alice.client.get("/api/prompt")).status == 200  # not used yet
    visitor = await anonymous(root)
    token = token_of(answer["link"])
    form = {"token": token, "password": CHOSEN, "confirm": CHOSEN}
    assert (await post_form(visitor, form)).status == 303
    assert (await alice.client.get("/api/prompt")).status == 401
    assert not await can_sign_in(root, "alice", PASSWORDS["alice"])
    assert await can_sign_in(root, "alice", CHOSEN)
    await visitor.close()


# --- disabled users ---------------------------------------------------------------------


async def basic(client: aiohttp.ClientSession, user: str, password: str) -> int:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    response = await client.get("/api/prompt", headers={"Authorization": f"Basic {encoded}"})
    return response.status


async def websocket_status(client: aiohttp.ClientSession, key: str) -> int:
    try:
        socket = await client.ws_connect("/ws", headers={"X-API-Key": key})
    except aiohttp.WSServerHandshakeError as error:
        return error.status
    await socket.close()
    return 101


CARRIERS = ["session", "api key", "basic password", "basic with key", "login form", "websocket"]


@pytest.mark.parametrize("carrier", CARRIERS)
async def test_a_disabled_user_is_refused_by_every_carrier_and_enabled_again(
    sign_in: SignIn, carrier: str
) -> None:
    root, alice = await sign_in("root"), await sign_in("alice")
    _, created = await alice.post("/auth/account/keys", {"label": "script"})
    key = created["key"]
    other = await anonymous(root)

    async def attempt() -> int:
        if carrier == "session":
            return (await alice.client.get("/api/prompt")).status
        if carrier == "api key":
            return (await other.get("/api/prompt", headers=bearer(key))).status
        if carrier == "basic password":
            return await basic(other, "alice", PASSWORDS["alice"])
        if carrier == "basic with key":
            return await basic(other, "alice", key)
        if carrier == "login form":
            form = {"username": "alice", "password": PASSWORDS["alice"]}
            return (await other.post("/auth/login", json=form)).status
        return await websocket_status(other, key)

    assert await attempt() in (200, 101)  # works before, and the Basic pair is remembered
    status, answer = await root.post("/auth/admin/users/alice/disabled", {"disabled": True})
    assert status == 200
    assert answer["disabled"] is True
    assert await attempt() in (401, 403)
    _, listing = await root.get("/auth/admin/users")
    assert next(u for u in listing["users"] if u["user"] == "alice")["disabled"] is True
    assert (await root.post("/auth/admin/users/alice/disabled", {"disabled": False}))[0] == 200
    if carrier != "session":  # a session ended stays ended; everything else works again
        assert await attempt() in (200, 101)
    await other.close()


async def test_the_last_enabled_administrator_cannot_be_disabled(
    sign_in: SignIn, host: MinimalHost
) -> None:
    root = await sign_in("root")
    status, answer = await root.post("/auth/admin/users/root/disabled", {"disabled": True})
    assert status == 400
    assert "last administrator" in answer["error"]
    await root.post("/auth/admin/users", {"name": "ivy", "role": "admin", "password": CHOSEN})
    assert (await root.post("/auth/admin/users/ivy/disabled", {"disabled": True}))[0] == 200
    # a disabled administrator does not count: root is still the last one
    assert (await root.post("/auth/admin/users/root/role", {"role": "user"}))[0] == 400
    assert (await root.delete("/auth/admin/users/root"))[0] == 400
    assert "disabled" not in next(e for e in auth_entries(host) if e["user"] == "root")


# --- who may call, and what they must send ----------------------------------------------

ADMIN_CALLS = [
    ("POST", "/auth/admin/users", {"name": "x", "link": True}),
    ("POST", "/auth/admin/users/bob/link", {}),
    ("POST", "/auth/admin/users/bob/disabled", {"disabled": True}),
    ("GET", "/auth/admin/users/bob/sessions", None),
    ("DELETE", "/auth/admin/users/bob/sessions/0123456789abcdef", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
async def test_a_user_cannot_call_the_new_administrator_routes(
    sign_in: SignIn, host: MinimalHost, method: str, path: str, body: Any
) -> None:
    alice = await sign_in("alice")
    response = await alice.client.request(method, path, json=body, headers=alice.write_headers())
    assert response.status == 403
    assert "set_password" not in json.dumps(auth_entries(host))
    assert "disabled" not in json.dumps(auth_entries(host))


@pytest.mark.parametrize(("method", "path", "body"), [c for c in ADMIN_CALLS if c[0] != "GET"])
async def test_cookie_writes_without_the_csrf_token_are_refused(
    sign_in: SignIn, host: MinimalHost, method: str, path: str, body: Any
) -> None:
    root = await sign_in("root")
    response = await root.client.request(method, path, json=body, headers={"Origin": root.origin})
    assert response.status == 403
    assert "missing or wrong CSRF token" in (await response.json())["error"]
    assert "set_password" not in json.dumps(auth_entries(host))


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/auth/admin/users", {"name": "x"}),
        ("/auth/admin/users", {"name": "x", "link": True, "password": CHOSEN}),
        ("/auth/admin/users", {"name": "x", "link": "yes"}),
        ("/auth/admin/users", {"name": "", "link": True}),
        ("/auth/admin/users/bob/disabled", {}),
        ("/auth/admin/users/bob/disabled", {"disabled": "true"}),
        ("/auth/admin/users/bob/disabled", []),
    ],
)
async def test_malformed_administration_bodies_get_a_clear_400(
    sign_in: SignIn, path: str, body: Any
) -> None:
    root = await sign_in("root")
    status, answer = await root.post(path, body)
    assert status == 400
    assert isinstance(answer["error"], str)
    assert "Traceback" not in answer["error"]


async def test_unknown_users_and_sessions_are_404(sign_in: SignIn) -> None:
    root = await sign_in("root")
    assert (await root.post("/auth/admin/users/nobody/link", {}))[0] == 404
    assert (await root.post("/auth/admin/users/nobody/disabled", {"disabled": True}))[0] == 404
    assert (await root.delete("/auth/admin/users/bob/sessions/0123456789abcdef"))[0] == 404


async def test_an_administrator_ends_any_session_of_another_user(sign_in: SignIn) -> None:
    root, bob, bob_too = await sign_in("root"), await sign_in("bob"), await sign_in("bob")
    status, listed = await root.get("/auth/admin/users/bob/sessions")
    assert status == 200
    assert len(listed["sessions"]) == 2
    handle = listed["sessions"][0]["id"]
    assert (await root.delete(f"/auth/admin/users/bob/sessions/{handle}"))[0] == 200
    statuses = sorted([(await b.client.get("/api/prompt")).status for b in (bob, bob_too)])
    assert statuses == [200, 401]
    assert (await root.delete(f"/auth/admin/users/bob/sessions/{handle}"))[0] == 404


# --- last used --------------------------------------------------------------------------


async def test_last_use_is_shown_and_written_only_by_the_flush(
    sign_in: SignIn, host: MinimalHost
) -> None:
    alice = await sign_in("alice")
    _, created = await alice.post("/auth/account/keys", {"label": "script"})
    _, before = await alice.get("/auth/account")
    assert before["api_keys"][0]["last_used"] is None
    script = await anonymous(alice)
    headers = {**bearer(created["key"]), "User-Agent": "curl/8.5.0"}
    assert (await script.get("/api/prompt", headers=headers)).status == 200
    _, after = await alice.get("/auth/account")
    key = after["api_keys"][0]
    assert key["last_used"] is not None
    assert key["last_address"] == "127.0.0.1"
    session = next(s for s in after["sessions"] if s["current"])
    assert session["last_seen"] is not None
    assert session["address"] == "127.0.0.1"
    assert session["device"]  # aiohttp's client names itself in User-Agent

    runtime = host.runtime
    path = runtime.settings.activity_path
    assert not path.exists()  # the requests wrote nothing
    runtime.activity.flush(0.0)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    reloaded = Activity(path)
    reloaded.load()
    seen = reloaded.get(key_entry(created["id"]))
    assert seen is not None
    assert seen.device == "curl"
    assert created["key"] not in path.read_text()
    await script.close()


@pytest.mark.parametrize(
    ("user_agent", "device"),
    [
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
         "Chrome on Linux"),
        ("Mozilla/5.0 (Windows NT 10.0; rv:133.0) Gecko/20100101 Firefox/133.0",
         "Firefox on Windows"),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605 Version/17 Safari/605",
         "Safari on macOS"),
        ("curl/8.5.0", "curl"),
        ("\x1b[31mevil\x1b[0m thing", "?[31mevil?[0m"),
        ("", "unknown"),
    ],
)  # fmt: skip
def test_devices_are_described_briefly_and_printably(user_agent: str, device: str) -> None:
    from comfyui_auth.core.activity import describe_device

    assert describe_device(user_agent) == device


@pytest.mark.parametrize(
    "content",
    [b"", b"not json", b"[]", b'{"s:x": 5}', b'{"s:x": [1, 2]}', b'{"s:x": {"at": 1}}'],
)
def test_a_damaged_activity_file_starts_an_empty_table(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "activity.json"
    path.write_bytes(content)
    table = Activity(path)
    table.load()
    assert table.get("s:x") is None
    table.note("s:y", 1.0, "127.0.0.1", "curl")
    table.flush(100.0)
    again = Activity(path)
    again.load()
    assert again.get("s:y") == Seen(1.0, "127.0.0.1", "curl")
