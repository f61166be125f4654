"""Property-based fuzzing (hypothesis) of every parser of untrusted input.

Each parser gets arbitrary input and must answer the way its contract says: a value of the
promised shape or its one documented failure, never another exception, never a secret in a
message. Two properties run against a real server (the minimal host): whatever is sent, no
answer is a 500, none opens a protected route, none echoes a secret.

Examples are bounded (``max_examples``) so the file runs in seconds; ``@example`` pins the
inputs that once broke a parser.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import re
import shutil
import string
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from aiohttp.test_utils import TestServer, make_mocked_request
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, MultiDict, MultiDictProxy
from yarl import URL

from comfyui_auth.core.api_keys import digest_token, generate_token, key_id_of
from comfyui_auth.core.audit import redact_route
from comfyui_auth.core.auth_file import UserRecord, parse_auth_file
from comfyui_auth.core.cookie_signing import CookieSigner
from comfyui_auth.core.errors import BadBody, ConfigError, MalformedCredentials
from comfyui_auth.core.passwords import PasswordVerifier, make_hasher
from comfyui_auth.core.settings import IPNetwork
from comfyui_auth.devhost.folders import DIRECTORY_TYPES, Folders
from comfyui_auth.middleware.client_view import client_view
from comfyui_auth.middleware.host_routes import ADMIN_PREFIXES, canonical_path, requires_admin
from comfyui_auth.middleware.login_body import MAX_BODY_BYTES, MAX_FIELD_LENGTH, read_fields
from comfyui_auth.middleware.public_paths import PUBLIC_PATHS, is_public
from comfyui_auth.middleware.request_credentials import (
    MAX_BASIC_PASSWORD_LENGTH,
    MAX_BASIC_USER_LENGTH,
    MAX_KEY_LENGTH,
    PARSED_HEADERS,
    QUERY_CARRIERS,
    SESSION_COOKIE,
    _bearer_token,
    _plain_session_cookie,
    presented_basic,
    presented_key,
    session_cookie,
)
from comfyui_auth.middleware.return_path import MAX_RETURN_PATH, safe_return_path
from comfyui_auth.middleware.same_origin import is_same_origin
from comfyui_auth.middleware.user_files import NOT_YOUR_FILE, custom_node_file_refusal
from comfyui_auth.tests.minimal_host import MinimalHost, build_minimal_host
from comfyui_auth.tests.raw_http import raw_request

FAST = settings(max_examples=300, deadline=None)
HTTP = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
AUTH_PATH = Path("auth.json")
HEADER_TEXT = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x2FF, blacklist_categories=("Cs",)),
    max_size=60,
)
"""Header values as a client can send them: no CR/LF/NUL, some Latin-1 and beyond."""


# --- auth.json ------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
ENTRY_KEYS = ("user", "pass", "hash", "role", "api_keys", "id", "name", "expires", "created")


@FAST
@given(st.binary(max_size=400))
@example(b"[" + b"1" * 5000 + b"]")
@example(b"[" * 100_000)
@example(b"[" * 50_000 + b"]" * 50_000)
@example(b"\xef\xbb\xbf[]")
@example(b'[{"user": "a", "pass": "x", "api_keys": [{"id": "0123456789ab", "hash": 1}]}]')
def test_auth_file_bytes_raise_only_config_error(data: bytes) -> None:
    outcome = _parse(data)
    if isinstance(outcome, ConfigError):
        assert outcome.fix
        assert str(AUTH_PATH) in outcome.explanation
    else:
        assert isinstance(outcome, tuple)


def _parse(data: bytes) -> tuple[UserRecord, ...] | ConfigError:
    """The parsed users, or the ConfigError; any other exception fails the test."""
    try:
        return parse_auth_file(data, AUTH_PATH)
    except ConfigError as error:
        return error


@FAST
@given(
    st.lists(
        st.dictionaries(st.sampled_from(ENTRY_KEYS), JSON_VALUES, max_size=6) | JSON_VALUES,
        max_size=4,
    )
    | JSON_VALUES
)
def test_any_json_document_is_users_or_a_config_error(document: Any) -> None:
    users = _parse(json.dumps(document).encode())
    if isinstance(users, ConfigError):
        return
    for user in users:
        assert 0 < len(user.name) <= 64
        assert user.role.value in ("admin", "user")


SECRET_TAG = "PW§"
NAMES = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="§"), min_size=0, max_size=12
)
SECRETS = st.text(string.ascii_letters + string.digits, min_size=6, max_size=16).map(
    lambda text: SECRET_TAG + text
)
KEY_ENTRIES = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "id": st.sampled_from(["0123456789ab", "XYZ", "0123456789AB"]) | SECRETS,
            "hash": SECRETS | st.just("sha256:" + "a" * 64),
            "name": NAMES | st.integers(),
            "expires": st.sampled_from(["2030-01-01", "not a date", None]) | SECRETS,
        },
    ),
    max_size=2,
)
USER_ENTRIES = st.fixed_dictionaries(
    {},
    optional={
        "user": NAMES | st.integers(),
        "pass": SECRETS | st.just("") | st.integers(),
        "hash": SECRETS | st.just("$argon2id$x") | st.just("a" * 64),
        "role": st.sampled_from(["admin", "user", "root"]) | NAMES,
        "api_keys": KEY_ENTRIES | st.just("none"),
    },
)


@FAST
@given(st.lists(USER_ENTRIES, max_size=4))
def test_no_auth_file_error_or_record_ever_shows_a_password(entries: list[dict[str, Any]]) -> None:
    secrets = [
        value
        for entry in entries
        for value in _strings(entry)
        if isinstance(value, str) and value.startswith(SECRET_TAG)
    ]
    outcome = _parse(json.dumps(entries).encode())
    if isinstance(outcome, ConfigError):
        shown = f"{outcome} {outcome.explanation} {outcome.problem} {outcome.fix}"
    else:
        shown = repr(outcome)
    assert SECRET_TAG not in shown, (shown, secrets)


def _strings(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _strings(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _strings(item)]
    return [value]


# --- the return path ------------------------------------------------------------------------

RETURN_PATHS = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda prefix, rest: prefix + rest,
        st.sampled_from(
            ["/", "//", "/\\", "\\", "/%2f", "http:", "https://", "javascript:", "/auth", " /"]
        ),
        st.text(string.printable, max_size=60),
    ),
)


@FAST
@given(RETURN_PATHS)
@example("/x?next=//evil&api_key=k&token=t#frag")
@example("/%0d%0aSet-Cookie:x")
@example("/?a=%5C%5Cevil")
@example("/" + "a" * (MAX_RETURN_PATH + 1))
def test_the_return_path_is_always_a_plain_path_on_this_site(value: str) -> None:
    result = safe_return_path(value)
    assert result.startswith("/")
    assert not result.startswith("//")
    assert not result.startswith("/\\")
    assert not result.startswith("/auth")
    assert "\\" not in result
    assert result.isprintable()
    assert not any(character.isspace() for character in result)
    parts = urlsplit(result)
    assert (parts.scheme, parts.netloc) == ("", "")
    assert not {name for name, _ in parse_qsl(parts.query)} & set(QUERY_CARRIERS)
    assert safe_return_path(result) == result


# --- API key ids ----------------------------------------------------------------------------


@FAST
@given(st.binary(max_size=60) | st.binary(max_size=40).map(lambda tail: b"cak_" + tail))
@example(b"cak_0x1234567890_secret")
@example(b"cak_+123456789ab_secret")
@example(b"cak_1_23456789ab_secret")
@example(b"cak_ 123456789ab_secret")
@example(b"cak_0123456789AB_secret")
@example("cak_0123456789a\u0663_x".encode())
def test_a_key_id_is_none_or_twelve_lower_case_hex_digits(token: bytes) -> None:
    key_id = key_id_of(token)
    if key_id is not None:
        assert re.fullmatch("[0-9a-f]{12}", key_id)
        assert token.startswith(f"cak_{key_id}_".encode())
        assert len(token) > len(f"cak_{key_id}_")


def test_every_generated_key_has_its_id() -> None:
    for _ in range(50):
        token, key_id = generate_token()
        assert key_id_of(token.encode()) == key_id
        assert digest_token(token.encode()).startswith("sha256:")


# --- the session cookie signature -----------------------------------------------------------

SIGNER = CookieSigner([b"s" * 32])
OTHER_SIGNER = CookieSigner([b"o" * 32])
SESSION_IDS = st.text(string.ascii_letters + string.digits + "-_", min_size=1, max_size=64)


@FAST
@given(st.text(max_size=300))
@example("a.b.c")
@example("." * 300)
@example("x." + "=" * 40)
@example("é.sig")
def test_an_arbitrary_cookie_is_never_a_session(cookie: str) -> None:
    assert SIGNER.unsign(cookie) is None


@FAST
@given(SESSION_IDS, st.integers(min_value=0), st.sampled_from(string.ascii_letters))
def test_only_the_servers_own_signature_yields_the_session_id(
    session_id: str, where: int, replacement: str
) -> None:
    cookie = SIGNER.sign(session_id)
    assert SIGNER.unsign(cookie) == session_id
    assert SIGNER.unsign(OTHER_SIGNER.sign(session_id)) is None
    value, signature = cookie.rsplit(".", 1)
    position = where % len(value)
    if value[position] != replacement:
        changed = value[:position] + replacement + value[position + 1 :]
        assert SIGNER.unsign(f"{changed}.{signature}") is None
    assert SIGNER.unsign(value) is None
    assert SIGNER.unsign(f"{value}.") is None


# --- the session cookie, read out of the Cookie header -------------------------------------

COOKIE_NAMES = st.sampled_from(
    [SESSION_COOKIE, "comfyui_auth_csrf", "x" + SESSION_COOKIE, SESSION_COOKIE + "x", "a"]
)
COOKIE_PIECES = [SESSION_COOKIE, "=", ";", " ", "\t", '"', "a", "b"]
COOKIE_VALUES = st.text(string.ascii_letters + string.digits + "-_.=", max_size=20)


def _one_part_named(header: str) -> str | None:
    """The plain reading: the one ``;``-separated part named like the session cookie."""
    found = [
        value
        for name, _, value in (part.strip().partition("=") for part in header.split(";"))
        if name == SESSION_COOKIE
    ]
    return found[0] if len(found) == 1 and '"' not in found[0] else None


@FAST
@given(st.lists(st.tuples(COOKIE_NAMES, COOKIE_VALUES), max_size=4), st.sampled_from(["; ", ";"]))
def test_the_session_cookie_is_the_one_part_of_that_name(
    pairs: list[tuple[str, str]], separator: str
) -> None:
    header = separator.join(f"{name}={value}" for name, value in pairs)
    request = make_mocked_request("GET", "/", headers={"Cookie": header} if pairs else {})
    found = session_cookie(request)
    if sum(name == SESSION_COOKIE for name, _ in pairs) == 1:
        assert found == dict(pairs)[SESSION_COOKIE]
    # Whatever the header, the answer is the plain reading or aiohttp's: never a third one.
    assert found in (_one_part_named(header), request.cookies.get(SESSION_COOKIE))


@FAST
@given(st.lists(st.sampled_from(COOKIE_PIECES), max_size=12).map("".join))
@example(f"a={SESSION_COOKIE}=x; {SESSION_COOKIE}=y")
@example(f"a {SESSION_COOKIE}=x")
@example(f'{SESSION_COOKIE}="x"')
@example(f"{SESSION_COOKIE}={SESSION_COOKIE};{SESSION_COOKIE}")  # the name again, bare
def test_an_odd_cookie_header_never_yields_a_made_up_session_cookie(header: str) -> None:
    request = make_mocked_request("GET", "/", headers={"Cookie": header})
    assert session_cookie(request) in (_one_part_named(header), request.cookies.get(SESSION_COOKIE))


def test_kept_header_parses_stay_bounded_and_answer_like_fresh_ones() -> None:
    """A flood of distinct Authorization and Cookie headers only pushes older parses out, and
    a header parsed before gets the same answer from the memo as the first time."""
    parses = (_plain_session_cookie, _bearer_token)
    hits_before = [parse.cache_info().hits for parse in parses]
    for n in range(3 * PARSED_HEADERS):
        token = f"cak_{n:032x}"
        cookie = make_mocked_request(
            "GET", "/", headers={"Cookie": f"a=1; {SESSION_COOKIE}={token}"}
        )
        bearer = make_mocked_request("GET", "/", headers={"Authorization": f"bearer  {token} "})
        for _ in range(2):  # the second time from the memo
            assert session_cookie(cookie) == token
            assert presented_key(bearer) == token
    for parse, hits in zip(parses, hits_before, strict=True):
        kept = parse.cache_info()
        assert kept.currsize <= PARSED_HEADERS
        assert kept.hits - hits >= 3 * PARSED_HEADERS


# --- path canonicalisation: public list and administrator routes ----------------------------


@FAST
@given(st.text(max_size=80))
@example("/%252e%252e/%252e%252e/manager/x")
@example("\\\\manager\\x")
def test_the_canonical_path_never_raises_and_is_normalised(path: str) -> None:
    canonical = canonical_path(path)
    assert canonical.startswith("/")
    assert "//" not in canonical
    assert "/../" not in canonical + "/"
    assert "/./" not in canonical + "/"
    assert "\\" not in canonical
    assert canonical == canonical.lower()


@st.composite
def spelled_admin_paths(draw: st.DrawFn) -> str:
    """An administrator route written the way an attacker would, then decoded by aiohttp."""
    prefix = draw(st.sampled_from(ADMIN_PREFIXES)).strip("/")
    tail = draw(st.sampled_from(["", "queue/install", "x.js", "a/b"]))
    segments = [*prefix.split("/"), *filter(None, tail.split("/"))]
    out = []
    for segment in segments:
        for _ in range(draw(st.integers(0, 2))):
            out.append(draw(st.sampled_from([".", "x/..", "api/.."])))
        letters = []
        for character in segment:
            character = draw(st.sampled_from([character, character.upper()]))
            encoding = draw(st.integers(0, 2))
            if encoding >= 1:
                character = f"%{ord(character):02X}"
            if encoding == 2:
                character = character.replace("%", "%25")
            letters.append(character)
        out.append("".join(letters))
    separator = draw(st.sampled_from(["/", "//", "\\", "/%2f", "/%5c"]))
    path = draw(st.sampled_from(["", "/api", "/API", "//api"])) + "/" + separator.join(out)
    return path + draw(st.sampled_from(["", "/", "."]))


@FAST
@given(spelled_admin_paths())
def test_every_spelling_of_an_administrator_route_is_recognised(path: str) -> None:
    assert requires_admin(path), canonical_path(path)


@st.composite
def public_path_variants(draw: st.DrawFn) -> str:
    path = draw(st.sampled_from(sorted(PUBLIC_PATHS)))
    trick = draw(
        st.sampled_from(
            ["none", "upper", "encode", "prefix", "suffix", "slash", "dot", "api", "semicolon"]
        )
    )
    if trick == "upper":
        return path.upper()
    if trick == "encode":
        index = draw(st.integers(1, len(path) - 1))
        return path[:index] + f"%{ord(path[index]):02x}" + path[index + 1 :]
    if trick == "prefix":
        return draw(st.sampled_from(["/", "//", "/x/..", "/."])) + path
    if trick == "suffix":
        return path + draw(st.sampled_from(["/", ".", "/..", "/../prompt", ";.js", "%00"]))
    if trick == "slash":
        return path.replace("/", "//", draw(st.integers(1, 2)))
    if trick == "dot":
        return path.replace("/", "/./", 1)
    if trick == "api":
        return "/api" + path
    if trick == "semicolon":
        return path + ";x=1"
    return path


@FAST
@given(public_path_variants(), st.sampled_from(["", "?a=1", "?next=/prompt"]))
def test_only_an_exact_public_path_is_public(path: str, query: str) -> None:
    request = make_mocked_request("GET", path + query, headers={"Host": "127.0.0.1"})
    raw_path = request.rel_url.raw_path
    assert is_public(request) == (raw_path in PUBLIC_PATHS)
    if is_public(request):
        # The route that runs is the public one: no decoding turns it into another path.
        assert request.path == raw_path


# --- credentials in headers and query -------------------------------------------------------

CARRIERS = ("X-API-Key", "api_key query parameter", "Bearer token")
KNOWN_REASONS = {
    "more than one api_key/token query parameter",
    "the request carries two different API keys",
    "more than one Authorization header",
    "more than one X-API-Key header",
    *(f"{carrier} is too long" for carrier in CARRIERS),
    *(f"{carrier} must be one printable ASCII token" for carrier in CARRIERS),
}
KEYISH = st.one_of(
    HEADER_TEXT,
    st.text(string.ascii_letters + string.digits + "-_", min_size=1, max_size=40),
    st.just("k" * (MAX_KEY_LENGTH + 1)),
)
AUTHORIZATION = st.one_of(
    HEADER_TEXT,
    st.builds(
        lambda scheme, space, key: scheme + space + key,
        st.sampled_from(["Bearer", "bearer", "BEARER", "Basic", "Token", ""]),
        st.sampled_from([" ", "  ", "\t", ""]),
        KEYISH,
    ),
)


@FAST
@given(
    st.lists(AUTHORIZATION, max_size=2),
    st.lists(KEYISH, max_size=2),
    st.lists(st.tuples(st.sampled_from(["api_key", "token", "x", "API_KEY"]), KEYISH), max_size=3),
)
def test_credential_extraction_returns_one_clean_key_or_a_fixed_reason(
    authorization: list[str], x_api_key: list[str], query: list[tuple[str, str]]
) -> None:
    headers = CIMultiDict([("Host", "127.0.0.1")])
    for value in authorization:
        headers.add("Authorization", value.strip())
    for value in x_api_key:
        headers.add("X-API-Key", value.strip())
    target = str(URL.build(path="/prompt", query=query))
    request = make_mocked_request("GET", target, headers=headers)
    try:
        key = presented_key(request)
    except MalformedCredentials as error:
        reason: str | None = error.reason
        key = None
    else:
        reason = None
    assert reason is None or reason in KNOWN_REASONS
    if key is None:
        return
    text = key
    assert 0 < len(text) <= MAX_KEY_LENGTH
    assert text.isascii()
    assert text.isprintable()
    assert not any(character.isspace() for character in text)


KEY_TEXT = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40)


@FAST
@given(KEY_TEXT, st.sampled_from(["api_key", "token", "API_KEY", "Token"]))
@example("hash#in-the-key", "api_key")
@example("amp&in-the-key", "token")
@example("pct%23in-the-key", "api_key")
def test_an_audited_route_never_keeps_any_part_of_a_query_key(key: str, name: str) -> None:
    route = URL.build(path="/view", query=[("a", "1"), (name, key), ("b", "2")]).path_qs
    redacted = redact_route(route)
    assert redacted.startswith("/view?a=1&")
    assert redacted.endswith(f"{name}=[redacted]&b=2")


BASIC_REASONS = {
    "more than one Authorization header",
    "Basic credentials must be base64 of UTF-8 text",
    "Basic credentials have no colon",
    "Basic credentials are too long",
    "Basic credentials hold control characters",
}
BASIC_PAYLOADS = st.one_of(
    st.binary(max_size=80),
    st.builds(
        lambda user, password: f"{user}:{password}".encode("utf-8", "surrogatepass"),
        st.text(max_size=20),
        st.text(max_size=20) | st.just("p" * (MAX_BASIC_PASSWORD_LENGTH + 1)),
    ),
)
BASIC_HEADERS = st.one_of(
    HEADER_TEXT.map(lambda text: "Basic " + text),
    st.builds(
        lambda scheme, payload, tail: f"{scheme} {base64.b64encode(payload).decode()}{tail}",
        st.sampled_from(["Basic", "basic", "BASIC"]),
        BASIC_PAYLOADS,
        st.sampled_from(["", "=", " x", "!"]),
    ),
)


@FAST
@given(st.lists(BASIC_HEADERS, min_size=1, max_size=2))
@example(["Basic " + base64.b64encode(b"alice:pass:word").decode()])
def test_basic_parsing_returns_a_clean_pair_or_a_fixed_reason(values: list[str]) -> None:
    headers = CIMultiDict([("Host", "127.0.0.1")])
    for value in values:
        headers.add("Authorization", value.strip())
    request = make_mocked_request("GET", "/prompt", headers=headers)
    try:
        pair = presented_basic(request)
    except MalformedCredentials as error:
        reason: str | None = error.reason
        pair = None
    else:
        reason = None
    assert reason is None or reason in BASIC_REASONS
    if pair is None:
        return
    assert len(values) == 1
    assert 0 < len(pair.password) <= MAX_BASIC_PASSWORD_LENGTH
    assert len(pair.user) <= MAX_BASIC_USER_LENGTH
    assert ":" not in pair.user  # the password starts after the first colon
    assert pair.user.isprintable()
    assert pair.password.isprintable()
    assert repr(pair) == f"BasicCredentials(user={pair.user!r})"  # never the password


def _spelled(name: str, choices: list[int]) -> str:
    """``name`` with each character kept, percent-encoded (either hex case) or doubly so."""
    spellings = []
    for character, choice in zip(name, choices[: len(name)], strict=True):
        code = f"{ord(character):02X}"
        spellings.append(
            [character, f"%{code}", f"%{code.lower()}", f"%25{code}", character.upper()][choice]
        )
    return "".join(spellings)


SECRET_VALUES = st.text(string.ascii_letters + string.digits + "-_.~%#;&+=/?", max_size=30).map(
    lambda tail: "S3CR3T-" + tail
)


@FAST
@given(
    st.sampled_from(QUERY_CARRIERS),
    st.lists(st.integers(0, 4), min_size=7, max_size=7),
    SECRET_VALUES,
    st.booleans(),
)
@example("api_key", [0, 0, 0, 2, 0, 0, 0], "S3CR3T-abc", False)  # api%5fkey
@example("token", [1, 0, 0, 0, 0, 0, 0], "S3CR3T-abc", False)  # %74oken
@example("api_key", [4, 4, 4, 0, 4, 4, 4], "S3CR3T-abc", True)  # API_KEY, value raw
def test_no_spelling_of_a_key_parameter_keeps_its_value_in_an_audited_route(
    name: str, choices: list[int], secret: str, raw_value: bool
) -> None:
    """Whatever the spelling of the name or value, redaction decodes names as yarl does."""
    value = secret if raw_value else quote(secret, safe="")
    target = f"/view?a=1&{_spelled(name, choices)}={value}&b=2"
    request = make_mocked_request("GET", target, headers={"Host": "127.0.0.1"})
    query = request.rel_url.query
    if all(choice in (0, 1, 2) for choice in choices) and not raw_value:
        assert query[name] == secret  # the server reads this spelling as a key
    for route in (target, request.path_qs, request.raw_path):
        redacted = redact_route(route)
        assert "S3CR3T" not in redacted, route
        assert redacted.startswith("/view?a=1&")


# --- login bodies ---------------------------------------------------------------------------


class Body:
    """The request payload ``read_fields`` reads with ``content.read(n)``."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def read(self, size: int = -1) -> bytes:
        return self.data if size < 0 else self.data[:size]


