"""Adversarial tables beyond path tricks (those are in ``test_bypass_table``).

Sessions (forged, tampered, expired, replayed, fixated, outlived credentials), CSRF, WebSocket
upgrades, credentials, throttling, multi-user isolation, configuration faults and information
leaks. Every case names the exact answer it must get; a refused case never reaches a host
handler. Cookies are sent by hand (the client keeps none), so each case says exactly which
cookie an attacker holds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import json
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import DummyCookieJar, WSServerHandshakeError, web
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDict

from comfyui_auth.core.api_keys import digest_token, generate_token
from comfyui_auth.core.cookie_signing import CookieSigner
from comfyui_auth.core.passwords import PasswordVerifier, make_hasher
from comfyui_auth.core.settings import load_settings
from comfyui_auth.middleware import credential_watcher
from comfyui_auth.middleware.fail_closed import close_host
from comfyui_auth.middleware.host_adapter import HostAdapter
from comfyui_auth.middleware.host_users import host_user_id
from comfyui_auth.middleware.install import install
from comfyui_auth.middleware.login_routes import KEY_FAILED, LOGIN_FAILED
from comfyui_auth.middleware.request_credentials import CSRF_COOKIE, SESSION_COOKIE
from comfyui_auth.tests.minimal_host import FakeQueue, MinimalHost, build_minimal_host
from comfyui_auth.tests.raw_http import raw_request

VERIFIER = PasswordVerifier(make_hasher(cheap_for_tests=True))
ALICE_PASSWORD = "alice-password-123"
BOB_PASSWORD = "bob-password-456"
CAROL_PASSWORD = "carol-legacy-789"
ADMIN_KEY = "adversarial-admin-key-0123456789"
ROTATED_ADMIN_KEY = "adversarial-rotated-key-0123456789"
ALICE_KEY, ALICE_KEY_ID = generate_token()
BOB_KEY, BOB_KEY_ID = generate_token()
ALICE_HASH = VERIFIER.hash(ALICE_PASSWORD)
BOB_HASH = VERIFIER.hash(BOB_PASSWORD)
CAROL_SHA256 = hashlib.sha256(CAROL_PASSWORD.encode()).hexdigest()


def fullwidth(text: str) -> str:
    """The NFKC-equivalent fullwidth spelling: "alice" -> "\uff41\uff4c\uff49\uff43\uff45"."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


NOT_SIGNED_IN = {"error": "authentication required"}
CROSS_SITE = {"error": "cross-site request refused"}
BAD_TOKEN = {"error": "missing or wrong CSRF token"}
TAKEN_CLIENT_ID = {"error": "this clientId belongs to another user"}
ADMIN_ONLY = {"error": "this route is for administrators"}
BOTH_OR_NEITHER = {"error": "Send a user name and password, or an API key."}
TOO_LARGE = {"error": "request body larger than 16384 bytes"}
EVIL = "https://evil.example"
OWN_NAVIGATION = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate",
                  "Sec-Fetch-Dest": "document"}  # fmt: skip
WS_HANDSHAKE = (
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
)


# --- the site under attack ------------------------------------------------------------------


def alice_entry(**changes: Any) -> dict[str, Any]:
    key = {"id": ALICE_KEY_ID, "name": "script", "hash": digest_token(ALICE_KEY.encode())}
    return {"user": "alice", "hash": ALICE_HASH, "api_keys": [key], **changes}


def bob_entry() -> dict[str, Any]:
    key = {"id": BOB_KEY_ID, "name": "script", "hash": digest_token(BOB_KEY.encode())}
    return {"user": "bob", "hash": BOB_HASH, "api_keys": [key]}


def carol_entry() -> dict[str, Any]:
    return {"user": "carol", "hash": CAROL_SHA256}


DEFAULT_USERS = (alice_entry, bob_entry, carol_entry)


@dataclass(frozen=True)
class Session:
    """The two cookies a browser got at sign-in."""

    cookie: str
    csrf: str

    @property
    def id_part(self) -> str:
        return self.cookie.rsplit(".", 1)[0]

    def header(self) -> tuple[str, str]:
        return ("Cookie", f"{SESSION_COOKIE}={self.cookie}")


@dataclass
class Site:
    host: MinimalHost
    client: TestClient
    auth_file: Path
    key_file: Path

    @property
    def runtime(self) -> Any:
        return self.host.runtime

    @property
    def origin(self) -> str:
        return str(self.client.make_url("/")).rstrip("/")

    @property
    def port(self) -> int:
        return self.client.port or 0

    def write_users(self, *entries: dict[str, Any]) -> None:
        self.auth_file.write_text(json.dumps(list(entries)))

    async def sign_in(
        self, user: str = "alice", password: str = ALICE_PASSWORD, cookie: str | None = None
    ) -> Session:
        headers = {"Cookie": f"{SESSION_COOKIE}={cookie}"} if cookie else {}
        response = await self.client.post(
            "/auth/login", json={"username": user, "password": password}, headers=headers
        )
        assert response.status == 200, await response.text()
        return Session(response.cookies[SESSION_COOKIE].value, response.cookies[CSRF_COOKIE].value)

    async def sign_in_with_key(self, key: str) -> Session:
        response = await self.client.post("/auth/login", json={"api_key": key})
        assert response.status == 200, await response.text()
        return Session(response.cookies[SESSION_COOKIE].value, response.cookies[CSRF_COOKIE].value)

    async def me(self, cookie: str) -> tuple[int, dict[str, Any]]:
        response = await self.client.get(
            "/auth/me", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"}
        )
        return response.status, await response.json()

    async def until(self, check: Callable[[], Awaitable[bool]], seconds: float = 3.0) -> None:
        """Wait for the credential watcher (polling every 20 ms here) to apply an edit."""
        deadline = time.monotonic() + seconds
        while not await check():
            assert time.monotonic() < deadline, "the watcher did not apply the edit in time"
            await asyncio.sleep(0.02)


MakeSite = Callable[..., Awaitable[Site]]


@pytest.fixture
async def make_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[MakeSite]:
    """``make_site(env=..., users=..., cors=False)``: a served minimal host, no cookie jar."""
    monkeypatch.setattr(credential_watcher, "POLL_SECONDS", 0.02)
    clients: list[TestClient] = []

    async def make(
        env: dict[str, str] | None = None,
        users: Iterable[dict[str, Any]] | None = None,
        cors: bool = False,
    ) -> Site:
        base = tmp_path / f"site{len(clients)}"
        base.mkdir()
        auth_file, key_file = base / "auth.json", base / "admin.key"
        entries = [make() for make in DEFAULT_USERS] if users is None else list(users)
        auth_file.write_text(json.dumps(entries))
        key_file.write_text(ADMIN_KEY + "\n")
        host = build_minimal_host(
            base,
            {
                "COMFYUI_AUTH_FILE": str(auth_file),
                "COMFYUI_API_KEY_FILE": str(key_file),
                **(env or {}),
            },
        )
        if cors:  # as HostAdapter.from_prompt_server reads --enable-cors-header
            host.runtime.host = dataclasses.replace(host.runtime.host, cors_origin="*")
            host.app.middlewares.append(comfyui_cors_middleware)
        client = TestClient(TestServer(host.app, host="127.0.0.1"), cookie_jar=DummyCookieJar())
        await client.start_server()
        clients.append(client)
        return Site(host, client, auth_file, key_file)

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def site(make_site: MakeSite) -> Site:
    return await make_site()


@web.middleware
async def comfyui_cors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """ComfyUI's ``--enable-cors-header *`` (server.create_cors_middleware), behind ours."""
    response = web.Response() if request.method == "OPTIONS" else await handler(request)
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Allow-Methods"] = "POST, GET, DELETE, PUT, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
    response.headers["Access-Control-Allow-Credentials"] = "true"
    return response


def signing_key(site: Site) -> bytes:
    return bytes.fromhex(site.runtime.settings.signing_key_path.read_text().strip())


def _changed_at(text: str, index: int) -> str:
    """``text`` with the character at ``index`` replaced by another base64 character."""
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + (text[index + 1 :] if index != -1 else "")


def other_id(session: Session) -> str:
    """A different id of the same shape: one character of the id changed."""
    return _changed_at(session.id_part, 0)


# --- sessions: cookies that are not a live session ------------------------------------------


async def _expired(site: Site, alice: Session) -> str:
    store = site.runtime.authenticator.credentials.current
    tag = store.credential_tag("alice", None, time.time())
    session_id, _ = site.runtime.authenticator.sessions.create(
        user="alice", key_id=None, tag=tag, lifetime=-1.0, persistent=False
    )
    return str(site.runtime.cookies.sign(session_id))


async def _after_json_logout(site: Site, alice: Session) -> str:
    response = await site.client.post(
        "/auth/logout", headers={"Origin": site.origin, "Cookie": alice.header()[1]}
    )
    assert response.status == 200
    return alice.cookie


