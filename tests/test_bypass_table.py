"""Adversarial table: path tricks and malformed credentials against the middleware.

Every case is a byte-exact request (see ``raw_http``) and names the exact answer it must get.
A refused case must also never reach a host handler.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from comfyui_auth.core.passwords import PasswordVerifier, make_hasher
from comfyui_auth.tests.minimal_host import MinimalHost, build_minimal_host
from comfyui_auth.tests.raw_http import raw_request

ADMIN_KEY = "admin-key-0123456789abcdef"
OTHER_KEY = "other-key-0123456789abcdef"
ALICE_PASSWORD = "alice: a password with a colon"


def basic(raw: bytes, scheme: str = "Basic") -> str:
    """An Authorization header carrying ``raw`` (``user:password``) as RFC 7617 says."""
    return f"Authorization: {scheme} {base64.b64encode(raw).decode('ascii')}"


@dataclass(frozen=True)
class Case:
    id: str
    target: str
    status: int
    headers: tuple[str, ...] = ()
    method: str = "GET"
    body: bytes = b""

    def head(self) -> bytes:
        lines = [f"{self.method} {self.target} HTTP/1.1", "Host: 127.0.0.1", *self.headers]
        return "\r\n".join(lines).encode("utf-8", "surrogateescape")


BEARER = f"Authorization: Bearer {ADMIN_KEY}"

PATH_TRICKS = [
    Case("api-prompt", "/api/prompt", 401),
    Case("plain-prompt", "/prompt", 401),
    Case("userdata-js-suffix", "/api/userdata/x.js", 401),
    Case("view-png-query", "/api/view?filename=a.png", 401),
    Case("view-plain", "/view?filename=a.png&type=output", 401),
    Case("semicolon-js-suffix", "/api/prompt;.js", 401),
    Case("double-slash", "//prompt", 401),
    Case("double-slash-api", "/api//prompt", 401),
    Case("encoded-api-prefix", "/%61pi/prompt", 401),
    Case("health-dotdot", "/health/../api/prompt", 401),
    Case("health-encoded-dotdot", "/health/..%2fapi/prompt", 401),
    Case("health-all-encoded", "/health%2f..%2fapi%2fprompt", 401),
    Case("login-dotdot", "/auth/login/../../api/prompt", 401),
    Case("inject-dotdot", "/auth_inject.js/../prompt", 401),
    Case("static-dotdot", "/auth/static/../../prompt", 401),
    Case("static-encoded-dotdot", "/auth/static/%2e%2e/%2e%2e/prompt", 401),
    Case("health-trailing-slash", "/health/", 401),
    Case("health-trailing-dot", "/health.", 401),
    Case("health-upper-case", "/HEALTH", 401),
    Case("health-encoded-letter", "/%68ealth", 401),
    Case("health-api-twin-not-public", "/api/health", 401),
    Case("login-suffix", "/auth/loginx", 401),
    Case("login-trailing-slash", "/auth/login/", 401),
    Case("me-needs-auth", "/auth/me", 401),
    Case("legacy-login-subpath", "/auth_login.html/x", 401),
    Case("dot-segment", "/./prompt", 401),
    Case("api-dot-segment", "/api/./prompt", 401),
    Case("internal-logs-subapp", "/internal/logs", 401),
    Case("internal-folder-paths", "/internal/folder_paths", 401),
    Case("index-root", "/", 401),
    Case("index-html", "/index.html", 401),
    Case("frontend-js", "/main.js", 401),
    Case("favicon", "/favicon.ico", 401),
    Case("extension-js", "/extensions/core/x.js", 401),
    Case("encoded-slash-userdata", "/api/userdata/workflows%2Fa.json", 401),
    Case("manager-route", "/manager/queue/install", 401),
    Case("query-suffix", "/prompt?x=.js", 401),
    Case("websocket-without-upgrade", "/ws?clientId=abc", 401),
    Case("absolute-form-target", "http://127.0.0.1/api/prompt", 401),
    Case("post-upload", "/api/upload/image", 401, ("Content-Length: 0",), "POST"),
    Case("post-prompt", "/api/prompt", 401, ("Content-Length: 2",), "POST", b"{}"),
    Case("null-byte-encoded", "/prompt%00", 401),
    Case("backslash-encoded", "/%5cprompt", 401),
    Case("unicode-encoded", "/%E2%80%8Bhealth", 401),
]

MALFORMED = [
    # Empty carriers are no credential (issue 10): 401 like a request without any, not 400.
    Case("bearer-without-token", "/api/prompt", 401, ("Authorization: Bearer",)),
    Case("bearer-with-space-only", "/api/prompt", 401, ("Authorization: Bearer    ",)),
    Case("bearer-two-tokens", "/api/prompt", 400, (f"Authorization: Bearer {ADMIN_KEY} x",)),
    Case("basic-unknown-user", "/api/prompt", 401, ("Authorization: Basic YTpi",)),
    Case("basic-wrong-password", "/api/prompt", 401, (basic(b"alice:" + b"x" * 20),)),
    Case("basic-wrong-key-as-password", "/api/prompt", 401, (basic(f"x:{OTHER_KEY}".encode()),)),
    Case("basic-empty", "/api/prompt", 401, ("Authorization: Basic",)),
    Case("basic-empty-password", "/api/prompt", 401, (basic(b"alice:"),)),
    Case("basic-empty-user-and-password", "/api/prompt", 401, (basic(b":"),)),
    Case("basic-not-base64", "/api/prompt", 400, ("Authorization: Basic !!!!",)),
    Case("basic-unpadded", "/api/prompt", 400, ("Authorization: Basic YTpiYw",)),
    Case("basic-two-tokens", "/api/prompt", 400, ("Authorization: Basic YTpi YTpi",)),
    Case("basic-no-colon", "/api/prompt", 400, (basic(b"alice"),)),
    Case("basic-not-utf8", "/api/prompt", 400, (basic(b"alice:\xff\xfe"),)),
    Case("basic-control-character", "/api/prompt", 400, (basic(b"ali\x00ce:password"),)),
    Case("basic-oversized-password", "/api/prompt", 400, (basic(b"alice:" + b"p" * 2000),)),
    Case(
        "basic-key-cross-site",
        "/api/prompt",
        401,
        (basic(f"x:{ADMIN_KEY}".encode()), "Sec-Fetch-Site: cross-site"),
    ),
    Case(
        "basic-password-from-another-origin",
        "/api/prompt",
        401,
        (basic(f"alice:{ALICE_PASSWORD}".encode()), "Origin: http://evil.example"),
    ),
    Case("token-scheme-ignored", "/api/prompt", 401, (f"Authorization: Token {ADMIN_KEY}",)),
    Case("wrong-bearer", "/api/prompt", 401, (f"Authorization: Bearer {OTHER_KEY}",)),
    Case(
        "two-authorization-headers",
        "/api/prompt",
        400,
        (BEARER, BEARER),
    ),
    Case(
        "two-x-api-key-headers",
        "/api/prompt",
        400,
        (f"X-API-Key: {ADMIN_KEY}", f"X-API-Key: {ADMIN_KEY}"),
    ),
    Case("empty-x-api-key", "/api/prompt", 401, ("X-API-Key: ",)),
    Case(
        "non-ascii-x-api-key", "/api/prompt", 400, ("X-API-Key: cl\udcc3\udca9-0123456789abcdef",)
    ),
    Case("non-ascii-bearer", "/api/prompt", 400, ("Authorization: Bearer \udcff\udcfe",)),
    Case("oversized-authorization", "/api/prompt", 400, ("Authorization: Bearer " + "a" * 9000,)),
    Case("two-api-key-params", f"/api/prompt?api_key={ADMIN_KEY}&api_key={ADMIN_KEY}", 400),
    Case("api-key-and-token-params", f"/api/prompt?api_key={ADMIN_KEY}&token={ADMIN_KEY}", 400),
    Case("empty-api-key-param", "/api/prompt?api_key=", 401),
    Case("empty-token-param", "/api/prompt?token=", 401),
    Case("empty-and-wrong-param", f"/api/prompt?token=&api_key={OTHER_KEY}", 401),
    Case("wrong-api-key-param", f"/api/prompt?api_key={OTHER_KEY}", 401),
    Case(
        "conflicting-carriers",
        "/api/prompt",
        400,
        (BEARER, f"X-API-Key: {OTHER_KEY}"),
    ),
    Case("forged-session-cookie", "/api/prompt", 401, ("Cookie: comfyui_auth_session=abc",)),
    Case(
        "tampered-session-cookie",
        "/api/prompt",
        401,
        ("Cookie: comfyui_auth_session=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sig",),
    ),
    Case(
        "websocket-no-credentials",
        "/ws?clientId=a",
        401,
        (
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        ),
    ),
]

ALLOWED = [
    Case("bearer-lower-case-scheme", "/api/prompt", 200, (f"Authorization: bearer {ADMIN_KEY}",)),
    Case("bearer-upper-case-scheme", "/api/prompt", 200, (f"Authorization: BEARER {ADMIN_KEY}",)),
    Case("x-api-key", "/prompt", 200, (f"X-API-Key: {ADMIN_KEY}",)),
    Case("api-key-query", f"/api/prompt?api_key={ADMIN_KEY}", 200),
    Case("token-query", f"/api/prompt?token={ADMIN_KEY}", 200),
    Case("encoded-api-key-name", f"/api/prompt?api%5Fkey={ADMIN_KEY}", 200),
    Case("empty-token-beside-a-key", f"/api/prompt?token=&api_key={ADMIN_KEY}", 200),
    Case(
        "empty-bearer-beside-a-key",
        "/api/prompt",
        200,
        ("Authorization: Bearer ", f"X-API-Key: {ADMIN_KEY}"),
    ),
    Case("basic-password", "/api/prompt", 200, (basic(f"alice:{ALICE_PASSWORD}".encode()),)),
    Case("basic-any-user-and-key", "/api/prompt", 200, (basic(f"bot:{ADMIN_KEY}".encode()),)),
    Case("basic-empty-user-and-key", "/api/prompt", 200, (basic(f":{ADMIN_KEY}".encode()),)),
    Case(
        "basic-lower-case-scheme",
        "/api/prompt",
        200,
        (basic(f"ALICE:{ALICE_PASSWORD}".encode(), "basic"),),
    ),
    Case(
        "basic-same-origin-browser",
        "/api/prompt",
        200,
        (basic(f"alice:{ALICE_PASSWORD}".encode()), "Sec-Fetch-Site: same-origin"),
    ),
    Case("same-key-in-two-carriers", "/api/prompt", 200, (BEARER, f"X-API-Key: {ADMIN_KEY}")),
    Case("internal-subapp-with-key", "/internal/folder_paths", 200, (BEARER,)),
    Case("view-with-query-key", f"/view?filename=a.png&api_key={ADMIN_KEY}", 200),
    Case("health-is-public", "/health", 200),
    Case("login-page-is-public", "/auth/login", 200),
    Case("legacy-login-page-is-public", "/auth_login.html", 200),
    Case("inject-script-is-public", "/auth/inject.js", 200),
    Case("legacy-inject-script-is-public", "/auth_inject.js", 200),
]


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[tuple[MinimalHost, int]]:
    auth_file = tmp_path / "auth.json"
    verifier = PasswordVerifier(make_hasher(cheap_for_tests=True))
    auth_file.write_text(json.dumps([{"user": "alice", "hash": verifier.hash(ALICE_PASSWORD)}]))
    env = {"COMFYUI_API_KEY": ADMIN_KEY, "COMFYUI_AUTH_FILE": str(auth_file)}
    built = build_minimal_host(tmp_path, env)
    server = TestServer(built.app, host="127.0.0.1")
    await server.start_server()
    try:
        yield built, server.port or 0
    finally:
        await server.close()


@pytest.mark.parametrize("case", PATH_TRICKS + MALFORMED, ids=lambda case: case.id)
async def test_request_is_refused_with_the_exact_answer(
    host: tuple[MinimalHost, int], case: Case
) -> None:
    built, port = host
    response = await raw_request(port, case.head(), case.body)
    assert response.status == case.status
    assert built.calls == []
    assert built.bodies_read == []
    if response.status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "error" in json.loads(response.body)
        assert response.headers["cache-control"] == "no-store"
    assert ADMIN_KEY.encode() not in response.body


@pytest.mark.parametrize("case", ALLOWED, ids=lambda case: case.id)
async def test_valid_credentials_and_public_paths_pass(
    host: tuple[MinimalHost, int], case: Case
) -> None:
    _, port = host
    response = await raw_request(port, case.head())
    assert response.status == case.status
    assert ADMIN_KEY.encode() not in response.body