BODY_MESSAGES = {
    f"request body larger than {MAX_BODY_BYTES} bytes",
    f"a field is longer than {MAX_FIELD_LENGTH} characters",
    "send the fields as JSON or as an HTML form",
    "the body is not valid JSON",
    "the body must be a JSON object",
    "every field must be a string (remember may be true or false)",
    "the form data is not valid",
    "a form field was sent twice",
}
FIELD_TEXT = st.text(max_size=30) | st.just("f" * (MAX_FIELD_LENGTH + 1))
JSON_BODIES = st.dictionaries(
    st.sampled_from(["username", "password", "api_key", "next", "remember", "x"]),
    FIELD_TEXT | JSON_VALUES,
    max_size=5,
).map(lambda fields: json.dumps(fields).encode())
FORM_BODIES = st.lists(
    st.tuples(st.sampled_from(["username", "password", "next", "remember", "x"]), FIELD_TEXT),
    max_size=6,
).map(lambda pairs: "&".join(f"{quote(k)}={quote(v)}" for k, v in pairs).encode())


@FAST
@given(
    st.sampled_from(
        [
            "application/json",
            "application/x-www-form-urlencoded",
            "text/plain",
            "multipart/form-data; boundary=x",
            "application/json; charset=latin-1",
        ]
    ),
    st.one_of(st.binary(max_size=200), JSON_BODIES, FORM_BODIES),
    st.booleans(),
)
@example("application/json", b'{"password": ' + b"9" * 5000 + b"}", True)
@example("application/json", b"[" * 10_000, True)
@example("application/x-www-form-urlencoded", b"a=1&" * 40, True)
@example("application/x-www-form-urlencoded", b"password=%ff", True)
@example("application/json", b"x" * (MAX_BODY_BYTES + 1), False)
async def test_a_login_body_gives_bounded_text_fields_or_a_fixed_refusal(
    content_type: str, data: bytes, send_length: bool
) -> None:
    headers = {"Host": "127.0.0.1", "Content-Type": content_type}
    if send_length:
        headers["Content-Length"] = str(len(data))
    request = make_mocked_request("POST", "/auth/login", headers=headers, payload=Body(data))
    try:
        fields = await read_fields(request)
    except BadBody as error:
        refusal: BadBody | None = error
    else:
        refusal = None
    if refusal is not None:
        assert refusal.message in BODY_MESSAGES
        assert refusal.too_large == ("larger" in refusal.message or "longer" in refusal.message)
        return
    assert all(isinstance(value, str) for value in fields.values.values())
    assert all(len(value) <= MAX_FIELD_LENGTH for value in fields.values.values())
    assert fields.from_form == (content_type == "application/x-www-form-urlencoded")