async def _after_form_logout(site: Site, alice: Session) -> str:
    response = await site.client.post(
        "/auth/logout",
        data={"csrf_token": alice.csrf},  # what the sign-out confirmation page posts
        headers={"Origin": site.origin, "Cookie": alice.header()[1]},
        allow_redirects=False,
    )
    assert response.status == 303
    return alice.cookie


async def _after_legacy_logout_link(site: Site, alice: Session) -> str:
    response = await site.client.get(
        "/auth_login.html?logout=true", headers={"Cookie": alice.header()[1], **OWN_NAVIGATION}
    )
    assert response.status == 200
    return alice.cookie


async def _after_a_new_login(site: Site, alice: Session) -> str:
    await site.sign_in(cookie=alice.cookie)
    return alice.cookie


SESSION_COOKIES = [
    pytest.param(lambda site, alice: _value("not-a-session"), id="random-text"),
    pytest.param(lambda site, alice: _value(alice.id_part), id="session-id-without-signature"),
    pytest.param(
        lambda site, alice: _value(CookieSigner([b"k" * 32]).sign(alice.id_part)),
        id="signed-with-another-key",
    ),
    pytest.param(
        lambda site, alice: _value(other_id(alice) + "." + alice.cookie.rsplit(".", 1)[1]),
        id="id-changed-signature-kept",
    ),
    pytest.param(lambda site, alice: _value(alice.cookie[:-4]), id="signature-truncated"),
    pytest.param(
        lambda site, alice: _value(_changed_at(alice.cookie, -20)),
        id="signature-character-changed",
    ),
    pytest.param(lambda site, alice: _value(alice.cookie + "A" * 400), id="oversized-cookie"),
    pytest.param(
        lambda site, alice: _value(site.runtime.cookies.sign("attacker-chosen-id")),
        id="server-signed-unknown-session-id",
    ),
    pytest.param(
        lambda site, alice: _value(
            site.runtime.cookies.sign(hashlib.sha256(alice.id_part.encode()).hexdigest())
        ),
        id="stored-digest-instead-of-id",
    ),
    pytest.param(lambda site, alice: _value(alice.csrf), id="csrf-token-as-session-cookie"),
    pytest.param(_expired, id="expired-session"),
    pytest.param(_after_json_logout, id="replayed-after-logout"),
    pytest.param(_after_form_logout, id="replayed-after-form-logout"),
    pytest.param(_after_legacy_logout_link, id="replayed-after-legacy-logout-link"),
    pytest.param(_after_a_new_login, id="replaced-by-a-new-login"),
]


async def _value(cookie: str) -> str:
    return cookie


@pytest.mark.parametrize("make_cookie", SESSION_COOKIES)
async def test_a_cookie_that_is_not_a_live_session_signs_nobody_in(
    site: Site, make_cookie: Callable[[Site, Session], Awaitable[str]]
) -> None:
    alice = await site.sign_in()
    cookie = await make_cookie(site, alice)
    status, body = await site.me(cookie)
    assert (status, body) == (401, NOT_SIGNED_IN)
    write = await site.client.post(
        "/api/prompt",
        json={},
        headers={
            "Cookie": f"{SESSION_COOKIE}={cookie}",
            "Origin": site.origin,
            "X-CSRF-Token": alice.csrf,
        },
    )
    assert (write.status, await write.json()) == (401, NOT_SIGNED_IN)
    assert site.host.calls == []


# --- sessions: fixation ---------------------------------------------------------------------


async def _planted_forged(site: Site) -> str:
    return "attacker-planted-value"


async def _planted_attackers_session(site: Site) -> str:
    return (await site.sign_in("bob", BOB_PASSWORD)).cookie


async def _planted_victims_old_session(site: Site) -> str:
    return (await site.sign_in()).cookie


async def _planted_server_signed_id(site: Site) -> str:
    return str(site.runtime.cookies.sign("attacker-chosen-session-id"))


@pytest.mark.parametrize(
    "plant",
    [
        pytest.param(_planted_forged, id="forged-cookie"),
        pytest.param(_planted_attackers_session, id="attackers-own-session"),
        pytest.param(_planted_victims_old_session, id="victims-previous-session"),
        pytest.param(_planted_server_signed_id, id="attacker-chosen-id-validly-signed"),
    ],
)
async def test_signing_in_never_keeps_a_cookie_planted_before_login(
    site: Site, plant: Callable[[Site], Awaitable[str]]
) -> None:
    planted = await plant(site)
    after = await site.sign_in(cookie=planted)
    assert after.cookie != planted
    assert after.id_part != planted.rsplit(".", 1)[0]
    assert await site.me(planted) == (401, NOT_SIGNED_IN)
    status, body = await site.me(after.cookie)
    assert (status, body["user"]) == (200, "alice")


# --- sessions: the credential behind a session changes --------------------------------------


def _change_password(site: Site) -> None:
    site.write_users(alice_entry(hash=VERIFIER.hash("a-new-password-1")), bob_entry())


def _make_admin(site: Site) -> None:
    site.write_users(alice_entry(role="admin"), bob_entry())


def _remove_alice(site: Site) -> None:
    site.write_users(bob_entry())


def _revoke_alices_key(site: Site) -> None:
    site.write_users(alice_entry(api_keys=[]), bob_entry())


def _expire_alices_key(site: Site) -> None:
    key = {
        "id": ALICE_KEY_ID,
        "name": "script",
        "hash": digest_token(ALICE_KEY.encode()),
        "expires": "2001-01-01T00:00:00+00:00",
    }
    site.write_users(alice_entry(api_keys=[key]), bob_entry())


def _rotate_admin_key(site: Site) -> None:
    site.key_file.write_text(ROTATED_ADMIN_KEY + "\n")


@pytest.mark.parametrize(
    ("credential", "edit"),
    [
        pytest.param(ALICE_PASSWORD, _change_password, id="password-changed"),
        pytest.param(ALICE_PASSWORD, _make_admin, id="role-changed"),
        pytest.param(ALICE_PASSWORD, _remove_alice, id="user-removed"),
        pytest.param(ALICE_KEY, _revoke_alices_key, id="login-key-revoked"),
        pytest.param(ALICE_KEY, _expire_alices_key, id="login-key-expired"),
        pytest.param(ALICE_KEY, _remove_alice, id="login-key-owner-removed"),
        pytest.param(ADMIN_KEY, _rotate_admin_key, id="admin-key-rotated"),
    ],
)
async def test_a_session_ends_when_its_credential_changes(
    site: Site, credential: str, edit: Callable[[Site], None]
) -> None:
    if credential == ALICE_PASSWORD:
        session = await site.sign_in()
    else:
        session = await site.sign_in_with_key(credential)
    assert (await site.me(session.cookie))[0] == 200
    edit(site)

    async def signed_out() -> bool:
        return (await site.me(session.cookie))[0] == 401

    await site.until(signed_out)
    assert await site.me(session.cookie) == (401, NOT_SIGNED_IN)


async def test_a_removed_user_added_back_does_not_get_the_old_session_back(site: Site) -> None:
    alice = await site.sign_in()
    _remove_alice(site)

    async def signed_out() -> bool:
        return (await site.me(alice.cookie))[0] == 401

    await site.until(signed_out)
    site.write_users(alice_entry(), bob_entry())

    async def back() -> bool:
        return site.runtime.authenticator.credentials.current.user("alice") is not None

    await site.until(back)
    assert await site.me(alice.cookie) == (401, NOT_SIGNED_IN)
    assert (await site.me((await site.sign_in()).cookie))[0] == 200


# --- CSRF -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Browser:
    """What a forged request can carry: alice's cookie, her token, bob's token, the site."""

    origin: str
    port: int
    alice: Session
    bob: Session

    @property
    def cookie(self) -> tuple[str, str]:
        return self.alice.header()

    @property
    def token(self) -> tuple[str, str]:
        return ("X-CSRF-Token", self.alice.csrf)


