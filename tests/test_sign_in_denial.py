"""Attacks that try to take sign-in away from real users instead of breaking in (issue 10).

A flood of a user's name from elsewhere must not lock that user's own browser out (OWASP
device cookies); a flood of bad keys from a shared address must not refuse a valid key; and
no other site can sign a user out. Requests come through a trusted proxy, so each attempt
chooses its client address with ``X-Forwarded-For``, as real clients behind it would have.
"""

from __future__ import annotations

import pytest

from comfyui_auth.middleware.request_credentials import DEVICE_COOKIE, SESSION_COOKIE
from comfyui_auth.tests.test_adversarial import (
    ADMIN_KEY,
    ALICE_KEY,
    ALICE_PASSWORD,
    BOB_PASSWORD,
    EVIL,
    OWN_NAVIGATION,
    MakeSite,
    Session,
    Site,
    make_site,
    site,
)

__all__ = ["make_site", "site"]  # fixtures, imported for pytest
PROXIED = {"COMFYUI_AUTH_TRUSTED_PROXIES": "127.0.0.1"}
ALICES_DESK = "192.0.2.10"


def from_address(address: str, **headers: str) -> dict[str, str]:
    return {"X-Forwarded-For": address, **headers}


async def password_login(
    site: Site, user: str, password: str, address: str, device: str | None = None
) -> tuple[int, str | None]:
    """Status of one JSON sign-in, and the device cookie it set (if any)."""
    headers = from_address(address)
    if device is not None:
        headers["Cookie"] = f"{DEVICE_COOKIE}={device}"
    response = await site.client.post(
        "/auth/login", json={"username": user, "password": password}, headers=headers
    )
    cookie = response.cookies.get(DEVICE_COOKIE)
    return response.status, cookie.value if cookie is not None else None


async def flood(site: Site, user: str, attempts: int = 40) -> None:
    """Wrong passwords for ``user`` from many other addresses, as a botnet sends them."""
    for number in range(attempts):
        status, _ = await password_login(site, user, f"wrong-{number}", f"203.0.113.{number}")
        assert status in (401, 429)


@pytest.fixture
async def proxied(make_site: MakeSite) -> Site:
    return await make_site(env=PROXIED)


# --- device cookies ------------------------------------------------------------------------


async def test_a_browser_that_signed_in_before_keeps_signing_in_through_a_flood(
    proxied: Site,
) -> None:
    status, device = await password_login(proxied, "alice", ALICE_PASSWORD, ALICES_DESK)
    assert status == 200
    assert device is not None
    await flood(proxied, "alice")
    untrusted, _ = await password_login(proxied, "alice", ALICE_PASSWORD, "198.51.100.7")
    assert untrusted == 429  # untrusted devices are throttled as before
    status, renewed = await password_login(proxied, "alice", ALICE_PASSWORD, ALICES_DESK, device)
    assert status == 200
    assert renewed is not None
    # Also from an address the flood came from (a shared NAT): the device decides.
    status, _ = await password_login(proxied, "alice", ALICE_PASSWORD, "203.0.113.5", renewed)
    assert status == 200


async def test_the_device_cookie_is_scoped_to_the_login_routes_and_hidden_from_scripts(
    proxied: Site,
) -> None:
    response = await proxied.client.post(
        "/auth/login", json={"username": "alice", "password": ALICE_PASSWORD}
    )
    cookie = response.cookies[DEVICE_COOKIE]
    assert cookie["path"] == "/auth"
    assert cookie["httponly"]
    assert cookie["samesite"] == "Strict"
    assert int(cookie["max-age"]) > 0
    key_login = await proxied.client.post("/auth/login", json={"api_key": ALICE_KEY})
    assert DEVICE_COOKIE not in key_login.cookies  # trust is per user name


async def test_a_trusted_device_gets_its_own_allowance_and_then_the_common_one(
    proxied: Site,
) -> None:
    _, device = await password_login(proxied, "alice", ALICE_PASSWORD, ALICES_DESK)
    await flood(proxied, "alice")
    for number in range(5):
        status, _ = await password_login(proxied, "alice", f"typo-{number}", ALICES_DESK, device)
        assert status == 401
    # Its own allowance spent, the device is judged like any other: the flooded name waits.
    status, _ = await password_login(proxied, "alice", ALICE_PASSWORD, ALICES_DESK, device)
    assert status == 429


UNTRUSTED_COOKIES = [
    pytest.param("bob", id="device-of-another-user"),
    pytest.param("forged", id="forged"),
    pytest.param("tampered", id="tampered"),
]


