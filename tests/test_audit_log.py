"""The audit file: private (0600), free of secrets, and bounded under a flood of refusals."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from comfyui_auth.core.audit import FILE_BURST, FILE_WINDOW_SECONDS, AuditLog
from comfyui_auth.core.passwords import PasswordVerifier, make_hasher
from comfyui_auth.tests.minimal_host import build_minimal_host

ADMIN_KEY = "audit-admin-key-0123456789abcdef"


def lines_of(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """Run with umask 000, the worst case: anything not asked for explicitly is world-open."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("permissive_umask")
def test_the_audit_file_is_created_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    AuditLog(path).record("login_success", user="alice", client="127.0.0.1", route="/auth/login")
    assert mode_of(path) == 0o600
    assert lines_of(path)[0]["user"] == "alice"


def test_an_audit_file_left_world_readable_is_made_private_at_the_next_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.log"
    path.write_text('{"event":"old"}\n')
    path.chmod(0o644)
    AuditLog(path).record("logout", user="alice")
    assert mode_of(path) == 0o600
    assert [line["event"] for line in lines_of(path)] == ["old", "logout"]


@pytest.mark.usefixtures("permissive_umask")
async def test_the_servers_audit_file_is_private(tmp_path: Path) -> None:
    host = build_minimal_host(tmp_path, {"COMFYUI_API_KEY": ADMIN_KEY})
    async with TestClient(TestServer(host.app, host="127.0.0.1")) as client:
        assert (await client.get("/api/prompt")).status == 401
    path = host.runtime.settings.audit_log_path
    assert mode_of(path) == 0o600
    assert [line["event"] for line in lines_of(path)] == ["access_refused"]


async def test_a_flood_of_anonymous_requests_writes_a_bounded_number_of_lines(
    tmp_path: Path,
) -> None:
    host = build_minimal_host(tmp_path, {"COMFYUI_API_KEY": ADMIN_KEY})
    async with TestClient(TestServer(host.app, host="127.0.0.1")) as client:
        for _ in range(3 * FILE_BURST):
            assert (await client.get("/api/prompt")).status == 401
        assert (await client.get("/api/prompt", headers={"X-API-Key": ADMIN_KEY})).status == 200
    lines = lines_of(host.runtime.settings.audit_log_path)
    events = [line["event"] for line in lines]
    assert events == ["access_refused"] * FILE_BURST + ["audit_suppressed", "key_used"]
    assert lines[-2]["client"] == "127.0.0.1"
    assert f"more than {FILE_BURST} access_refused events" in str(lines[-2]["reason"])


async def test_a_flood_of_throttled_key_guesses_writes_a_bounded_number_of_lines(
    tmp_path: Path,
) -> None:
    host = build_minimal_host(tmp_path, {"COMFYUI_API_KEY": ADMIN_KEY})
    guess = "wrong-key-0123456789abcdef"
    async with TestClient(TestServer(host.app, host="127.0.0.1")) as client:
        statuses = [
            (await client.get("/api/prompt", headers={"X-API-Key": guess})).status
            for _ in range(3 * FILE_BURST)
        ]
    assert statuses == [401] * 5 + [429] * (3 * FILE_BURST - 5)
    events = [line["event"] for line in lines_of(host.runtime.settings.audit_log_path)]
    assert events == ["access_refused"] * 5 + ["throttled"] * FILE_BURST + ["audit_suppressed"]
    assert guess not in host.runtime.settings.audit_log_path.read_text()


def test_suppression_is_per_client_and_per_event_and_ends_with_the_window(
    tmp_path: Path,
) -> None:
    now = [1000.0]
    path = tmp_path / "audit.log"
    audit = AuditLog(path, clock=lambda: now[0])
    for _ in range(FILE_BURST + 5):
        audit.record("access_refused", client="198.51.100.1", reason="not signed in")
    audit.record("access_refused", client="198.51.100.2", reason="not signed in")
    audit.record("throttled", client="198.51.100.1")
    now[0] += FILE_WINDOW_SECONDS
    audit.record("access_refused", client="198.51.100.1", reason="not signed in")
    summary = [(line["event"], line["client"]) for line in lines_of(path)]
    assert summary == [
        *[("access_refused", "198.51.100.1")] * FILE_BURST,
        ("audit_suppressed", "198.51.100.1"),
        ("access_refused", "198.51.100.2"),
        ("throttled", "198.51.100.1"),
        ("access_refused", "198.51.100.1"),
    ]


@pytest.mark.parametrize(
    "event",
    ["login_success", "logout", "config_rejected", "config_reloaded", "admin_created"],
)
def test_events_that_need_credentials_or_an_operator_are_never_suppressed(
    tmp_path: Path, event: str
) -> None:
    path = tmp_path / "audit.log"
    audit = AuditLog(path)
    for _ in range(FILE_BURST + 5):
        audit.record(event, user="alice", client="198.51.100.1")
    assert [line["event"] for line in lines_of(path)] == [event] * (FILE_BURST + 5)