CSRF_REFUSED = [
    pytest.param(lambda b: [b.cookie, ("Origin", EVIL), b.token], CROSS_SITE, id="cross-site"),
    pytest.param(lambda b: [b.cookie, ("Origin", "null"), b.token], CROSS_SITE, id="null-origin"),
    pytest.param(lambda b: [b.cookie, b.token], CROSS_SITE, id="no-origin-no-referer"),
    pytest.param(
        lambda b: [b.cookie, ("Referer", f"{EVIL}/page"), b.token],
        CROSS_SITE,
        id="cross-site-referer",
    ),
    pytest.param(
        lambda b: [b.cookie, ("Referer", "about:blank"), b.token], CROSS_SITE, id="opaque-referer"
    ),
    pytest.param(
        lambda b: [b.cookie, ("Origin", f"http://127.0.0.1:{b.port + 1}"), b.token],
        CROSS_SITE,
        id="other-port",
    ),
    pytest.param(
        lambda b: [b.cookie, ("Origin", f"https://127.0.0.1:{b.port}"), b.token],
        CROSS_SITE,
        id="other-scheme",
    ),
    pytest.param(
        lambda b: [b.cookie, ("Origin", f"http://localhost:{b.port}"), b.token],
        CROSS_SITE,
        id="other-host-name",
    ),
    pytest.param(
        lambda b: [b.cookie, ("Origin", f"{b.origin}.evil.example"), b.token],
        CROSS_SITE,
        id="origin-suffix",
    ),
    pytest.param(
        lambda b: [b.cookie, ("Origin", f"http://127.0.0.1:{b.port}@evil.example"), b.token],
        CROSS_SITE,
        id="origin-userinfo",
    ),
    pytest.param(
        lambda b: [b.cookie, ("Origin", "http://[::1"), b.token], CROSS_SITE, id="malformed-origin"
    ),
    pytest.param(
        lambda b: [b.cookie, ("Referer", "http://[::1/x"), b.token],
        CROSS_SITE,
        id="malformed-referer",
    ),
    pytest.param(
        lambda b: [b.cookie, ("Origin", f"http://127.0.0.1:{b.port}0"), b.token],
        CROSS_SITE,
        id="origin-port-out-of-range",
    ),
    pytest.param(lambda b: [b.cookie, ("Origin", b.origin)], BAD_TOKEN, id="token-missing"),
    pytest.param(
        lambda b: [b.cookie, ("Origin", b.origin), ("X-CSRF-Token", "guess")],
        BAD_TOKEN,
        id="token-wrong",
    ),
    pytest.param(
        lambda b: [b.cookie, ("Origin", b.origin), ("X-CSRF-Token", "")],
        BAD_TOKEN,
        id="token-empty",
    ),
    pytest.param(
        lambda b: [b.cookie, ("Origin", b.origin), ("X-CSRF-Token", b.bob.csrf)],
        BAD_TOKEN,
        id="token-of-another-session",
    ),
    pytest.param(
        lambda b: [b.cookie, ("Origin", b.origin), b.token, b.token],
        BAD_TOKEN,
        id="token-header-twice",
    ),
    pytest.param(
        lambda b: [
            ("Cookie", f"{SESSION_COOKIE}={b.alice.cookie}; {CSRF_COOKIE}=tossed"),
            ("Origin", b.origin),
            ("X-CSRF-Token", "tossed"),
        ],
        BAD_TOKEN,
        id="tossed-csrf-cookie-matching-header",
    ),
    pytest.param(
        lambda b: [b.cookie, ("Origin", b.origin), ("X-CSRF-Token", b.alice.cookie)],
        BAD_TOKEN,
        id="session-cookie-as-token",
    ),
]


@pytest.mark.parametrize(("headers", "answer"), CSRF_REFUSED)
async def test_a_cookie_write_needs_this_site_and_the_sessions_token(
    site: Site,
    headers: Callable[[Browser], list[tuple[str, str]]],
    answer: dict[str, str],
) -> None:
    browser = Browser(
        site.origin, site.port, await site.sign_in(), await site.sign_in("bob", BOB_PASSWORD)
    )
    response = await site.client.post(
        "/api/prompt", data=b"{}", headers=CIMultiDict(headers(browser))
    )
    assert (response.status, await response.json()) == (403, answer)
    assert site.host.calls == []
    assert site.host.bodies_read == []


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda b: [b.cookie, ("Origin", b.origin), b.token], id="same-origin"),
        pytest.param(
            lambda b: [b.cookie, ("Origin", b.origin.upper()), b.token], id="origin-upper-case"
        ),
        pytest.param(
            lambda b: [b.cookie, ("Referer", f"{b.origin}/?workflow=1"), b.token],
            id="same-site-referer-only",
        ),
    ],
)
async def test_a_same_site_cookie_write_with_the_token_goes_through(
    site: Site, headers: Callable[[Browser], list[tuple[str, str]]]
) -> None:
    browser = Browser(
        site.origin, site.port, await site.sign_in(), await site.sign_in("bob", BOB_PASSWORD)
    )
    response = await site.client.post(
        "/api/prompt", data=b"{}", headers=CIMultiDict(headers(browser))
    )
    assert response.status == 200
    assert site.host.calls == ["post_prompt"]


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
    ids=["text-plain", "urlencoded-form", "multipart-form"],
)
async def test_a_cross_site_simple_request_is_refused_even_with_comfyuis_cors_header(
    make_site: MakeSite, content_type: str
) -> None:
    site = await make_site(cors=True)
    alice = await site.sign_in()
    response = await site.client.post(
        "/api/prompt",
        data=b'{"prompt": {}}',
        headers={"Cookie": alice.header()[1], "Origin": EVIL, "Content-Type": content_type},
    )
    assert (response.status, await response.json()) == (403, CROSS_SITE)
    assert site.host.calls == []


PREFLIGHT = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}


@pytest.mark.parametrize(
    ("cors", "method", "headers", "status"),
    [
        pytest.param(True, "OPTIONS", PREFLIGHT, 204, id="preflight-with-cors-header"),
        pytest.param(False, "OPTIONS", PREFLIGHT, 401, id="preflight-without-cors-header"),
        pytest.param(
            True, "OPTIONS", {"Origin": "https://app.example"}, 401, id="options-not-preflight"
        ),
        pytest.param(
            True,
            "OPTIONS",
            {"Access-Control-Request-Method": "POST"},
            401,
            id="preflight-without-origin",
        ),
        pytest.param(True, "POST", PREFLIGHT, 401, id="post-dressed-as-preflight"),
    ],
)
async def test_only_a_real_preflight_with_cors_enabled_is_answered_and_no_handler_runs(
    make_site: MakeSite, cors: bool, method: str, headers: dict[str, str], status: int
) -> None:
    site = await make_site(cors=cors)
    response = await site.client.request(method, "/api/prompt", headers=headers)
    assert response.status == status
    assert site.host.calls == []
    if status == 204:
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "X-API-Key" in response.headers["Access-Control-Allow-Headers"]
        assert response.headers["Cache-Control"] == "no-store"


async def test_after_its_preflight_a_cross_origin_api_client_is_served_with_its_key(
    make_site: MakeSite,
) -> None:
    site = await make_site(cors=True)
    preflight = await site.client.options("/api/prompt", headers=PREFLIGHT)
    assert preflight.status == 204
    answer = await site.client.post(
        "/api/prompt",
        json={"prompt": {}},
        headers={"Origin": "https://app.example", "X-API-Key": ADMIN_KEY},
    )
    assert answer.status == 200
    assert site.host.calls == ["post_prompt"]


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        pytest.param("https://comfy.example.org", 200, id="allowed-origin"),
        pytest.param("https://comfy.example.org:443", 200, id="allowed-origin-default-port"),
        pytest.param("https://comfy.example.org.evil.example", 403, id="allowed-origin-suffix"),
        pytest.param("http://comfy.example.org", 403, id="allowed-origin-other-scheme"),
        pytest.param("https://comfy.example.org:8443", 403, id="allowed-origin-other-port"),
    ],
)
async def test_only_the_configured_extra_origin_is_allowed(
    make_site: MakeSite, origin: str, status: int
) -> None:
    site = await make_site(env={"COMFYUI_AUTH_ALLOWED_ORIGINS": "https://comfy.example.org"})
    alice = await site.sign_in()
    response = await site.client.post(
        "/api/prompt",
        json={},
        headers={"Cookie": alice.header()[1], "Origin": origin, "X-CSRF-Token": alice.csrf},
    )
    assert response.status == status
    assert site.host.calls == (["post_prompt"] if status == 200 else [])


@pytest.mark.parametrize(
    ("path", "headers", "answer"),
    [
        pytest.param(
            "/auth/login", {"Origin": EVIL}, "cross-site sign-in refused", id="login-cross-site"
        ),
        pytest.param(
            "/auth/login", {"Origin": "null"}, "cross-site sign-in refused", id="login-null-origin"
        ),
        pytest.param(
            "/auth/login",
            {"Referer": f"{EVIL}/x"},
            "cross-site sign-in refused",
            id="login-cross-site-referer",
        ),
        pytest.param(
            "/auth/logout", {"Origin": EVIL}, "cross-site sign-out refused", id="logout-cross-site"
        ),
        pytest.param(
            "/auth/logout",
            {"Origin": "null"},
            "cross-site sign-out refused",
            id="logout-null-origin",
        ),
    ],
)
async def test_cross_site_sign_in_and_sign_out_are_refused(
    site: Site, path: str, headers: dict[str, str], answer: str
) -> None:
    alice = await site.sign_in()
    response = await site.client.post(
        path,
        json={"username": "bob", "password": BOB_PASSWORD},
        headers={"Cookie": alice.header()[1], **headers},
    )
    assert (response.status, await response.json()) == (403, {"error": answer})
    assert "Set-Cookie" not in response.headers
    status, body = await site.me(alice.cookie)
    assert (status, body["user"]) == (200, "alice")


