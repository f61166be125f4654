"""Every answer the package gives on its own: the only module that knows status codes.

Bodies are JSON ``{"error": ...}`` with fixed wording; none ever echoes request input, and all
carry ``Cache-Control: no-store`` so no proxy or browser keeps an authentication answer.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from ..core.errors import BadBody, ConfigError

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
BEARER_CHALLENGE = 'Bearer realm="ComfyUI"'


def json_answer(status: int, body: dict[str, Any], **headers: str) -> web.Response:
    return web.json_response(body, status=status, headers={**NO_STORE, **headers})


def ok(body: dict[str, Any]) -> web.Response:
    return json_answer(200, body)


def created(body: dict[str, Any]) -> web.Response:
    return json_answer(201, body)


def not_found(message: str) -> web.Response:
    return json_answer(404, {"error": message})


def unauthorized(message: str = "authentication required") -> web.Response:
    return json_answer(401, {"error": message}, **{"WWW-Authenticate": BEARER_CHALLENGE})


def malformed_credentials(reason: str) -> web.Response:
    challenge = f'{BEARER_CHALLENGE}, error="invalid_request"'
    return json_answer(
        400, {"error": f"malformed credentials: {reason}"}, **{"WWW-Authenticate": challenge}
    )


def cors_preflight(allowed_origin: str) -> web.Response:
    """What ComfyUI's own CORS middleware answers to a preflight, plus ``X-API-Key``.

    A preflight carries no credentials by design (Fetch standard), so it is answered here,
    without calling any handler, and only when the host runs with ``--enable-cors-header``.
    """
    return web.Response(
        status=204,
        headers={
            **NO_STORE,
            "Access-Control-Allow-Origin": allowed_origin,
            "Access-Control-Allow-Methods": "POST, GET, DELETE, PUT, OPTIONS, PATCH",
            "Access-Control-Allow-Headers": "Content-Type, Authorization, X-API-Key",
            "Access-Control-Allow-Credentials": "true",
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        },
    )


def bad_request(message: str) -> web.Response:
    return json_answer(400, {"error": message})


def bad_body(error: BadBody) -> web.Response:
    """A body the package will not read: 413 when it is too large, else 400."""
    return json_answer(413 if error.too_large else 400, {"error": error.message})


def forbidden(message: str) -> web.Response:
    return json_answer(403, {"error": message})


def throttled(retry_after: int) -> web.Response:
    return json_answer(
        429,
        {
            "error": f"too many failed attempts; try again in {retry_after} seconds",
            "retry_after": retry_after,
        },
        **{"Retry-After": str(retry_after)},
    )


def too_many_pending(limit: int) -> web.Response:
    """429 for a prompt past the per-user limit, in ComfyUI's own shape for a refused prompt.

    The frontend shows ``error.message: error.details`` of a failed ``POST /prompt`` in its
    error dialog, as it does for ComfyUI's own queue errors.
    """
    noun = "prompt" if limit == 1 else "prompts"
    error = {
        "type": "too_many_pending",
        "message": f"you have reached the limit of {limit} waiting {noun} per user",
        "details": "queue more once one of yours has started",
        "extra_info": {"limit": limit},
    }
    return json_answer(429, {"error": error, "node_errors": {}})


def unavailable(error: ConfigError) -> web.Response:
    """503 for a configuration the package cannot use: the server stays closed."""
    return json_answer(
        503,
        {
            "error": "authentication is not configured correctly; the server stays closed",
            "problem": error.explanation,
        },
        **{"Retry-After": "10"},
    )


def shared_state_unavailable() -> web.Response:
    """503 while the Redis store shared by the instances does not answer: nobody is let in."""
    return json_answer(
        503,
        {"error": "the shared session store does not answer; try again shortly"},
        **{"Retry-After": "5"},
    )


def cannot_isolate() -> web.Response:
    """503 where the package cannot keep a request inside the caller's own files."""
    return json_answer(
        503, {"error": "this request cannot be kept private on this server; tell its administrator"}
    )


def redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={**NO_STORE, "Location": location})


def redirect_to_login(next_path: str) -> web.Response:
    """Send a browser to the login page with a return path that was already validated."""
    query = "" if next_path == "/" else "?" + urlencode({"next": next_path})
    return redirect("/auth/login" + query)


PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
OWN_POLICY = web.ResponseKey("comfyui_auth.own_policy", str)
"""The policy of one of the package's own pages, kept on the answer: a host middleware may
overwrite the header (ComfyUI's under ``--disable-api-nodes``), and the security headers
put it back rather than sandbox the page (a sandboxed login page loads no style or script)."""


def html_page(status: int, html: str, **headers: str) -> web.Response:
    """The package's own pages (login, setup), which post forms to this same origin.

    Their referrer policy is ``same-origin``, not the ``no-referrer`` every other answer
    gets: under ``no-referrer`` Chromium sends ``Origin: null`` with a form post, and the
    same-origin check would refuse the sign-in of a browser without JavaScript. Nothing
    leaves the site either way; these pages link nowhere else.
    """
    page = web.Response(
        status=status,
        text=html,
        content_type="text/html",
        charset="utf-8",
        headers={
            **NO_STORE,
            "Content-Security-Policy": PAGE_POLICY,
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "same-origin",
            **headers,
        },
    )
    page[OWN_POLICY] = PAGE_POLICY
    return page