@pytest.mark.parametrize("kind", UNTRUSTED_COOKIES)
async def test_a_device_cookie_helps_only_the_user_it_was_issued_for(
    proxied: Site, kind: str
) -> None:
    _, bobs = await password_login(proxied, "bob", BOB_PASSWORD, "192.0.2.20")
    _, alices = await password_login(proxied, "alice", ALICE_PASSWORD, ALICES_DESK)
    assert bobs is not None
    assert alices is not None
    cookie = {"bob": bobs, "forged": "eyJ1c2VyIjoiYWxpY2UifQ.AAAA.BBBB", "tampered": "x" + alices}
    await flood(proxied, "alice")
    status, _ = await password_login(proxied, "alice", ALICE_PASSWORD, "192.0.2.20", cookie[kind])
    assert status == 429


# --- API keys ------------------------------------------------------------------------------


@pytest.mark.parametrize("carrier", ["X-API-Key", "Authorization"])
async def test_a_valid_key_passes_while_bad_keys_throttle_its_address(
    proxied: Site, carrier: str
) -> None:
    def sent(key: str) -> dict[str, str]:
        value = f"Bearer {key}" if carrier == "Authorization" else key
        return from_address("198.51.100.50", **{carrier: value})

    for number in range(30):
        answer = await proxied.client.get("/api/prompt", headers=sent(f"bad-key-{number:024}"))
        assert answer.status in (401, 429)
    assert (await proxied.client.get("/api/prompt", headers=sent("bad-key-x" * 3))).status == 429
    for key in (ALICE_KEY, ADMIN_KEY):
        assert (await proxied.client.get("/api/prompt", headers=sent(key))).status == 200
    assert proxied.host.calls == ["get_prompt", "get_prompt"]


# --- sign-out ------------------------------------------------------------------------------

NOT_THE_USERS_OWN = [
    pytest.param(
        {
            "Sec-Fetch-Site": "cross-site",
            "Sec-Fetch-Mode": "navigate",
            "Sec-Fetch-Dest": "document",
        },
        id="link-on-another-site",
    ),
    pytest.param(
        {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"},
        id="link-on-a-sibling-subdomain",
    ),
    pytest.param(
        {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"},
        id="img-on-another-site",
    ),
    pytest.param(
        {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"},
        id="img-in-a-workflow-note",
    ),
    pytest.param(
        {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe"},
        id="frame",
    ),
    pytest.param({}, id="browser-without-fetch-metadata"),
    pytest.param({"Referer": f"{EVIL}/x"}, id="referer-of-another-site"),
]


async def alive(site: Site, session: Session) -> bool:
    return (await site.me(session.cookie))[0] == 200


@pytest.mark.parametrize("headers", NOT_THE_USERS_OWN)
@pytest.mark.parametrize("path", ["/auth/login", "/auth_login.html"])
async def test_only_the_users_own_navigation_follows_the_sign_out_link(
    site: Site, headers: dict[str, str], path: str
) -> None:
    alice = await site.sign_in()
    cookie = {"Cookie": alice.header()[1]}
    page = await site.client.get(f"{path}?logout=true", headers={**headers, **cookie})
    assert page.status == 200
    html = await page.text()
    assert 'action="/auth/logout"' in html
    assert f'name="csrf_token" value="{alice.csrf}"' in html
    assert SESSION_COOKIE not in page.cookies  # nothing cleared
    assert await alive(site, alice)


async def test_the_users_own_click_on_the_sign_out_link_signs_out(site: Site) -> None:
    alice = await site.sign_in()
    page = await site.client.get(
        "/auth/login?logout=true", headers={**OWN_NAVIGATION, "Cookie": alice.header()[1]}
    )
    assert page.status == 200
    assert "You have signed out." in await page.text()
    assert not await alive(site, alice)


CONFIRMATIONS = [
    pytest.param(lambda a: {"csrf_token": a.csrf}, None, 303, id="confirmed-on-the-page"),
    pytest.param(lambda a: {}, None, 403, id="token-missing"),
    pytest.param(lambda a: {"csrf_token": "guess"}, None, 403, id="token-wrong"),
    pytest.param(lambda a: {"csrf_token": a.csrf}, EVIL, 403, id="token-posted-from-another-site"),
]


@pytest.mark.parametrize(("fields", "origin", "status"), CONFIRMATIONS)
async def test_the_confirmation_form_signs_out_only_with_the_sessions_token(
    site: Site, fields: object, origin: str | None, status: int
) -> None:
    alice = await site.sign_in()
    headers = {"Cookie": alice.header()[1], "Origin": origin or site.origin}
    assert callable(fields)
    answer = await site.client.post(
        "/auth/logout", data=fields(alice), headers=headers, allow_redirects=False
    )
    assert answer.status == status
    assert await alive(site, alice) == (status != 303)
