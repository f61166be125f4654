"""Where a credential may travel in a request, and how strictly each carrier is parsed.

API-key carriers: ``Authorization: Bearer <key>`` (scheme case-insensitive, RFC 9110),
``X-API-Key``, and the query parameters ``api_key`` and ``token`` (for ``<img>`` tags,
WebSocket URLs and the clients of older ComfyUI login nodes). ``Authorization: Basic``
(RFC 7617) carries a user name and a password, or any user name and an API key as the
password: what Fooocus users, ``comfy-api-simplified``, ComfyScript's ``aiohttp.BasicAuth``
and ``ws://user:pass@host/ws`` URLs send.

An empty carrier (``Bearer`` with no token, an empty ``X-API-Key``, ``?token=`` with no
value, Basic with an empty password) is no credential at all: clients send them when no key
is configured, and the session cookie or the login redirect must still apply. Anything
ambiguous - a duplicated header or parameter, two different keys, whitespace inside a token,
non-ASCII bytes in a key, Basic that is not base64 of UTF-8 ``user:password`` - raises
``MalformedCredentials`` rather than guessing.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from functools import lru_cache

from aiohttp import hdrs, web
from multidict import istr

from ..core.errors import MalformedCredentials

MAX_KEY_LENGTH = 4096
MAX_BASIC_USER_LENGTH = 256
MAX_BASIC_PASSWORD_LENGTH = 1024
QUERY_CARRIERS = ("api_key", "token")
SESSION_COOKIE = "comfyui_auth_session"
CSRF_COOKIE = "comfyui_auth_csrf"
DEVICE_COOKIE = "comfyui_auth_device"
CSRF_HEADER = "X-CSRF-Token"
X_API_KEY = istr("X-API-Key")
PARSED_HEADERS = 256
"""How many distinct Authorization and Cookie header values keep their parse (``lru_cache``):
a client sends the same header on every request, so a busy server parses each once; a flood
of distinct ones only pushes older parses out (at most 256 x 8 KiB, aiohttp's field limit)."""


@dataclass(frozen=True)
class BasicCredentials:
    """What ``Authorization: Basic`` carried; the password's repr never shows it."""

    user: str
    password: str = field(repr=False)


def presented_key(request: web.Request, *, checked: bool = True) -> str | None:
    """The one API key the request carries, or None; raise on any ambiguity.

    Every request of a script passes here: two header lookups, and the query string is
    parsed only when there is one. ``checked=False`` leaves out the check that the key is
    one printable ASCII token, for a caller that only looks the text up among keys already
    proved valid (``CredentialStore.recall_key``); everything else still raises.
    """
    headers = request.headers
    authorization = headers.getall(hdrs.AUTHORIZATION, ())
    header_key = headers.getall(X_API_KEY, ())
    if len(authorization) > 1 or len(header_key) > 1:
        name = hdrs.AUTHORIZATION if len(authorization) > 1 else X_API_KEY
        raise MalformedCredentials(f"more than one {name} header")
    found = None
    bearer = _bearer_token(authorization[0]) if authorization else None
    if bearer is not None:
        found = _carried(bearer, "Bearer token", checked)
    if header_key:
        found = _one_of(found, _carried(header_key[0], "X-API-Key", checked))
    if "?" in request.raw_path:
        query_values = _query_keys(request)
        if len(query_values) > 1:
            raise MalformedCredentials("more than one api_key/token query parameter")
        if query_values:
            found = _one_of(found, _carried(query_values[0], "api_key query parameter", checked))
    return found


def _one_of(found: str | None, token: str | None) -> str | None:
    if found is not None and token is not None and token != found:
        raise MalformedCredentials("the request carries two different API keys")
    return found if found is not None else token


def presented_basic(request: web.Request) -> BasicCredentials | None:
    """The user name and password of ``Authorization: Basic``, or None; raise if malformed.

    The password is split off at the first colon (RFC 7617: a user id has none, a password
    may). The base64 must be canonical (``validate=True``, padded); both parts UTF-8.
    """
    encoded = _authorization(request, "basic")
    if encoded is None:
        return None
    encoded = encoded.strip()
    if not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.encode("ascii"), validate=True).decode("utf-8")
    except (UnicodeError, binascii.Error):
        raise MalformedCredentials("Basic credentials must be base64 of UTF-8 text") from None
    user, colon, password = decoded.partition(":")
    if not colon:
        raise MalformedCredentials("Basic credentials have no colon")
    if not password:
        return None
    if len(user) > MAX_BASIC_USER_LENGTH or len(password) > MAX_BASIC_PASSWORD_LENGTH:
        raise MalformedCredentials("Basic credentials are too long")
    if not (user.isprintable() and password.isprintable()):
        raise MalformedCredentials("Basic credentials hold control characters")
    return BasicCredentials(user, password)