# --- WebSocket upgrades ---------------------------------------------------------------------


@dataclass(frozen=True)
class WsCase:
    target: str
    headers: Callable[[Browser], list[str]] = field(default=lambda b: [])
    upgrade: str = "websocket"

    def head(self, browser: Browser) -> bytes:
        lines = [
            f"GET {self.target} HTTP/1.1",
            f"Host: 127.0.0.1:{browser.port}",
            f"Upgrade: {self.upgrade}",
            *WS_HANDSHAKE[1:],
            *self.headers(browser),
        ]
        return "\r\n".join(lines).encode()


def _cookie(b: Browser, who: str = "alice") -> str:
    session = b.alice if who == "alice" else b.bob
    return f"Cookie: {SESSION_COOKIE}={session.cookie}"


WS_REFUSED = [
    pytest.param(WsCase("/ws?clientId=fresh-tab"), 401, NOT_SIGNED_IN, id="no-credentials"),
    pytest.param(
        WsCase("/ws?clientId=alices-tab"), 401, NOT_SIGNED_IN, id="no-credentials-owned-id"
    ),
    pytest.param(
        WsCase("/ws?clientId=alices-tab&api_key=not-a-key-0123456789"),
        401,
        {"error": "invalid API key"},
        id="wrong-api-key",
    ),
    pytest.param(
        WsCase(f"/ws?clientId=x&api_key={BOB_KEY}&token={BOB_KEY}"),
        400,
        {"error": "malformed credentials: more than one api_key/token query parameter"},
        id="two-key-parameters",
    ),
    pytest.param(
        WsCase("/ws?clientId=fresh-tab", lambda b: [_cookie(b), f"Origin: {EVIL}"]),
        403,
        CROSS_SITE,
        id="cookie-cross-site",
    ),
    pytest.param(
        WsCase("/ws?clientId=fresh-tab", lambda b: [_cookie(b), "Origin: null"]),
        403,
        CROSS_SITE,
        id="cookie-null-origin",
    ),
    pytest.param(
        WsCase("/ws?clientId=fresh-tab", lambda b: [_cookie(b)]),
        403,
        CROSS_SITE,
        id="cookie-without-origin",
    ),
    pytest.param(
        WsCase("/ws?clientId=fresh-tab", lambda b: [_cookie(b), f"Referer: {EVIL}/x"]),
        403,
        CROSS_SITE,
        id="cookie-cross-site-referer",
    ),
    pytest.param(
        WsCase(
            "/ws?clientId=fresh-tab",
            lambda b: [_cookie(b), f"Origin: http://127.0.0.1:{b.port + 1}"],
        ),
        403,
        CROSS_SITE,
        id="cookie-other-port",
    ),
    pytest.param(
        WsCase(
            "/ws?clientId=fresh-tab", lambda b: [_cookie(b), f"Origin: {EVIL}"], upgrade="WebSocket"
        ),
        403,
        CROSS_SITE,
        id="cookie-cross-site-mixed-case-upgrade",
    ),
    pytest.param(
        WsCase("/api/ws?clientId=fresh-tab", lambda b: [_cookie(b), f"Origin: {EVIL}"]),
        403,
        CROSS_SITE,
        id="cookie-cross-site-api-twin",
    ),
    pytest.param(
        WsCase("/ws?clientId=alices-tab", lambda b: [_cookie(b, "bob"), f"Origin: {b.origin}"]),
        403,
        TAKEN_CLIENT_ID,
        id="other-users-session-takes-client-id",
    ),
    pytest.param(
        WsCase(f"/ws?clientId=alices-tab&api_key={BOB_KEY}"),
        403,
        TAKEN_CLIENT_ID,
        id="other-users-key-takes-client-id",
    ),
    pytest.param(
        WsCase(f"/api/ws?clientId=alices-tab&api_key={BOB_KEY}"),
        403,
        TAKEN_CLIENT_ID,
        id="other-user-takes-client-id-on-api-twin",
    ),
    pytest.param(
        WsCase(f"/ws?clientId=alices-tab&clientId=bobs-tab&api_key={BOB_KEY}"),
        403,
        TAKEN_CLIENT_ID,
        id="duplicated-client-id-first-is-taken",
    ),
    pytest.param(
        WsCase(f"/ws?clientId=alices%2Dtab&api_key={BOB_KEY}"),
        403,
        TAKEN_CLIENT_ID,
        id="encoded-client-id-is-the-same-id",
    ),
]


@pytest.mark.parametrize(("case", "status", "answer"), WS_REFUSED)
async def test_a_websocket_upgrade_is_refused_with_the_exact_answer(
    site: Site, case: WsCase, status: int, answer: dict[str, str]
) -> None:
    browser = Browser(
        site.origin, site.port, await site.sign_in(), await site.sign_in("bob", BOB_PASSWORD)
    )
    owner = await site.client.ws_connect(
        "/ws?clientId=alices-tab", headers={"Cookie": browser.alice.header()[1]}, origin=site.origin
    )
    assert (await owner.receive_json())["data"]["sid"] == "alices-tab"
    response = await raw_request(site.port, case.head(browser))
    await owner.close()
    assert response.status == status
    assert json.loads(response.body) == answer
    assert site.host.calls == ["ws"]  # the owner's socket only


async def test_a_refused_upgrade_does_not_claim_its_client_id(site: Site) -> None:
    refused = await raw_request(site.port, WsCase("/ws?clientId=contested").head(_no_browser()))
    assert refused.status == 401
    bob = await site.client.ws_connect(f"/ws?clientId=contested&api_key={BOB_KEY}")
    assert (await bob.receive_json())["data"]["sid"] == "contested"
    await bob.close()


def _no_browser() -> Browser:
    empty = Session("", "")
    return Browser("", 0, empty, empty)


async def test_the_owner_of_a_client_id_reconnects_with_a_session_or_a_key(site: Site) -> None:
    alice = await site.sign_in()
    for attempt in range(2):
        socket = await site.client.ws_connect(
            "/ws?clientId=alices-tab", headers={"Cookie": alice.header()[1]}, origin=site.origin
        )
        assert (await socket.receive_json())["data"]["sid"] == "alices-tab", attempt
        await socket.close()
    keyed = await site.client.ws_connect(f"/ws?clientId=alices-tab&api_key={ALICE_KEY}")
    assert (await keyed.receive_json())["data"]["sid"] == "alices-tab"
    await keyed.close()
    with pytest.raises(WSServerHandshakeError) as refused:
        await site.client.ws_connect(f"/ws?clientId=alices-tab&api_key={BOB_KEY}")
    assert refused.value.status == 403


# --- credentials at the login API -----------------------------------------------------------


@dataclass(frozen=True)
class Login:
    """One POST /auth/login: JSON fields, or a raw body with its content type."""

    fields: dict[str, Any] | None = None
    body: bytes | None = None
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()

    async def send(self, site: Site) -> Any:
        headers = dict(self.headers)
        if self.fields is not None:
            return await site.client.post("/auth/login", json=self.fields, headers=headers)
        headers["Content-Type"] = self.content_type
        body = self.body or b""
        # aiohttp's client warns about raw bodies over 1 MiB; a stream sends the same bytes.
        data = io.BytesIO(body) if len(body) > 1 << 19 else body
        return await site.client.post("/auth/login", data=data, headers=headers)


def _alice(password: str) -> Login:
    return Login({"username": "alice", "password": password})


ONE_MEGABYTE = "p" * (1 << 20)
LOGIN_FAILURE = {"error": LOGIN_FAILED}
KEY_FAILURE = {"error": KEY_FAILED}
NOT_JSON = {"error": "the body is not valid JSON"}