# --- client address and origin --------------------------------------------------------------

TRUSTED: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)
PEERS = st.sampled_from(["10.1.2.3", "::1", "192.0.2.7", "2001:db8::5", "unknown"])
HOPS = st.one_of(
    st.sampled_from(["10.0.0.9", "198.51.100.4", "2001:db8::9", "fe80::1%eth0", "unknown"]),
    st.ip_addresses().map(str),
    HEADER_TEXT,
)


@FAST
@given(
    PEERS,
    st.lists(st.lists(HOPS, max_size=3).map(", ".join), max_size=3),
    HEADER_TEXT | st.sampled_from(["https", "HTTP", "ftp", "https, http"]),
    HEADER_TEXT | st.sampled_from(["comfy.example.org", "evil:1", "[::1]:8188"]),
)
def test_the_client_address_is_the_peer_or_an_address_a_trusted_proxy_vouched_for(
    peer: str, forwarded_for: list[str], proto: str, forwarded_host: str
) -> None:
    headers = CIMultiDict(
        [("Host", "comfy.local:8188"), ("X-Forwarded-Proto", proto)],
    )
    headers.add("X-Forwarded-Host", forwarded_host)
    for value in forwarded_for:
        headers.add("X-Forwarded-For", value)
    request = make_mocked_request("GET", "/", headers=headers).clone(remote=peer)
    view = client_view(request, TRUSTED)
    assert view.scheme in ("http", "https")
    assert view.host.isascii()
    assert view.host.isprintable()
    peer_trusted = peer in ("10.1.2.3", "::1")
    assert view.via_trusted_proxy == peer_trusted
    if not peer_trusted:
        assert (view.address, view.scheme, view.host) == (peer, "http", "comfy.local:8188")
        return
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
    assert view.address == peer or view.address in hops
    if view.address != peer:
        ipaddress.ip_address(view.address.split("%", 1)[0])


