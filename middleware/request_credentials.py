"""Where an API key may travel in a request, and how strictly each carrier is parsed.

Carriers: ``Authorization: Bearer <key>`` (scheme case-insensitive, RFC 9110), ``X-API-Key``,
and the query parameters ``api_key`` and ``token`` (for ``<img>`` tags, WebSocket URLs and the
clients of older ComfyUI login nodes). Anything ambiguous - a duplicated header or parameter,
two different keys, whitespace inside a token, non-ASCII bytes - raises
``MalformedCredentials`` rather than guessing. Another ``Authorization`` scheme (``Basic``
added by a proxy, say) is not ours and is ignored.
"""

from __future__ import annotations

from aiohttp import hdrs, web

from ..core.errors import MalformedCredentials

MAX_KEY_LENGTH = 4096
QUERY_CARRIERS = ("api_key", "token")
SESSION_COOKIE = "comfyui_auth_session"
CSRF_COOKIE = "comfyui_auth_csrf"
CSRF_HEADER = "X-CSRF-Token"


def presented_key(request: web.Request) -> bytes | None:
    """The one API key the request carries, or None; raise on any ambiguity."""
    found: list[bytes] = []
    bearer = _single_header(request, hdrs.AUTHORIZATION)
    if bearer is not None:
        token = _bearer_token(bearer)
        if token is not None:
            found.append(token)
    header_key = _single_header(request, "X-API-Key")
    if header_key is not None:
        found.append(_checked(header_key, "X-API-Key"))
    query_values = [
        value for name in QUERY_CARRIERS for value in request.rel_url.query.getall(name, [])
    ]
    if len(query_values) > 1:
        raise MalformedCredentials("more than one api_key/token query parameter")
    if query_values:
        found.append(_checked(query_values[0], "api_key query parameter"))
    if len(set(found)) > 1:
        raise MalformedCredentials("the request carries two different API keys")
    return found[0] if found else None


def has_query_key(request: web.Request) -> bool:
    return any(name in request.rel_url.query for name in QUERY_CARRIERS)


def _single_header(request: web.Request, name: str) -> str | None:
    values = request.headers.getall(name, [])
    if len(values) > 1:
        raise MalformedCredentials(f"more than one {name} header")
    return values[0] if values else None


def _bearer_token(value: str) -> bytes | None:
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return _checked(rest.strip(), "Bearer token")


def _checked(value: str, carrier: str) -> bytes:
    if not value:
        raise MalformedCredentials(f"empty {carrier}")
    if len(value) > MAX_KEY_LENGTH:
        raise MalformedCredentials(f"{carrier} is too long")
    if not value.isascii() or not value.isprintable() or any(c.isspace() for c in value):
        raise MalformedCredentials(f"{carrier} must be one printable ASCII token")
    return value.encode("ascii")