LOGIN_REFUSED = [
    pytest.param(_alice(""), 401, LOGIN_FAILURE, id="empty-password"),
    pytest.param(Login({"username": "", "password": ""}), 400, BOTH_OR_NEITHER, id="all-empty"),
    pytest.param(Login({}), 400, BOTH_OR_NEITHER, id="no-fields"),
    pytest.param(
        Login({"username": "alice", "password": ALICE_PASSWORD, "api_key": ALICE_KEY}),
        400,
        BOTH_OR_NEITHER,
        id="password-and-key-together",
    ),
    pytest.param(
        Login(body=json.dumps({"username": "alice", "password": ONE_MEGABYTE}).encode()),
        413,
        TOO_LARGE,
        id="one-megabyte-password-json",
    ),
    pytest.param(
        Login(
            body=b"username=alice&password=" + ONE_MEGABYTE.encode(),
            content_type="application/x-www-form-urlencoded",
        ),
        413,
        TOO_LARGE,
        id="one-megabyte-password-form",
    ),
    pytest.param(
        _alice("p" * 5000),
        413,
        {"error": "a field is longer than 4096 characters"},
        id="password-over-field-limit",
    ),
    pytest.param(_alice("p" * 2000), 401, LOGIN_FAILURE, id="password-over-hashing-limit"),
    pytest.param(_alice(ALICE_PASSWORD + "\x00"), 401, LOGIN_FAILURE, id="password-with-nul"),
    pytest.param(
        Login(body=b'{"username": "alice", "password": "\\ud800"}'),
        401,
        LOGIN_FAILURE,
        id="password-lone-surrogate",
    ),
    pytest.param(_alice(ALICE_PASSWORD.upper()), 401, LOGIN_FAILURE, id="password-other-case"),
    pytest.param(_alice(fullwidth(ALICE_PASSWORD)), 401, LOGIN_FAILURE, id="password-nfkc-variant"),
    pytest.param(_alice(ALICE_PASSWORD + " "), 401, LOGIN_FAILURE, id="password-trailing-space"),
    pytest.param(_alice(ALICE_HASH), 401, LOGIN_FAILURE, id="stored-argon2-hash-as-password"),
    pytest.param(
        Login({"username": "carol", "password": CAROL_SHA256}),
        401,
        LOGIN_FAILURE,
        id="stored-sha256-hex-as-password",
    ),
    pytest.param(
        Login({"username": "carol", "password": CAROL_SHA256.upper()}),
        401,
        LOGIN_FAILURE,
        id="stored-sha256-hex-upper-case-as-password",
    ),
    pytest.param(
        Login({"username": "mallory", "password": ALICE_PASSWORD}),
        401,
        LOGIN_FAILURE,
        id="unknown-user",
    ),
    pytest.param(
        Login({"username": "alice ", "password": ALICE_PASSWORD}),
        401,
        LOGIN_FAILURE,
        id="name-trailing-space",
    ),
    pytest.param(
        Login({"username": "ali\u200bce", "password": ALICE_PASSWORD}),
        401,
        LOGIN_FAILURE,
        id="name-zero-width-space",
    ),
    pytest.param(
        Login({"username": "api-key", "password": ADMIN_KEY}),
        401,
        LOGIN_FAILURE,
        id="admin-key-user-name-with-key-as-password",
    ),
    pytest.param(
        Login({"api_key": digest_token(ALICE_KEY.encode())}),
        401,
        KEY_FAILURE,
        id="stored-key-digest-as-key",
    ),
    pytest.param(
        Login({"api_key": f"cak_{ALICE_KEY_ID}_"}), 401, KEY_FAILURE, id="key-id-without-secret"
    ),
    pytest.param(
        Login({"api_key": ALICE_KEY.replace(ALICE_KEY_ID, BOB_KEY_ID)}),
        401,
        KEY_FAILURE,
        id="key-secret-under-another-id",
    ),
    pytest.param(Login({"api_key": "clé-0123456789abcdef"}), 401, KEY_FAILURE, id="key-non-ascii"),
    pytest.param(
        Login(body=b'{"username": "alice", "password": ' + b"1" * 5000 + b"}"),
        400,
        NOT_JSON,
        id="json-5000-digit-number",
    ),
    pytest.param(Login(body=b"[" * 10_000), 400, NOT_JSON, id="json-nested-ten-thousand-deep"),
    pytest.param(Login(body=b"\xff\xfe{}"), 400, NOT_JSON, id="json-not-utf8"),
    pytest.param(
        Login(body=b'["alice"]'), 400, {"error": "the body must be a JSON object"}, id="json-array"
    ),
    pytest.param(
        Login({"username": "alice", "password": 123}),
        400,
        {"error": "every field must be a string (remember may be true or false)"},
        id="json-number-password",
    ),
    pytest.param(
        Login(
            body=b"username=alice&password=a&password=b",
            content_type="application/x-www-form-urlencoded",
        ),
        400,
        {"error": "a form field was sent twice"},
        id="form-field-twice",
    ),
    pytest.param(
        Login(
            body=b"username=alice&password=%ff", content_type="application/x-www-form-urlencoded"
        ),
        400,
        {"error": "the form data is not valid"},
        id="form-not-utf8",
    ),
    pytest.param(
        Login(body=b"username=alice&password=x", content_type="text/plain"),
        400,
        {"error": "send the fields as JSON or as an HTML form"},
        id="text-plain-body",
    ),
    pytest.param(
        Login(
            {"username": "alice", "password": ALICE_PASSWORD}, headers=(("Origin", "http://[x"),)
        ),
        403,
        {"error": "cross-site sign-in refused"},
        id="malformed-origin",
    ),
    pytest.param(
        Login(
            {"username": "alice", "password": ALICE_PASSWORD}, headers=(("Referer", "http://[x/"),)
        ),
        403,
        {"error": "cross-site sign-in refused"},
        id="malformed-referer",
    ),
]


@pytest.mark.parametrize(("login", "status", "answer"), LOGIN_REFUSED)
async def test_a_login_attempt_gets_the_exact_refusal(
    site: Site, login: Login, status: int, answer: dict[str, str]
) -> None:
    response = await login.send(site)
    assert (response.status, await response.json()) == (status, answer)
    assert SESSION_COOKIE not in response.cookies
    assert response.headers["Cache-Control"] == "no-store"