UNREADABLE_ORIGINS = ("null", "http://[::1", "http://[x", "http://comfy.local:99999")
ORIGINS = st.one_of(
    HEADER_TEXT,
    st.sampled_from(
        [
            *UNREADABLE_ORIGINS,
            "http://comfy.local:8188",
            "HTTP://COMFY.LOCAL:8188",
            "http://comfy.local:8188@evil",
            "https://comfy.local:8188",
            "https://comfy.example.org",
        ]
    ),
)
SITE = "comfy.local:8188"
UNREADABLE_HOSTS = ("[x", "comfy.local:99999")


@FAST
@given(
    st.none() | ORIGINS,
    st.none() | ORIGINS,
    st.sampled_from([SITE, *UNREADABLE_HOSTS, "[::1]:8188", "é"]),
    st.booleans(),
)
@example("http://[x", None, "[x", False)
@example(None, "http://[x/", SITE, False)
@example("http://evil:99999", None, "comfy.local:99999", True)
def test_the_same_origin_check_never_raises_and_refuses_what_it_cannot_read(
    origin: str | None, referer: str | None, host: str, required: bool
) -> None:
    headers = CIMultiDict([("Host", host)])
    if origin is not None:
        headers.add("Origin", origin)
    if referer is not None:
        headers.add("Referer", referer)
    request = make_mocked_request("POST", "/prompt", headers=headers)
    allowed = frozenset({"https://comfy.example.org"})
    verdict = is_same_origin(request, client_view(request, ()), allowed, required=required)
    assert isinstance(verdict, bool)
    claimed = origin.strip().lower() if origin is not None else None
    if claimed in UNREADABLE_ORIGINS:
        assert verdict is False
    if origin is None and not referer:
        assert verdict is (not required)
    if origin is not None and host in UNREADABLE_HOSTS and claimed != "https://comfy.example.org":
        assert verdict is False  # an unreadable Host matches nothing, not even itself
    if claimed == f"http://{SITE}" and host == SITE:
        assert verdict is True


