"""Every answer outside the frontend is sandboxed, whatever policy the host set before us.

ComfyUI started with ``--disable-api-nodes`` puts its own ``Content-Security-Policy`` (one
that allows inline scripts) on every answer its middleware chain returns, and a custom node
may set one on an answer it prepares itself. Each table row is such an answer; the
sandbox must be among the policies the browser receives (it enforces all of them), and the
frontend must never get it (its scripts have to run).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from comfyui_auth.middleware.responses import PAGE_POLICY
from comfyui_auth.middleware.runtime import Handler
from comfyui_auth.tests.minimal_host import build_minimal_host

KEY = "security-headers-key-0123456789"
COMFYUI_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self'; "
    "connect-src 'self'; frame-src 'self'; object-src 'self';"
)
"""What ComfyUI's ``block_external_middleware`` sets (``--disable-api-nodes``, 0.8.0)."""
CSP = "Content-Security-Policy"


def host_policy(policy: str | None) -> Handler:
    """An inner middleware like ComfyUI's ``block_external_middleware``: it overwrites."""

    @web.middleware
    async def block_external(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if policy is not None and not response.prepared:
            response.headers[CSP] = policy
        return response

    return block_external


def streaming(policy: str | None) -> Handler:
    """A custom node's handler that prepares its own answer (VideoHelperSuite's way)."""

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/svg+xml"})
        if policy is not None:
            response.headers[CSP] = policy
        await response.prepare(request)
        await response.write(b"<svg xmlns='http://www.w3.org/2000/svg'/>")
        return response

    return stream


@pytest.mark.parametrize(
    ("policy", "path", "expected"),
    [
        (None, "/api/view", ["sandbox"]),
        (COMFYUI_POLICY, "/api/view", [COMFYUI_POLICY, "sandbox"]),
        (COMFYUI_POLICY, "/view", [COMFYUI_POLICY, "sandbox"]),
        ("sandbox allow-scripts allow-same-origin", "/api/view",
         ["sandbox allow-scripts allow-same-origin", "sandbox"]),
        ("sandbox", "/api/view", ["sandbox"]),
        (None, "/another_node/stream", ["sandbox"]),
        (COMFYUI_POLICY, "/another_node/stream", [COMFYUI_POLICY, "sandbox"]),
        ("script-src 'unsafe-inline'", "/another_node/stream",
         ["script-src 'unsafe-inline'", "sandbox"]),
        (None, "/", []),
        (COMFYUI_POLICY, "/", [COMFYUI_POLICY]),
    ],
)  # fmt: skip
async def test_every_answer_but_the_frontend_carries_the_sandbox_policy(
    tmp_path: Path, policy: str | None, path: str, expected: list[str]
) -> None:
    host = build_minimal_host(tmp_path, {"COMFYUI_API_KEY": KEY})
    host.app.middlewares.append(host_policy(policy))
    host.app.router.add_get("/another_node/stream", streaming(policy))
    async with TestClient(TestServer(host.app, host="127.0.0.1")) as client:
        answer = await client.get(path, headers={"X-API-Key": KEY})
        assert answer.status == 200
        assert answer.headers.getall(CSP, []) == expected
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("policy", [None, COMFYUI_POLICY], ids=["", "host-policy"])
@pytest.mark.parametrize("path", ["/auth/login", "/auth_login.html"])
async def test_the_packages_own_pages_keep_their_own_policy_and_no_sandbox(
    tmp_path: Path, policy: str | None, path: str
) -> None:
    """A sandboxed login page would load no style and no script: it keeps ``PAGE_POLICY``,
    also when a host middleware overwrote it."""
    host = build_minimal_host(tmp_path, {"COMFYUI_API_KEY": KEY})
    host.app.middlewares.append(host_policy(policy))
    async with TestClient(TestServer(host.app, host="127.0.0.1")) as client:
        answer = await client.get(path)
        assert answer.status == 200
        assert answer.headers.getall(CSP) == [PAGE_POLICY]