def test_suppressed_events_still_reach_the_console_at_debug(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    audit = AuditLog(tmp_path / "audit.log")
    with caplog.at_level("DEBUG", logger="comfyui_auth.audit"):
        for _ in range(FILE_BURST + 3):
            audit.record("throttled", client="198.51.100.1", route="/auth/login")
    levels = [record.levelname for record in caplog.records]
    assert levels == ["INFO"] * (FILE_BURST + 1) + ["DEBUG"] * 2


def test_an_unwritable_audit_file_is_reported_and_does_not_raise(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "audit.log"
    path.mkdir()  # opening a directory for writing fails for root too
    AuditLog(path).record("logout", user="alice")
    assert "cannot write the audit log" in caplog.text


def test_key_query_values_are_redacted_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    AuditLog(path).record(
        "access_refused", client="127.0.0.1", route=f"/view?a=1&API_KEY={ADMIN_KEY}&token=t0k3n"
    )
    (line,) = lines_of(path)
    assert line["route"] == "/view?a=1&API_KEY=[redacted]&token=[redacted]"


async def test_a_key_with_an_encoded_hash_sign_is_redacted_whole(tmp_path: Path) -> None:
    key = "hash#in-the-admin-key-0123456789"  # printable ASCII: a valid COMFYUI_API_KEY
    host = build_minimal_host(tmp_path, {"COMFYUI_API_KEY": ADMIN_KEY})
    async with TestClient(TestServer(host.app, host="127.0.0.1")) as client:
        target = "/api/prompt?api_key=hash%23in-the-admin-key-0123456789&x=1"
        assert (await client.get(target)).status == 401
    text = host.runtime.settings.audit_log_path.read_text()
    assert "in-the-admin-key" not in text
    (line,) = lines_of(host.runtime.settings.audit_log_path)
    assert line["route"] == "/api/prompt?api_key=[redacted]&x=1"
    assert key not in text


def events_in(path: Path) -> list[tuple[object, object, object]]:
    if not path.exists():
        return []
    return [(line["event"], line["user"], line["reason"]) for line in lines_of(path)]


async def test_revoked_sessions_and_the_first_use_of_each_key_are_audited(
    tmp_path: Path,
) -> None:
    verifier = PasswordVerifier(make_hasher(cheap_for_tests=True))
    auth_file = tmp_path / "auth.json"

    def write_users(**passwords: str) -> None:
        entries = [{"user": name, "hash": verifier.hash(pw)} for name, pw in passwords.items()]
        auth_file.write_text(json.dumps(entries))

    write_users(alice="alice-password-1", bob="bob-password-12")
    host = build_minimal_host(
        tmp_path, {"COMFYUI_AUTH_FILE": str(auth_file), "COMFYUI_API_KEY": ADMIN_KEY}
    )
    path = host.runtime.settings.audit_log_path
    async with TestClient(TestServer(host.app, host="127.0.0.1")) as client:
        for _ in range(3):
            assert (await client.get("/api/prompt", headers={"X-API-Key": ADMIN_KEY})).status == 200
        assert [e for e in events_in(path) if e[0] == "key_used"] == [
            ("key_used", "api-key", "env")  # the id of COMFYUI_API_KEY
        ]

        login = {"username": "alice", "password": "alice-password-1"}
        assert (await client.post("/auth/login", json=login)).status == 200
        write_users(alice="a-new-password-1", bob="bob-password-12")
        for _ in range(40):  # the watcher polls every second
            if (await client.get("/auth/me")).status == 401:
                break
            await asyncio.sleep(0.1)
        revoked = ("session_revoked", "alice", "credential changed or removed")
        assert revoked in events_in(path)

        login = {"username": "bob", "password": "bob-password-12"}
        assert (await client.post("/auth/login", json=login)).status == 200
        write_users(alice="a-new-password-1")
        for _ in range(40):
            if ("session_revoked", "bob", "user removed") in events_in(path):
                break
            await asyncio.sleep(0.1)
        assert ("session_revoked", "bob", "user removed") in events_in(path)
        assert (await client.get("/auth/me")).status == 401


@pytest.mark.parametrize(
    "spelling",
    ["api%5Fkey", "api%5fkey", "%74oken", "%61%70%69%5f%6b%65%79", "API_KEY", "api_key"],
)
async def test_a_key_in_any_spelling_of_its_parameter_is_redacted_on_a_real_server(
    tmp_path: Path, spelling: str
) -> None:
    """yarl decodes parameter names, so the server reads ``api%5Fkey`` as ``api_key``."""
    wrong = "wrong-key-that-must-not-be-logged-0123"
    host = build_minimal_host(tmp_path, {"COMFYUI_API_KEY": ADMIN_KEY})
    async with TestClient(TestServer(host.app, host="127.0.0.1")) as client:
        accepted = spelling != "API_KEY"  # names are case-sensitive; redaction is not
        for key, status in ((ADMIN_KEY, 200 if accepted else 401), (wrong, 401)):
            target = f"/api/prompt?{spelling}={key}&x=1"
            assert (await client.get(URL(target, encoded=True))).status == status
    text = host.runtime.settings.audit_log_path.read_text()
    assert wrong not in text
    assert ADMIN_KEY not in text