# --- the real server: nothing sent gets a 500, opens a route, or echoes a secret -----------

VERIFIER = PasswordVerifier(make_hasher(cheap_for_tests=True))
ADMIN_KEY = "fuzzing-admin-key-0123456789abcdef"
ALICE_PASSWORD = "fuzzing-alice-password-123"
SERVER_SECRETS = (ADMIN_KEY, ALICE_PASSWORD)
PATH_TEXT = st.text(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/%?", max_size=40)
TARGETS = st.one_of(
    st.builds(lambda tail: "/" + tail, PATH_TEXT),
    st.sampled_from(sorted(PUBLIC_PATHS)),
    st.builds(
        lambda base, tail: base + tail,
        st.sampled_from(["/auth/login", "/api/prompt", "/internal/logs", "/manager/x", "/ws"]),
        PATH_TEXT,
    ),
)
HEADER_NAMES = st.sampled_from(
    [
        "Origin",
        "Referer",
        "Cookie",
        "Content-Type",
        "Authorization",
        "X-API-Key",
        "X-CSRF-Token",
        "X-Forwarded-For",
        "X-Forwarded-Proto",
        "Accept",
        "Sec-Fetch-Mode",
        "Comfy-User",
    ]
)
HEADER_VALUES = st.one_of(
    HEADER_TEXT,
    st.sampled_from(
        [
            "Bearer ",
            f"Bearer {ADMIN_KEY[:-1]}",
            f"{SESSION_COOKIE}=forged.sig",
            "application/json",
            "application/x-www-form-urlencoded",
            "text/html",
            "navigate",
            "null",
            "http://[x",
        ]
    ),
)
LOGIN_BODIES = st.one_of(
    st.binary(max_size=300),
    st.fixed_dictionaries(
        {
            "username": st.sampled_from(["alice", "ALICE", "", "mallory"]) | st.text(max_size=20),
            "password": st.sampled_from([ALICE_PASSWORD[:-1], ALICE_PASSWORD + "x", ""])
            | st.text(max_size=20),
        },
        optional={"next": st.text(max_size=40), "remember": JSON_VALUES},
    ).map(lambda fields: json.dumps(fields).encode()),
    FORM_BODIES,
)


def _head(method: str, target: str, headers: list[tuple[str, str]], length: int | None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return "\r\n".join(lines).encode("utf-8")


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[MinimalHost, int]]:
    auth_file = tmp_path / "auth.json"
    auth_file.write_text(json.dumps([{"user": "alice", "hash": VERIFIER.hash(ALICE_PASSWORD)}]))
    host = build_minimal_host(
        tmp_path, {"COMFYUI_AUTH_FILE": str(auth_file), "COMFYUI_API_KEY": ADMIN_KEY}
    )
    server = TestServer(host.app, host="127.0.0.1")
    await server.start_server()
    try:
        yield host, server.port or 0
    finally:
        await server.close()


def _assert_safe_answer(host: MinimalHost, status: int, body: bytes, sent: bytes) -> None:
    assert status < 500
    assert host.calls == [], "a host handler ran"
    for secret in SERVER_SECRETS:
        if secret.encode() not in sent:
            assert secret.encode() not in body


LOGIN_TARGETS = st.one_of(
    st.sampled_from(["/auth/login", "/auth/login?next=/prompt", "/auth/logout", "/auth/setup"]),
    st.builds(lambda query: "/auth/login?" + query, PATH_TEXT),
)


@HTTP
@given(
    LOGIN_TARGETS,
    st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=5),
    LOGIN_BODIES,
)
@example("/auth/login", [("Origin", "http://[x")], b"{}")
@example("/auth/logout", [("Referer", "http://[::1/x")], b"")
@example(
    "/auth/login",
    [("Content-Type", "application/json")],
    b'{"username": "alice", "password": ' + b"1" * 5000 + b"}",
)
async def test_any_login_post_gets_a_safe_answer(
    served: tuple[MinimalHost, int],
    target: str,
    headers: list[tuple[str, str]],
    body: bytes,
) -> None:
    host, port = served
    head = _head("POST", target, headers, len(body))
    response = await raw_request(port, head, body)
    _assert_safe_answer(host, response.status, response.body, head + body)
    if urlsplit(target).path == "/auth/login":
        assert response.status != 200, "signed in without the password"