def is_key_text(value: str) -> bool:
    """Whether ``value`` can be an API key (a password, say, cannot): one token of printable
    ASCII without spaces (``[\x21-\x7e]{1,4096}``, said with str methods)."""
    return (
        bool(value)
        and len(value) <= MAX_KEY_LENGTH
        and value.isascii()
        and value.isprintable()
        and " " not in value
    )


def session_cookie(request: web.Request) -> str | None:
    """The session cookie's value, read without parsing every cookie of the request.

    aiohttp's ``request.cookies`` runs a cookie parser over the whole header on every
    request; the session cookie is the package's own plain token, so it is found directly,
    as the part of the one Cookie header that starts with its name (``;``-separated, spaces
    around a part ignored). Anything unusual (the name twice or inside another cookie,
    several Cookie headers, a quoted value, no session cookie) is left to aiohttp's parser,
    which then decides as it always did.
    """
    headers = request.headers.getall(hdrs.COOKIE, ())
    if not headers:
        return None
    found = _plain_session_cookie(headers[0]) if len(headers) == 1 else None
    return found if found is not None else request.cookies.get(SESSION_COOKIE)


@lru_cache(maxsize=PARSED_HEADERS)
def _plain_session_cookie(header: str) -> str | None:
    """The value of the one part of ``header`` named like the session cookie; None for
    anything unusual, which ``session_cookie`` leaves to aiohttp's parser. A pure function
    of the header, so its answer is kept (``PARSED_HEADERS``)."""
    before, name, rest = header.partition(_SESSION_COOKIE_PART)
    if not name or SESSION_COOKIE in rest:  # the name again, with or without "=": unusual
        return None
    before = before.rpartition(";")[2]
    if before and not before.isspace():  # the name is the end of another part
        return None
    value = rest.partition(";")[0].rstrip()
    return None if '"' in value else value


_SESSION_COOKIE_PART = SESSION_COOKIE + "="


def has_query_key(request: web.Request) -> bool:
    """A non-empty ``api_key``/``token`` parameter: a key is being tried in the URL."""
    return bool(_query_keys(request))


def _query_keys(request: web.Request) -> list[str]:
    if "?" not in request.raw_path:  # most requests: nothing to parse
        return []
    query = request.rel_url.query
    return [value for name in QUERY_CARRIERS for value in query.getall(name, ()) if value]


def _authorization(request: web.Request, scheme: str) -> str | None:
    """The credentials after ``scheme`` in the one Authorization header, if that is its scheme."""
    value = _single_header(request, hdrs.AUTHORIZATION)
    return _after_scheme(value, scheme) if value is not None else None


@lru_cache(maxsize=PARSED_HEADERS)
def _bearer_token(authorization: str) -> str | None:
    """The token of an ``Authorization: Bearer`` header (spaces around it dropped), or None
    for another scheme. A pure function of the header, so its answer is kept
    (``PARSED_HEADERS``)."""
    token = _after_scheme(authorization, "bearer")
    return token.strip() if token is not None else None


def _after_scheme(value: str, scheme: str) -> str | None:
    sent_scheme, _, rest = value.strip().partition(" ")
    return rest if sent_scheme.lower() == scheme else None


def _single_header(request: web.Request, name: str) -> str | None:
    values = request.headers.getall(name, ())
    if not values:
        return None
    if len(values) > 1:
        raise MalformedCredentials(f"more than one {name} header")
    return values[0]


def _carried(value: str, carrier: str, checked: bool) -> str | None:
    """The key in one carrier; None for an empty one; raise (when ``checked``) for one no
    client should send."""
    if not value:
        return None
    if checked and not is_key_text(value):
        if len(value) > MAX_KEY_LENGTH:
            raise MalformedCredentials(f"{carrier} is too long")
        raise MalformedCredentials(f"{carrier} must be one printable ASCII token")
    return value
