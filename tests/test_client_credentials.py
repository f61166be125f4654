"""HTTP Basic and empty carriers, as the clients people already run send them (issue 10).

Basic is accepted with an ``auth.json`` password and with any user name and an API key as
the password, on every route and the WebSocket; a client that sends it on every request pays
one password hash, not one per request; what was remembered is forgotten when the password
or role changes; failures are throttled like sign-ins; a browser never sees a Basic
challenge, and Basic a browser resends for another site counts for nothing. Empty carriers
are no credential: the session cookie or the login redirect still apply.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import WSServerHandshakeError

from comfyui_auth.core.basic_memory import BasicMemory
from comfyui_auth.tests.test_adversarial import (
    ADMIN_KEY,
    ALICE_KEY,
    ALICE_PASSWORD,
    EVIL,
    VERIFIER,
    Site,
    alice_entry,
    bob_entry,
    make_site,
    site,
)

__all__ = ["make_site", "site"]  # fixtures, imported for pytest
NEW_PASSWORD = "a-new-password-1"


def basic_header(user: str, password: str) -> dict[str, str]:
    """What every client library sends (RFC 7617): base64 of UTF-8 ``user:password``."""
    pair = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {pair}"}


ALICE = basic_header("alice", ALICE_PASSWORD)


def count_hashes(site: Site, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password verification the server runs from now on (a spy on the hasher)."""
    verifier = site.runtime.authenticator.verifier
    original: Callable[..., bool] = verifier.verify
    calls: list[str] = []

    def counted(stored: Any, password: str) -> bool:
        calls.append(password)
        return original(stored, password)

    monkeypatch.setattr(verifier, "verify", counted)
    return calls


# --- accepted ------------------------------------------------------------------------------

ACCEPTED = [
    pytest.param(basic_header("alice", ALICE_PASSWORD), "alice", "basic", id="user-and-password"),
    pytest.param(basic_header("ALICE", ALICE_PASSWORD), "alice", "basic", id="user-name-any-case"),
    pytest.param(basic_header("anyone", ALICE_KEY), "alice", "api_key", id="any-user-and-key"),
    pytest.param(basic_header("", ALICE_KEY), "alice", "api_key", id="empty-user-and-key"),
    pytest.param(basic_header("bob", ADMIN_KEY), "api-key", "api_key", id="admin-key-as-password"),
]


@pytest.mark.parametrize(("auth", "user", "via"), ACCEPTED)
async def test_basic_credentials_sign_the_caller_in_on_any_route_and_the_websocket(
    site: Site, auth: dict[str, str], user: str, via: str
) -> None:
    me = await site.client.get("/auth/me", headers=auth)
    assert me.status == 200
    assert await me.json() == {"user": user, "role": me_role(user), "via": via}
    assert (await site.client.post("/api/prompt", json={}, headers=auth)).status == 200
    socket = await site.client.ws_connect(f"/ws?clientId=basic-{via}-{user}", headers=auth)
    await socket.close()
    assert "set-cookie" not in me.headers  # Basic opens no session


def me_role(user: str) -> str:
    return "admin" if user == "api-key" else "user"