@HTTP
@given(
    st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]),
    TARGETS,
    st.lists(st.tuples(st.just("Authorization"), HEADER_VALUES), max_size=2),
    st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=4),
)
async def test_any_request_without_a_valid_credential_stays_outside(
    served: tuple[MinimalHost, int],
    method: str,
    target: str,
    authorization: list[tuple[str, str]],
    headers: list[tuple[str, str]],
) -> None:
    host, port = served
    head = _head(method, target, authorization + headers, 0 if method == "POST" else None)
    response = await raw_request(port, head)
    _assert_safe_answer(host, response.status, response.body, head)
    raw_path = target.split("?", 1)[0]
    if 200 <= response.status < 300:
        assert raw_path in PUBLIC_PATHS, (method, target, response.status)


# --- a custom node's /view-style query ----------------------------------------------------

FOLDERS = Folders(Path(tempfile.gettempdir()) / f"comfyui-auth-folders-{os.getpid()}")
FOLDER_PATHS = SimpleNamespace(
    get_input_directory=lambda: str(FOLDERS.input),
    get_output_directory=lambda: str(FOLDERS.output),
    get_temp_directory=lambda: str(FOLDERS.temp),
    get_user_directory=lambda: str(FOLDERS.user),
    get_directory_by_type=lambda kind: str(FOLDERS.by_type(kind) or "") or None,
    annotated_filepath=lambda name: (
        FOLDERS.annotated(name)[0],
        str(FOLDERS.annotated(name)[1] or "") or None,
    ),
)
"""``folder_paths`` of a ComfyUI in a temporary folder (``devhost.folders``' layout)."""
BASE = str(FOLDERS.base)
PATH_PIECES = st.lists(
    st.sampled_from(
        ["..", ".", "", "auth_alice", "auth_bob", "output", "input", "user", "x.png", BASE]
    ),
    max_size=6,
).map("/".join)
ANNOTATIONS = st.sampled_from(["", " [output]", " [input]", " [temp]"])
QUOTES = st.sampled_from(["", '"', " "])