async def test_a_one_megabyte_chunked_password_is_refused_without_being_buffered(
    site: Site,
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"username": "alice", "password": "'
        for _ in range(64):
            yield b"p" * 16384
        yield b'"}'

    response = await site.client.post(
        "/auth/login", data=chunks(), headers={"Content-Type": "application/json"}
    )
    assert (response.status, await response.json()) == (413, TOO_LARGE)


@pytest.mark.parametrize(
    "name",
    ["ALICE", "Alice", fullwidth("alice"), fullwidth("ALICE")],
    ids=["upper-case", "title-case", "fullwidth-nfkc", "fullwidth-upper-case"],
)
async def test_a_variant_of_a_user_name_signs_in_as_the_stored_user(site: Site, name: str) -> None:
    session = await site.sign_in(name, ALICE_PASSWORD)
    assert await site.me(session.cookie) == (
        200,
        {"user": "alice", "role": "user", "via": "session"},
    )
    response = await site.client.get(
        "/api/userdata/x.json", headers={"Cookie": session.header()[1]}
    )
    assert await response.json() == {"comfy_user": [host_user_id("alice")]}


async def test_an_unknown_user_gets_the_same_form_page_as_a_wrong_password(site: Site) -> None:
    async def page(name: str) -> tuple[int, str]:
        response = await site.client.post(
            "/auth/login", data={"username": name, "password": "wrong-password"}
        )
        return response.status, (await response.text()).replace(name, "NAME")

    assert await page("alice") == await page("mallory")
    status, body = await page("bob")
    assert status == 401
    assert LOGIN_FAILED in body


# --- throttling -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    kind: str  # "key" (a request with X-API-Key), "login" (JSON) or "form" (HTML form)
    secret: str
    status: int
    user: str = "alice"
    headers: tuple[tuple[str, str], ...] = ()

    async def send(self, site: Site) -> Any:
        headers = dict(self.headers)
        if self.kind == "key":
            headers["X-API-Key"] = self.secret
            return await site.client.get("/api/prompt", headers=headers)
        fields = {"username": self.user, "password": self.secret}
        if self.kind == "form":
            return await site.client.post("/auth/login", data=fields, headers=headers)
        return await site.client.post("/auth/login", json=fields, headers=headers)


def _xff(address: str) -> tuple[tuple[str, str], ...]:
    return (("X-Forwarded-For", address),)


def _spoofed(index: int) -> tuple[tuple[str, str], ...]:
    return (
        ("X-Forwarded-For", f"198.51.100.{index}"),
        ("X-Real-IP", f"198.51.100.{index}"),
        ("Forwarded", f"for=198.51.100.{index}"),
        ("CF-Connecting-IP", f"198.51.100.{index}"),
    )


def _guesses(kind: str, count: int = 5, **options: Any) -> list[Attempt]:
    return [Attempt(kind, f"wrong-guess-{i}-0123456789", 401, **options) for i in range(count)]


THROTTLING = [
    pytest.param(
        False,
        [
            *[
                Attempt("key", f"wrong-key-{i}-0123456789", 401, headers=_xff(f"198.51.100.{i}"))
                for i in range(5)
            ],
            Attempt("key", "wrong-key-5-0123456789", 429, headers=_xff("198.51.100.99")),
        ],
        id="key-guesses-spoofing-x-forwarded-for",
    ),
    pytest.param(
        False,
        [
            *[
                Attempt("key", f"wrong-key-{i}-0123456789", 401, headers=_spoofed(i))
                for i in range(5)
            ],
            Attempt("key", "wrong-key-5-0123456789", 429, headers=_spoofed(99)),
        ],
        id="key-guesses-spoofing-every-forwarding-header",
    ),
    pytest.param(
        False,
        [
            *[
                Attempt("login", f"wrong-{i}", 401, user=f"user{i}", headers=_spoofed(i))
                for i in range(5)
            ],
            Attempt("login", ALICE_PASSWORD, 429, headers=_spoofed(99)),
        ],
        id="login-guesses-spoofing-forwarding-headers",
    ),
    pytest.param(
        False,
        [*_guesses("form"), Attempt("form", ALICE_PASSWORD, 429)],
        id="form-login-throttled",
    ),
    pytest.param(
        True,
        [
            *[
                Attempt(
                    "key", f"wrong-key-{i}-0123", 401, headers=_xff(f"203.0.113.{i}, 198.51.100.7")
                )
                for i in range(5)
            ],
            Attempt("key", "wrong-key-5-0123", 429, headers=_xff("203.0.113.99, 198.51.100.7")),
        ],
        id="trusted-proxy-client-prepends-fake-hops",
    ),
    pytest.param(
        True,
        [
            *_guesses("key", headers=_xff("198.51.100.7")),
            Attempt("key", "wrong-key-from-elsewhere-0123", 401, headers=_xff("198.51.100.8")),
            Attempt("key", "wrong-key-again-0123456789", 429, headers=_xff("198.51.100.7")),
        ],
        id="trusted-proxy-clients-counted-apart",
    ),
    pytest.param(
        True,
        [
            *[
                Attempt("login", f"wrong-{i}", 401, headers=_xff(f"198.51.100.{i}"))
                for i in range(5)
            ],
            Attempt("login", ALICE_PASSWORD, 429, headers=_xff("198.51.100.99")),
        ],
        id="user-name-throttled-across-addresses",
    ),
    pytest.param(
        True,
        [
            *[
                Attempt("login", f"wrong-{i}", 401, user=name, headers=_xff(f"198.51.100.{i}"))
                for i, name in enumerate(["alice", "ALICE", "Alice", fullwidth("alice"), "aLiCe"])
            ],
            Attempt("login", ALICE_PASSWORD, 429, headers=_xff("198.51.100.99")),
        ],
        id="user-name-variants-share-one-count",
    ),
    pytest.param(
        True,
        [
            *[
                Attempt("login", f"wrong-{i}", 401, user="mallory", headers=_xff(f"198.51.100.{i}"))
                for i in range(5)
            ],
            Attempt("login", "wrong-5", 429, user="mallory", headers=_xff("198.51.100.99")),
        ],
        id="unknown-user-name-throttled-like-a-known-one",
    ),
]


@pytest.mark.parametrize(("trusted_proxy", "attempts"), THROTTLING)
async def test_throttling_counts_what_the_client_cannot_choose(
    make_site: MakeSite, trusted_proxy: bool, attempts: list[Attempt]
) -> None:
    env = {"COMFYUI_AUTH_TRUSTED_PROXIES": "127.0.0.1"} if trusted_proxy else {}
    site = await make_site(env=env)
    for number, attempt in enumerate(attempts):
        response = await attempt.send(site)
        assert response.status == attempt.status, f"attempt {number}"
        body = await response.read()
        assert attempt.secret.encode() not in body
        if attempt.status == 429:
            wait = int(response.headers["Retry-After"])
            assert 0 < wait <= 60
            if attempt.kind == "form":
                assert f"Try again in {wait} seconds.".encode() in body
            else:
                assert json.loads(body)["retry_after"] == wait
    assert site.host.calls == []


# --- multi-user isolation -------------------------------------------------------------------


async def _bob_session(site: Site) -> dict[str, str]:
    return {"Cookie": (await site.sign_in("bob", BOB_PASSWORD)).header()[1]}


async def _bob_key(site: Site) -> dict[str, str]:
    return {"Authorization": f"Bearer {BOB_KEY}"}


@pytest.mark.parametrize(
    ("credentials", "claimed"),
    [
        pytest.param(_bob_session, [host_user_id("alice")], id="session-names-alice"),
        pytest.param(_bob_session, ["alice"], id="session-names-alices-login"),
        pytest.param(
            _bob_session, [host_user_id("alice"), host_user_id("bob")], id="session-two-headers"
        ),
        pytest.param(_bob_session, ["default"], id="session-names-default-user"),
        pytest.param(_bob_key, [host_user_id("alice"), "default"], id="key-two-headers"),
    ],
)
async def test_the_host_always_sees_the_authenticated_user(
    site: Site,
    credentials: Callable[[Site], Awaitable[dict[str, str]]],
    claimed: list[str],
) -> None:
    headers = CIMultiDict(await credentials(site))
    for value in claimed:
        headers.add("Comfy-User", value)
    response = await site.client.get("/api/userdata/workflow.json", headers=headers)
    assert response.status == 200
    assert await response.json() == {"comfy_user": [host_user_id("bob")]}


async def test_a_proxy_user_cannot_name_another_user(make_site: MakeSite) -> None:
    site = await make_site(
        env={
            "COMFYUI_AUTH_TRUSTED_PROXIES": "127.0.0.1",
            "COMFYUI_AUTH_PROXY_USER_HEADER": "Remote-User",
        }
    )
    response = await site.client.get(
        "/api/userdata/workflow.json",
        headers={"Remote-User": "bob", "Comfy-User": host_user_id("alice")},
    )
    assert await response.json() == {"comfy_user": [host_user_id("bob")]}


@pytest.mark.parametrize(
    "name",
    ["api-key", "API-Key", fullwidth("api-key")],
    ids=["exact", "other-case", "fullwidth-nfkc"],
)
async def test_a_single_sign_on_name_cannot_pose_as_the_admin_key_user(
    make_site: MakeSite, name: str
) -> None:
    """The admin key acts as user "api-key" (reserved in auth.json), with its own userdata."""
    site = await make_site(
        env={
            "COMFYUI_AUTH_TRUSTED_PROXIES": "127.0.0.1",
            "COMFYUI_AUTH_PROXY_USER_HEADER": "Remote-User",
        }
    )
    for path in ("/auth/me", "/api/userdata/workflow.json"):
        response = await site.client.get(path, headers={"Remote-User": name})
        assert (response.status, await response.json()) == (401, NOT_SIGNED_IN)
    assert site.host.calls == []


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param("j.smith", "j-smith", id="dot-and-dash"),
        pytest.param("alice!", "alice", id="trailing-punctuation"),
        pytest.param("ali ce", "ali-ce", id="space-and-dash"),
        pytest.param("田中", "佐藤", id="cjk-names"),
        pytest.param("josé", "josè", id="accented-names"),
        pytest.param("bob@example.org", "bob-example-org", id="email-and-slug"),
    ],
)
async def test_two_users_never_share_the_hosts_user_directory(
    make_site: MakeSite, first: str, second: str
) -> None:
    site = await make_site(
        users=[
            {"user": first, "hash": ALICE_HASH},
            {"user": second, "hash": BOB_HASH},
        ]
    )
    seen = []
    for name, password in ((first, ALICE_PASSWORD), (second, BOB_PASSWORD)):
        session = await site.sign_in(name, password)
        response = await site.client.get(
            "/api/userdata/workflow.json", headers={"Cookie": session.header()[1]}
        )
        seen.append((await response.json())["comfy_user"])
    assert seen[0] != seen[1]
    assert all(len(ids) == 1 and ids[0].startswith("auth") for ids in seen)


def test_long_single_sign_on_names_sharing_a_prefix_get_different_ids() -> None:
    prefix = "a" * 70
    assert host_user_id(prefix + "-one") != host_user_id(prefix + "-two")
    assert host_user_id("alice") == "auth_alice"  # ordinary names keep their readable id


@pytest.mark.parametrize(
    "credentials",
    [pytest.param(_bob_session, id="user-session"), pytest.param(_bob_key, id="user-key")],
)
async def test_a_user_cannot_reach_administrator_routes(
    site: Site, credentials: Callable[[Site], Awaitable[dict[str, str]]]
) -> None:
    response = await site.client.get("/manager/queue/install", headers=await credentials(site))
    assert (response.status, await response.json()) == (403, ADMIN_ONLY)
    assert site.host.calls == []


# --- configuration faults at start: the server stays closed with 503 ------------------------


def _write(name: str, data: bytes) -> Callable[[Path], dict[str, str]]:
    def setup(base: Path) -> dict[str, str]:
        (base / name).write_bytes(data)
        return {"COMFYUI_AUTH_FILE": str(base / name)} if name == "auth.json" else {}

    return setup


def _key_file(data: bytes | None, directory: bool = False) -> Callable[[Path], dict[str, str]]:
    def setup(base: Path) -> dict[str, str]:
        path = base / "admin.key"
        if directory:
            path.mkdir()
        elif data is not None:
            path.write_bytes(data)
        return {"COMFYUI_API_KEY_FILE": str(path)}

    return setup


def _auth_directory(base: Path) -> dict[str, str]:
    (base / "auth.json").mkdir()
    return {"COMFYUI_AUTH_FILE": str(base / "auth.json")}


def _damaged_signing_key(base: Path) -> dict[str, str]:
    state = base / "user" / "__auth"
    state.mkdir(parents=True)
    (state / "secret_key").write_text("not-hex\n")
    return {"COMFYUI_API_KEY": ADMIN_KEY}