async def test_a_client_sending_basic_on_every_request_pays_one_hash(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashes = count_hashes(site, monkeypatch)
    for _ in range(20):
        assert (await site.client.get("/api/prompt", headers=ALICE)).status == 200
    assert len(hashes) == 1


CHANGES = [
    pytest.param(
        lambda s: s.write_users(alice_entry(hash=VERIFIER.hash(NEW_PASSWORD)), bob_entry()),
        401,
        id="password-changed",
    ),
    pytest.param(lambda s: s.write_users(bob_entry()), 401, id="user-removed"),
    pytest.param(
        lambda s: s.write_users(alice_entry(role="admin"), bob_entry()), 200, id="role-changed"
    ),
]


@pytest.mark.parametrize(("change", "status_after"), CHANGES)
async def test_a_remembered_basic_pair_is_forgotten_when_the_credential_changes(
    site: Site,
    monkeypatch: pytest.MonkeyPatch,
    change: Callable[[Site], None],
    status_after: int,
) -> None:
    assert (await site.client.get("/api/prompt", headers=ALICE)).status == 200
    store = site.runtime.authenticator.credentials.current
    change(site)

    async def reloaded() -> bool:
        return site.runtime.authenticator.credentials.current is not store

    await site.until(reloaded)
    hashes = count_hashes(site, monkeypatch)
    answer = await site.client.get("/auth/me", headers=ALICE)
    assert answer.status == status_after
    assert hashes == [ALICE_PASSWORD]  # verified afresh, not served from memory
    if status_after == 200:
        assert (await answer.json())["role"] == "admin"
        assert (await site.client.get("/internal/logs", headers=ALICE)).status == 200


# --- refused -------------------------------------------------------------------------------


async def test_wrong_basic_passwords_are_throttled_like_sign_ins(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await site.client.get("/api/prompt", headers=ALICE)).status == 200  # remembered
    wrong = basic_header("alice", "not-the-password")
    for _ in range(5):
        assert (await site.client.get("/api/prompt", headers=wrong)).status == 401
    hashes = count_hashes(site, monkeypatch)
    throttled = await site.client.get("/api/prompt", headers=wrong)
    assert throttled.status == 429
    assert int(throttled.headers["Retry-After"]) > 0
    refused_login = await site.client.post(
        "/auth/login", json={"username": "alice", "password": ALICE_PASSWORD}
    )
    assert refused_login.status == 429  # the same records as the sign-in form
    assert hashes == []  # a throttled guess costs no hash
    # The pair verified before the flood still passes: the holder is not locked out.
    assert (await site.client.get("/api/prompt", headers=ALICE)).status == 200
    assert site.host.calls == ["get_prompt", "get_prompt"]


CROSS_SITE_BROWSER = [
    pytest.param({"Origin": EVIL}, id="origin-of-another-site"),
    pytest.param({"Origin": "null"}, id="origin-null"),
    pytest.param({"Referer": f"{EVIL}/page"}, id="referer-of-another-site"),
    pytest.param({"Sec-Fetch-Site": "cross-site"}, id="fetch-metadata-cross-site"),
    pytest.param({"Sec-Fetch-Site": "same-site"}, id="fetch-metadata-same-site"),
]


@pytest.mark.parametrize("headers", CROSS_SITE_BROWSER)
@pytest.mark.parametrize("password", [ALICE_PASSWORD, ALICE_KEY], ids=["password", "key"])
async def test_basic_credentials_a_browser_resends_for_another_site_count_for_nothing(
    site: Site, headers: dict[str, str], password: str
) -> None:
    sent = {**headers, **basic_header("alice", password)}
    assert (await site.client.post("/api/prompt", json={}, headers=sent)).status == 401
    with pytest.raises(WSServerHandshakeError) as refused:
        await site.client.ws_connect("/ws?clientId=x", headers=sent)
    assert refused.value.status == 401
    assert site.host.calls == []


@pytest.mark.parametrize(
    "auth",
    [None, basic_header("alice", "wrong-password"), basic_header("mallory", "x")],
    ids=["no-credential", "wrong-password", "unknown-user"],
)
async def test_no_answer_ever_challenges_a_browser_with_basic(
    site: Site, auth: dict[str, str] | None
) -> None:
    navigation = {"Accept": "text/html", "Sec-Fetch-Mode": "navigate"}
    page = await site.client.get("/", headers={**navigation, **(auth or {})}, allow_redirects=False)
    assert page.status == 303
    assert page.headers["Location"] == "/auth/login"
    api = await site.client.get("/api/prompt", headers=auth)
    assert api.status == 401
    for answer in (page, api):
        challenges = answer.headers.getall("WWW-Authenticate", [])
        assert not any(c.lower().startswith("basic") for c in challenges)


async def test_basic_credentials_are_never_written_to_the_audit_log(site: Site) -> None:
    await site.client.get("/api/prompt", headers=basic_header("alice", "guess-one-two"))
    await site.client.get("/api/prompt", headers=ALICE)
    await site.client.get("/api/prompt", headers=basic_header("x", ALICE_KEY))
    text = site.runtime.settings.audit_log_path.read_text()
    for secret in ("guess-one-two", ALICE_PASSWORD, ALICE_KEY):
        assert secret not in text
        assert base64.b64encode(secret.encode()).decode() not in text


# --- the memory itself ---------------------------------------------------------------------


def test_remembered_pairs_are_keyed_by_an_hmac_not_a_plain_digest() -> None:
    one, other = BasicMemory(b"k" * 32), BasicMemory(b"j" * 32)
    digest = one.digest("alice", ALICE_PASSWORD)
    assert digest != other.digest("alice", ALICE_PASSWORD)
    assert digest == one.digest("ALICE", ALICE_PASSWORD)  # names match as in auth.json
    plain = f"alice:{ALICE_PASSWORD}".encode()
    assert digest not in (hashlib.sha256(plain).digest(), hashlib.sha256(plain[6:]).digest())
    assert ALICE_PASSWORD.encode() not in digest


async def test_the_memory_is_bounded_and_drops_the_least_recently_used(site: Site) -> None:
    memory = BasicMemory(b"k" * 32, capacity=2)
    store = site.runtime.authenticator.credentials.current
    tag = store.credential_tag("alice", None, 0.0)
    assert tag is not None
    digests = [memory.digest("alice", f"password-{n}") for n in range(3)]
    memory.remember(digests[0], "alice", tag)
    memory.remember(digests[1], "alice", tag)
    assert memory.recall(digests[0], store, 0.0) is not None  # 0 is now the most recent
    memory.remember(digests[2], "alice", tag)
    assert len(memory) == 2
    assert memory.recall(digests[1], store, 0.0) is None
    assert memory.recall(digests[0], store, 0.0) is not None


# --- empty carriers ------------------------------------------------------------------------

EMPTY_CARRIERS = [
    pytest.param("/auth/me", {"Authorization": "Bearer "}, id="bearer-empty"),
    pytest.param("/auth/me", {"Authorization": "Bearer"}, id="bearer-without-token"),
    pytest.param("/auth/me", {"X-API-Key": ""}, id="x-api-key-empty"),
    pytest.param("/auth/me?token=", {}, id="token-param-empty"),
    pytest.param("/auth/me?api_key=", {}, id="api-key-param-empty"),
    pytest.param("/auth/me", {"Authorization": "Basic "}, id="basic-empty"),
    pytest.param("/auth/me", basic_header("alice", ""), id="basic-password-empty"),
]


@pytest.mark.parametrize(("target", "headers"), EMPTY_CARRIERS)
async def test_an_empty_carrier_leaves_the_session_cookie_in_charge(
    site: Site, target: str, headers: dict[str, str]
) -> None:
    session = await site.sign_in()
    with_cookie = await site.client.get(target, headers={**headers, "Cookie": session.header()[1]})
    assert with_cookie.status == 200
    assert (await with_cookie.json())["via"] == "session"
    navigation = {**headers, "Accept": "text/html", "Sec-Fetch-Mode": "navigate"}
    page = await site.client.get(target, headers=navigation, allow_redirects=False)
    assert page.status == 303
    assert page.headers["Location"].startswith("/auth/login")