@pytest.fixture(scope="module")
def data_folders() -> Iterator[None]:
    """``FOLDERS`` on disk, alice and bob with a folder in each of its data folders."""
    for root in (FOLDERS.input, FOLDERS.output, FOLDERS.temp, FOLDERS.user):
        for who in ("auth_alice", "auth_bob"):
            (root / who).mkdir(parents=True)
    yield
    shutil.rmtree(FOLDERS.base)


def node_readings(filename: str, subfolder: str, kind: str | None) -> list[str]:
    """Every file a naive node may read for this query, normalised: each value (quotes and
    spaces dropped) as a path of its own or under a data folder; ``type`` (``path``: the
    name's own folder) or the annotation picks the folder, then the subfolder and the name,
    whole or its last part."""
    bare = filename.strip().strip('"').strip()
    name, annotated = FOLDER_PATHS.annotated_filepath(bare)
    if kind == "path":
        folders = {os.path.dirname(name)}
    else:
        folders = {annotated, FOLDER_PATHS.get_directory_by_type(kind or "output")} - {None}
    names = {name, name.rpartition("/")[2]}
    values = [bare, subfolder.strip().strip('"').strip()]
    roots = (FOLDERS.input, FOLDERS.output, FOLDERS.temp)
    readings = [value for value in values if "/" in value]  # a path of its own
    readings += [os.path.join(root, value) for root in roots for value in values]
    readings += [os.path.join(folder, subfolder, each) for folder in folders for each in names]
    return [os.path.normpath(os.path.abspath(reading)) for reading in readings]