PLAIN = "plain-text-password-in-a-broken-file"

START_FAULTS = [
    pytest.param(
        _write("auth.json", b'[{"user": "alice", "pass": "' + PLAIN.encode() + b'"'),
        "auth file is not valid JSON (line 1",
        "Fix: correct the JSON syntax",
        id="auth-file-syntax-error",
    ),
    pytest.param(
        _write("auth.json", json.dumps({"user": "alice", "pass": PLAIN}).encode()),
        "auth file must hold a JSON array of users",
        "Fix: write a JSON array",
        id="auth-file-not-an-array",
    ),
    pytest.param(
        _write("auth.json", b'[{"user": "alice", "pass": "\xff' + PLAIN.encode() + b'"}]'),
        "auth file is not UTF-8 text",
        "Fix: write a JSON array",
        id="auth-file-not-utf8",
    ),
    pytest.param(
        _write(
            "auth.json",
            b'[{"user": "a", "pass": "' + PLAIN.encode() + b'", "n": 1' + b"0" * 5000 + b"}]",
        ),
        "number too long or nesting too deep",
        "Fix: write a JSON array",
        id="auth-file-5000-digit-number",
    ),
    pytest.param(
        _write("auth.json", b"[" * 100_000 + b"]" * 100_000),
        "number too long or nesting too deep",
        "Fix: write a JSON array",
        id="auth-file-nested-too-deep",
    ),
    pytest.param(
        _write("auth.json", json.dumps([{"user": "alice"}]).encode()),
        'needs a "hash" or a non-empty "pass"',
        "Fix: set a password with manage.py passwd",
        id="auth-file-entry-without-password",
    ),
    pytest.param(
        _write("auth.json", json.dumps([{"user": "alice", "hash": PLAIN}]).encode()),
        "neither an argon2id hash nor a SHA-256 hex digest",
        "Fix: store an argon2id hash",
        id="auth-file-password-in-hash-field",
    ),
    pytest.param(
        _write(
            "auth.json",
            json.dumps([{"user": "alice", "pass": PLAIN}, {"user": "ALICE", "pass": "x"}]).encode(),
        ),
        "appears twice (names match case-insensitively)",
        "Fix: keep one entry per user",
        id="auth-file-case-duplicate-users",
    ),
    pytest.param(
        lambda base: {"COMFYUI_AUTH_FILE": str(base / "missing.json")},
        "COMFYUI_AUTH_FILE names a file that does not exist",
        "Fix: create it",
        id="auth-file-missing",
    ),
    pytest.param(
        _auth_directory,
        "cannot read the auth file",
        "Fix: make it a readable file",
        id="auth-file-unreadable",
    ),
    pytest.param(
        _key_file(None),
        "cannot read COMFYUI_API_KEY_FILE",
        "Fix: point it at a readable file",
        id="key-file-missing",
    ),
    pytest.param(
        _key_file(None, directory=True),
        "cannot read COMFYUI_API_KEY_FILE",
        "Fix: point it at a readable file",
        id="key-file-unreadable",
    ),
    pytest.param(
        _key_file(b"\n" + PLAIN.encode()),
        "COMFYUI_API_KEY_FILE has no key on its first line",
        "Fix: write the key on the file's first line",
        id="key-file-first-line-empty",
    ),
    pytest.param(
        _key_file(b"sh0rt-s3cret\n"),
        "COMFYUI_API_KEY_FILE is shorter than 16 characters",
        "secrets.token_urlsafe",
        id="key-file-key-too-short",
    ),
    pytest.param(
        _key_file(b"a key with spaces " + PLAIN.encode()),
        "COMFYUI_API_KEY_FILE must be printable ASCII without spaces",
        "secrets.token_urlsafe",
        id="key-file-key-with-spaces",
    ),
    pytest.param(
        _damaged_signing_key,
        "the signing key file is damaged",
        "Fix: delete the file",
        id="signing-key-damaged",
    ),
    pytest.param(
        lambda base: {"COMFYUI_API_KEY": ADMIN_KEY, **_key_file(ADMIN_KEY.encode())(base)},
        "both COMFYUI_API_KEY and COMFYUI_API_KEY_FILE are set",
        "Fix: keep only one of them",
        id="key-in-environment-and-file",
    ),
]


def start_like_comfyui(base: Path, env: dict[str, str]) -> tuple[web.Application, list[str]]:
    """What the package's ``__init__`` does: install, or close the host on any error."""
    web_root, user_dir = base / "web", base / "user"
    web_root.mkdir()
    user_dir.mkdir(exist_ok=True)
    (web_root / "index.html").write_text("<html><head></head></html>")
    app = web.Application()
    adapter = HostAdapter(app=app, web_root=web_root, user_dir=user_dir, prompt_queue=FakeQueue())
    calls: list[str] = []
    try:
        install(adapter, load_settings({"COMFYUI_AUTH_TEST_CHEAP_HASHING": "1", **env}, user_dir))
    except Exception as error:  # noqa: BLE001 - exactly the package's __init__
        close_host(app, error)

    async def prompt(request: web.Request) -> web.Response:
        calls.append("prompt")
        return web.json_response({})

    app.router.add_get("/api/prompt", prompt)
    return app, calls


@pytest.mark.parametrize(("setup", "problem", "fix"), START_FAULTS)
async def test_a_configuration_fault_at_start_closes_every_route_with_503(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    setup: Callable[[Path], dict[str, str]],
    problem: str,
    fix: str,
) -> None:
    env = setup(tmp_path)
    with caplog.at_level(logging.DEBUG):
        app, calls = start_like_comfyui(tmp_path, env)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        for headers in ({}, {"X-API-Key": ADMIN_KEY}):
            response = await client.get("/api/prompt", headers=headers)
            body = await response.json()
            assert response.status == 503
            assert body["error"] == (
                "authentication is not configured correctly; the server stays closed"
            )
            assert problem in body["problem"]
            assert fix in body["problem"]
            assert PLAIN not in body["problem"]
            assert "sh0rt-s3cret" not in body["problem"]
        health = await client.get("/health")
        assert (health.status, await health.json()) == (
            503,
            {"status": "error", "error": "authentication is not configured correctly"},
        )
    assert calls == []
    assert PLAIN not in caplog.text
    assert "sh0rt-s3cret" not in caplog.text


# --- configuration faults while serving: the last good configuration stays ------------------


def _garbage(data: bytes) -> Callable[[Site], None]:
    def edit(site: Site) -> None:
        site.auth_file.write_bytes(data)

    return edit


def _delete_auth_file(site: Site) -> None:
    site.auth_file.unlink()


def _auth_file_becomes_directory(site: Site) -> None:
    site.auth_file.unlink()
    site.auth_file.mkdir()


def _key_garbage(site: Site) -> None:
    site.key_file.write_bytes(b"\xff\xfe short")


def _delete_key_file(site: Site) -> None:
    site.key_file.unlink()


SERVING_FAULTS = [
    pytest.param(_garbage(b'[{"user": "alice", "hash": '), "not valid JSON", id="syntax-error"),
    pytest.param(_garbage(b""), "not valid JSON", id="truncated-to-nothing"),
    pytest.param(_garbage(b"\x00\xff\xfe binary"), "not UTF-8", id="binary"),
    pytest.param(_garbage(b'{"user": "alice"}'), "JSON array of users", id="object-not-array"),
    pytest.param(_garbage(b"[" + b"9" * 5000 + b"]"), "number too long", id="5000-digit-number"),
    pytest.param(_garbage(b"[" * 50_000), "nesting too deep", id="unclosed-deep-nesting"),
    pytest.param(_garbage(b"[" * 50_000 + b"]" * 50_000), "nesting too deep", id="deep-nesting"),
    pytest.param(_delete_auth_file, "names a file that does not exist", id="auth-file-deleted"),
    pytest.param(_auth_file_becomes_directory, "cannot read the auth file", id="auth-file-dir"),
    pytest.param(_key_garbage, "COMFYUI_API_KEY_FILE", id="key-file-garbage"),
    pytest.param(_delete_key_file, "cannot read COMFYUI_API_KEY_FILE", id="key-file-deleted"),
]


@pytest.mark.parametrize(("edit", "reported"), SERVING_FAULTS)
async def test_a_broken_edit_while_serving_keeps_the_last_good_configuration(
    site: Site, caplog: pytest.LogCaptureFixture, edit: Callable[[Site], None], reported: str
) -> None:
    alice = await site.sign_in()
    edit(site)

    async def rejected() -> bool:
        return "kept the last good configuration" in caplog.text

    await site.until(rejected)
    assert reported in caplog.text
    assert (await site.me(alice.cookie))[0] == 200
    assert (await site.me((await site.sign_in("bob", BOB_PASSWORD)).cookie))[0] == 200
    keyed = await site.client.get("/api/prompt", headers={"X-API-Key": ADMIN_KEY})
    assert keyed.status == 200
    # The watcher is still alive: a good edit that removes alice applies at once.
    if site.auth_file.is_dir():
        site.auth_file.rmdir()
    site.key_file.write_text(ADMIN_KEY + "\n")
    site.write_users(bob_entry())

    async def alice_signed_out() -> bool:
        return (await site.me(alice.cookie))[0] == 401

    await site.until(alice_signed_out)


async def test_deleting_the_default_auth_file_while_serving_signs_everyone_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(credential_watcher, "POLL_SECONDS", 0.02)
    default = tmp_path / "user" / "__auth" / "auth.json"  # no COMFYUI_AUTH_FILE
    default.parent.mkdir(parents=True)
    default.write_text(json.dumps([alice_entry()]))
    host = build_minimal_host(tmp_path, {"COMFYUI_API_KEY": ADMIN_KEY})
    async with TestClient(
        TestServer(host.app, host="127.0.0.1"), cookie_jar=DummyCookieJar()
    ) as client:
        site = Site(host, client, default, tmp_path / "no-key-file")
        alice = await site.sign_in()
        default.unlink()

        async def signed_out() -> bool:
            return (await site.me(alice.cookie))[0] == 401

        await site.until(signed_out)
        again = await client.post(
            "/auth/login", json={"username": "alice", "password": ALICE_PASSWORD}
        )
        assert (again.status, await again.json()) == (401, LOGIN_FAILURE)
        setup = await client.get("/auth/setup", allow_redirects=False)
        assert setup.status == 303  # the admin key still exists: no setup link is offered
        assert (await client.get("/api/prompt", headers={"X-API-Key": ADMIN_KEY})).status == 200


# --- information leaks ----------------------------------------------------------------------


async def test_health_reveals_nothing_but_queue_and_device(site: Site, tmp_path: Path) -> None:
    response = await site.client.get("/health")
    text = await response.text()
    body = json.loads(text)
    assert response.status == 200
    assert set(body) == {"status", "queue", "device", "vram"}
    assert set(body["queue"]) == {"pending", "running"}
    assert set(body["device"]) == {"name", "type", "index"}
    assert set(body["vram"]) == {"total", "free"}
    forbidden = [
        str(tmp_path),
        str(Path.cwd()),
        sys.executable,
        *(argument for argument in sys.argv if len(argument) > 3),
        sys.version.split()[0],
        "alice",
        "bob",
        "carol",
        "auth.json",
        "__auth",
        "comfyui",
        "aiohttp",
    ]
    for fragment in forbidden:
        assert fragment.lower() not in text.lower(), fragment
    assert "Set-Cookie" not in response.headers


SECRET = "correct-horse-battery-staple-secret"


async def _leak_wrong_key_header(site: Site) -> Any:
    return await site.client.get("/api/prompt", headers={"X-API-Key": SECRET})


async def _leak_wrong_key_query(site: Site) -> Any:
    return await site.client.get(
        f"/api/view?api_key={SECRET}", headers={"Accept": "text/html"}, allow_redirects=False
    )


async def _leak_navigation_token_query(site: Site) -> Any:
    return await site.client.get(
        f"/?token={SECRET}", headers={"Sec-Fetch-Mode": "navigate"}, allow_redirects=False
    )


async def _leak_malformed_bearer(site: Site) -> Any:
    return await site.client.get("/api/prompt", headers={"Authorization": f"Bearer {SECRET} x"})


async def _leak_conflicting_keys(site: Site) -> Any:
    return await site.client.get(
        "/api/prompt", headers={"Authorization": f"Bearer {SECRET}", "X-API-Key": ADMIN_KEY}
    )


async def _leak_wrong_password_json(site: Site) -> Any:
    return await site.client.post("/auth/login", json={"username": "alice", "password": SECRET})


async def _leak_wrong_password_form(site: Site) -> Any:
    return await site.client.post("/auth/login", data={"username": "alice", "password": SECRET})


async def _leak_wrong_key_form(site: Site) -> Any:
    return await site.client.post("/auth/login", data={"api_key": SECRET})


async def _leak_cross_site_login(site: Site) -> Any:
    return await site.client.post(
        "/auth/login", json={"username": "alice", "password": SECRET}, headers={"Origin": EVIL}
    )


async def _leak_huge_password(site: Site) -> Any:
    return await site.client.post(
        "/auth/login", json={"username": "alice", "password": SECRET * 1000}
    )


async def _leak_cookie_without_token(site: Site) -> Any:
    alice = await site.sign_in()
    return await site.client.post(
        "/api/prompt",
        json={"x": SECRET},
        headers={"Cookie": alice.header()[1], "Origin": site.origin, "X-CSRF-Token": SECRET},
    )


async def _leak_throttled(site: Site) -> Any:
    for _ in range(5):
        await site.client.get("/api/prompt", headers={"X-API-Key": SECRET})
    return await site.client.get("/api/prompt", headers={"X-API-Key": SECRET})


async def _leak_throttled_form(site: Site) -> Any:
    for _ in range(5):
        await site.client.post("/auth/login", data={"username": "alice", "password": SECRET})
    return await site.client.post("/auth/login", data={"username": "alice", "password": SECRET})


async def _leak_login_page_next(site: Site) -> Any:
    return await site.client.get(f"/auth/login?next=/view%3Fapi_key%3D{SECRET}%26a%3D1")


@pytest.mark.parametrize(
    ("send", "status"),
    [
        pytest.param(_leak_wrong_key_header, 401, id="401-wrong-key-header"),
        pytest.param(_leak_wrong_key_query, 401, id="401-wrong-key-query-from-a-browser"),
        pytest.param(_leak_navigation_token_query, 401, id="401-navigation-with-token-query"),
        pytest.param(_leak_malformed_bearer, 400, id="400-malformed-bearer"),
        pytest.param(_leak_conflicting_keys, 400, id="400-two-different-keys"),
        pytest.param(_leak_wrong_password_json, 401, id="401-wrong-password-json"),
        pytest.param(_leak_wrong_password_form, 401, id="401-wrong-password-form-page"),
        pytest.param(_leak_wrong_key_form, 401, id="401-wrong-key-form-page"),
        pytest.param(_leak_cross_site_login, 403, id="403-cross-site-login"),
        pytest.param(_leak_cookie_without_token, 403, id="403-wrong-csrf-token"),
        pytest.param(_leak_huge_password, 413, id="413-huge-password"),
        pytest.param(_leak_throttled, 429, id="429-throttled-key"),
        pytest.param(_leak_throttled_form, 429, id="429-throttled-form-page"),
        pytest.param(_leak_login_page_next, 200, id="200-login-page-with-key-in-next"),
    ],
)
async def test_no_answer_echoes_the_submitted_secret(
    site: Site, send: Callable[[Site], Awaitable[Any]], status: int
) -> None:
    response = await send(site)
    assert response.status == status
    body = await response.read()
    assert SECRET.encode() not in body
    assert ADMIN_KEY.encode() not in body
    assert all(SECRET not in value for value in response.headers.values())
    assert site.host.calls == []


async def test_logs_and_the_audit_file_hold_no_secret_after_failed_and_good_logins(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        alice = await site.sign_in()
        for password in (SECRET, SECRET.upper(), ALICE_PASSWORD + "x"):
            await site.client.post("/auth/login", json={"username": "alice", "password": password})
            await site.client.post("/auth/login", data={"username": "alice", "password": password})
        await site.client.post("/auth/login", json={"api_key": SECRET})
        await site.client.get(f"/api/prompt?api_key={SECRET}")
        await site.client.get(f"/api/prompt?token={SECRET}")
        await site.client.get("/api/prompt", headers={"Authorization": f"Bearer {SECRET}"})
        await site.client.get("/api/prompt", headers={"X-API-Key": f"{SECRET} two"})
        await site.client.post(
            "/api/prompt",
            json={},
            headers={"Cookie": alice.header()[1], "Origin": EVIL, "X-CSRF-Token": alice.csrf},
        )
    # aiohttp's access log (on in tests, off in ComfyUI: AppRunner(access_log=None)) prints
    # request lines with their query; every other logger must never see a secret.
    logged = "\n".join(
        record.getMessage() for record in caplog.records if record.name != "aiohttp.access"
    )
    assert "comfyui_auth.audit" in {record.name for record in caplog.records}
    audit = site.runtime.settings.audit_log_path.read_text()
    for secret in (SECRET, SECRET.upper(), ALICE_PASSWORD, ADMIN_KEY, alice.cookie, alice.csrf):
        assert secret not in logged, secret
        assert secret not in audit, secret
    events = [json.loads(line)["event"] for line in audit.splitlines()]
    assert events == [
        "login_success",
        *["login_failure"] * 5,
        *["throttled"] * 5,
        "access_refused",  # the malformed X-API-Key: refused before any throttle
        "access_refused",  # the cross-site cookie write
    ]