def closed_to_alice(path: str) -> bool:
    """Is ``path`` (normalised) in bob's folders, or under ``user/`` outside alice's?"""
    closed = [f"{FOLDERS.base}/{kind}/auth_bob" for kind in DIRECTORY_TYPES]
    in_user = path == str(FOLDERS.user) or path.startswith(f"{FOLDERS.user}/")
    mine = f"{FOLDERS.user}/auth_alice"
    return (in_user and not (path == mine or path.startswith(mine + "/"))) or any(
        path == root or path.startswith(root + "/") for root in closed
    )


@FAST
@given(
    PATH_PIECES,
    ANNOTATIONS,
    QUOTES,
    PATH_PIECES,
    st.sampled_from([None, "output", "input", "temp", "path", "other"]),
)
@example("", " [output]", '"', "auth_bob", "other")  # the annotation inside quotes
def test_a_node_query_that_passes_never_reaches_another_users_file(
    data_folders: None, filename: str, annotation: str, quote: str, subfolder: str, kind: str | None
) -> None:
    """Whatever alice puts in a query to a custom node, if the package lets it through, no
    way a naive node may read it lands in bob's folders or in ``user/`` outside her own."""
    sent = f"{quote}{filename}{annotation}{quote}"
    fields = {"filename": sent, "subfolder": subfolder}
    if kind is not None:
        fields["type"] = kind
    query = MultiDictProxy(MultiDict(fields))
    if custom_node_file_refusal(FOLDER_PATHS, query, "auth_alice") is None:
        readings = node_readings(sent, subfolder, kind)
        assert not any(closed_to_alice(path) for path in readings), readings


ODD_VALUES = st.lists(
    st.sampled_from(["auth_bob", "auth_\x00", "..", "/", "\x00", "C:\\", "~", "é", "output"])
    | st.sampled_from([BASE, " [output]", '"'])
    | st.text(st.characters(blacklist_categories=("Cs",)), max_size=8),
    max_size=6,
).map("".join)
"""Query and path values an attacker might send: user folders, NUL, drive letters, quotes."""


@FAST
@given(
    st.lists(
        st.tuples(st.sampled_from(["filename", "subfolder", "type", "path", "dir"]), ODD_VALUES),
        max_size=6,
    ),
    st.lists(ODD_VALUES, max_size=3),
)
def test_any_custom_node_request_gets_an_answer_or_a_reason(
    data_folders: None, fields: list[tuple[str, str]], path_values: list[str]
) -> None:
    """Whatever a query and a path carry (NUL, a drive letter, any script), the custom-node
    rule answers None or one of its reasons: never an exception, so never a 500."""
    query = MultiDictProxy(MultiDict(fields))
    answer = custom_node_file_refusal(FOLDER_PATHS, query, "auth_alice", path_values)
    assert answer in (
        None,
        NOT_YOUR_FILE,
        "the query names filename, subfolder or type more than once",
    )


@pytest.mark.parametrize(
    ("value", "refused"),
    [
        ("user", False),  # a plain word, though it names user/ from ComfyUI's own folder
        ("user/", True),  # a path: user/ itself lists every user's folder
        ("input", False),
        ("output/auth_bob", True),
        ("user/auth_bob", True),
        ("user/__auth", True),  # the package's own secrets
        ("user/users.json", True),
        ("user/auth_alice/workflows", False),  # her own
        ("auth_bob", True),  # under output/
    ],
)
def test_a_custom_node_query_word_is_refused_only_when_it_names_a_closed_folder(
    data_folders: None, monkeypatch: pytest.MonkeyPatch, value: str, refused: bool
) -> None:
    """ComfyUI usually runs in its own folder, so a relative path is read from there too:
    ``?role=user`` must stay open while ``?path=user/`` and ``?path=user/auth_bob`` are
    closed."""
    monkeypatch.chdir(FOLDERS.base)
    query = MultiDictProxy(MultiDict({"value": value}))
    answer = custom_node_file_refusal(FOLDER_PATHS, query, "auth_alice")
    assert (answer == NOT_YOUR_FILE) is refused
