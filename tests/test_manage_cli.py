"""manage.py, run the way an administrator runs it: a separate Python, by path, from elsewhere.

Every test starts ``manage.py`` as a subprocess (``sys.executable``, the file's path, a
temporary working directory, an environment without the caller's ``COMFYUI_*`` variables)
on a temporary auth file, and checks the file with the server's own parser. Passwords go in
through ``--password-stdin`` or, for the prompt-twice behaviour, through a pseudo-terminal.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import pty
import select
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from comfyui_auth.core.auth_file import UserRecord, parse_auth_file
from comfyui_auth.core.credentials import CredentialStore, load_credentials
from comfyui_auth.core.identity import Role
from comfyui_auth.core.passwords import PasswordVerifier, StoredPassword, make_hasher
from comfyui_auth.core.settings import load_settings
from comfyui_auth.tests.minimal_host import MinimalHost, build_minimal_host

REPO_ROOT = Path(__file__).resolve().parent.parent
MANAGE = REPO_ROOT / "manage.py"
PASSWORD = "correct-horse-battery"
OTHER_PASSWORD = "another-long-password"
VERIFIER = PasswordVerifier(make_hasher(cheap_for_tests=True))
TIMEOUT = 60


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without its COMFYUI_* settings, plus cheap test hashing."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("COMFYUI_")}
    env["COMFYUI_AUTH_TEST_CHEAP_HASHING"] = "1"
    env.update(extra)
    return env


class Manage:
    """Runs manage.py on one auth file; remembers every password it was given."""

    def __init__(self, tmp_path: Path) -> None:
        self.auth_file = tmp_path / "state" / "auth.json"  # the folder does not exist yet
        self.cwd = tmp_path / "elsewhere"
        self.cwd.mkdir()
        self.passwords: list[str] = []

    def __call__(
        self,
        *args: str,
        password: str | None = None,
        env: dict[str, str] | None = None,
        script: Path = MANAGE,
        auth_file: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, str(script)]
        if auth_file:
            command += ["--auth-file", str(self.auth_file)]
        command += list(args)
        if password is not None:
            self.passwords.append(password)
            command.append("--password-stdin")
        result = subprocess.run(  # noqa: S603 - our own script, fixed arguments
            command,
            input=f"{password}\n" if password is not None else "",
            capture_output=True,
            text=True,
            cwd=self.cwd,
            env=env if env is not None else clean_env(),
            start_new_session=True,  # no controlling terminal: getpass never reads the real one
            timeout=TIMEOUT,
            check=False,
        )
        for secret in self.passwords:
            assert secret not in command
            assert secret not in result.stdout
            assert secret not in result.stderr
        assert "Traceback" not in result.stderr
        return result

    def ok(self, *args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
        result = self(*args, password=password)
        assert result.returncode == 0, result.stderr
        self.assert_no_leftovers()
        return result

    def refused(
        self, *args: str, password: str | None = None, status: int = 1
    ) -> subprocess.CompletedProcess[str]:
        before = self.auth_file.read_bytes() if self.auth_file.exists() else None
        result = self(*args, password=password)
        assert result.returncode == status, result.stdout + result.stderr
        assert result.stderr.strip(), "a refusal must say why"
        after = self.auth_file.read_bytes() if self.auth_file.exists() else None
        assert after == before, "a refused command changed the file"
        self.assert_no_leftovers()
        return result

    def assert_no_leftovers(self) -> None:
        """Atomic writes leave no temporary file beside auth.json (only its 0600 lock file)."""
        if self.auth_file.parent.exists():
            names = sorted(p.name for p in self.auth_file.parent.iterdir())
            assert names in ([], ["auth.json"], ["auth.json", "auth.json.lock"])
            lock = self.auth_file.parent / "auth.json.lock"
            if lock.exists():
                assert stat.S_IMODE(lock.stat().st_mode) == 0o600

    def users(self) -> dict[str, UserRecord]:
        return {u.name: u for u in parse_auth_file(self.auth_file.read_bytes(), self.auth_file)}

    def entries(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = json.loads(self.auth_file.read_text("utf-8"))
        return entries

    def write(self, entries: list[dict[str, Any]]) -> None:
        self.auth_file.parent.mkdir(mode=0o700, exist_ok=True)
        self.auth_file.write_text(json.dumps(entries), "utf-8")
        self.auth_file.chmod(0o600)

    def store(self) -> CredentialStore:
        """The credentials as the server loads them from this file."""
        settings = load_settings({"COMFYUI_AUTH_FILE": str(self.auth_file)}, self.cwd)
        return load_credentials(settings, b"tag-key")


@pytest.fixture
def manage(tmp_path: Path) -> Manage:
    return Manage(tmp_path)


def verifies(stored: StoredPassword, password: str) -> bool:
    return VERIFIER.verify(stored, password)


# --- users -------------------------------------------------------------------------------


def test_add_user_stores_an_argon2id_hash_in_a_private_file(manage: Manage) -> None:
    result = manage.ok("add-user", "alice", "--role", "admin", password=PASSWORD)
    assert "alice" in result.stdout
    alice = manage.users()["alice"]
    assert alice.role is Role.ADMIN
    assert alice.password.kind == "argon2id"
    assert verifies(alice.password, PASSWORD)
    assert not verifies(alice.password, OTHER_PASSWORD)
    assert PASSWORD not in manage.auth_file.read_text()
    assert stat.S_IMODE(manage.auth_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(manage.auth_file.parent.stat().st_mode) == 0o700
    manage.ok("add-user", "bob", password=OTHER_PASSWORD)
    assert manage.users()["bob"].role is Role.USER
    assert stat.S_IMODE(manage.auth_file.stat().st_mode) == 0o600


def test_without_the_test_flag_the_hash_has_the_servers_production_parameters(
    manage: Manage,
) -> None:
    assert manage("add-user", "alice", password=PASSWORD).returncode == 0
    production_env = clean_env()
    del production_env["COMFYUI_AUTH_TEST_CHEAP_HASHING"]
    assert manage("add-user", "bob", password=PASSWORD, env=production_env).returncode == 0
    production = PasswordVerifier(make_hasher())
    assert not production.needs_rehash(manage.users()["bob"].password)
    assert production.needs_rehash(manage.users()["alice"].password)  # the test flag is honoured
    assert production.verify(manage.users()["bob"].password, PASSWORD)


@pytest.mark.parametrize(
    ("password", "message"),
    [("short-pw", "at least 12 characters"), ("x" * 1025, "at most 1024 characters")],
    ids=["short", "long"],
)
def test_a_password_outside_the_rule_is_refused_and_nothing_changes(
    manage: Manage, password: str, message: str
) -> None:
    assert message in manage.refused("add-user", "alice", password=password).stderr
    assert not manage.auth_file.exists()
    manage.ok("add-user", "alice", password=PASSWORD)
    assert message in manage.refused("passwd", "alice", password=password).stderr
    assert verifies(manage.users()["alice"].password, PASSWORD)


def test_an_empty_standard_input_is_refused(manage: Manage) -> None:
    result = manage("add-user", "alice", "--password-stdin")
    assert result.returncode == 1
    assert "no password on standard input" in result.stderr
    assert not manage.auth_file.exists()


def test_a_password_is_never_accepted_as_an_argument(manage: Manage) -> None:
    result = manage("add-user", "alice", "--password", PASSWORD)
    assert result.returncode == 2
    assert not manage.auth_file.exists()


@pytest.mark.parametrize("name", ["alice", "ALICE", "Alice", "\uff21\uff2c\uff29\uff23\uff25"])
def test_a_duplicate_user_is_refused_case_insensitively_after_nfkc(
    manage: Manage, name: str
) -> None:
    manage.ok("add-user", "alice", password=PASSWORD)
    result = manage.refused("add-user", name, password=OTHER_PASSWORD)
    assert "already exists" in result.stderr
    assert verifies(manage.users()["alice"].password, PASSWORD)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("__system", "not starting with __"),
        (" padded", "leading or trailing"),
        ("api-key", "reserved"),
    ],
)
def test_an_invalid_user_name_is_refused_with_the_servers_rule(
    manage: Manage, name: str, message: str
) -> None:
    assert message in manage.refused("add-user", name, password=PASSWORD).stderr


def test_passwd_replaces_the_password_and_refuses_unknown_users(manage: Manage) -> None:
    manage.ok("add-user", "alice", password=PASSWORD)
    result = manage.ok("passwd", "ALICE", password=OTHER_PASSWORD)
    assert "sessions end" in result.stdout
    stored = manage.users()["alice"].password
    assert verifies(stored, OTHER_PASSWORD)
    assert not verifies(stored, PASSWORD)
    assert 'no user "mallory"' in manage.refused("passwd", "mallory", password=PASSWORD).stderr


def test_set_role_and_remove_user(manage: Manage) -> None:
    manage.ok("add-user", "alice", "--role", "admin", password=PASSWORD)
    manage.ok("add-user", "bob", password=OTHER_PASSWORD)
    result = manage.ok("set-role", "bob", "--role", "admin")
    assert "sessions end" in result.stdout
    assert manage.users()["bob"].role is Role.ADMIN
    manage.ok("set-role", "alice", "--role", "user")
    assert manage.users()["alice"].role is Role.USER
    manage.ok("key-create", "bob", "--label", "laptop")
    result = manage.ok("remove-user", "Bob")
    assert "1 API key" in result.stdout
    assert "no administrator is left" in result.stdout
    assert list(manage.users()) == ["alice"]
    assert manage.store().keys_by_id == {}
    assert 'no user "bob"' in manage.refused("remove-user", "bob").stderr
    assert manage.refused("set-role", "alice", "--role", "root", status=2).returncode == 2
    assert 'no user "carol"' in manage.refused("set-role", "carol", "--role", "admin").stderr


def test_list_users_shows_roles_and_password_forms_but_no_hashes(manage: Manage) -> None:
    manage.write(
        [
            {"user": "carol", "pass": "fooocus-plain-password"},
            {"user": "dave", "hash": hashlib.sha256(b"dave-password").hexdigest()},
        ]
    )
    manage.ok("add-user", "alice", "--role", "admin", password=PASSWORD)
    output = manage.ok("list-users").stdout
    lines = output.splitlines()
    assert lines[0].split() == ["USER", "ROLE", "API", "KEYS", "PASSWORD", "STATE"]
    assert lines[1].split()[:4] == ["carol", "user", "0", "plain"]
    assert lines[2].split()[:4] == ["dave", "user", "0", "sha256"]
    assert lines[3].split() == ["alice", "admin", "0", "argon2id", "active"]
    assert "fooocus-plain-password" not in output
    assert hashlib.sha256(b"dave-password").hexdigest() not in output
    assert "$argon2id$" not in output


UNKNOWN_FIELDS: list[dict[str, Any]] = [
    {
        "user": "alice",
        "pass": "fooocus-plain-password",
        "role": "admin",
        "email": "alice@example.org",
        "x-other-tool": {"theme": "dark", "quota": [1, 2, 3]},
        "api_keys": [
            {
                "id": "0123456789ab",
                "name": "ci",
                "hash": "sha256:" + "ab" * 32,
                "created": "2026-01-01T00:00:00+00:00",
                "expires": None,
                "note": "kept by other tools",
            }
        ],
    },
    {"user": "bob", "hash": hashlib.sha256(b"bob-password").hexdigest(), "nickname": "B"},
]


@pytest.mark.parametrize(
    ("args", "password"),
    [
        (("add-user", "carol"), PASSWORD),
        (("passwd", "bob"), PASSWORD),
        (("set-role", "bob", "--role", "admin"), None),
        (("key-create", "bob", "--label", "phone"), None),
        (("key-revoke", "0123456789ab"), None),
        (("remove-user", "bob"), None),
    ],
    ids=["add-user", "passwd", "set-role", "key-create", "key-revoke", "remove-user"],
)
def test_every_edit_keeps_unknown_fields_and_untouched_entries(
    manage: Manage, args: Sequence[str], password: str | None
) -> None:
    manage.write(UNKNOWN_FIELDS)
    manage.ok(*args, password=password)
    alice, *others = manage.entries()
    assert alice["email"] == "alice@example.org"
    assert alice["x-other-tool"] == {"theme": "dark", "quota": [1, 2, 3]}
    assert alice["pass"] == "fooocus-plain-password"  # nobody asked to change it
    if args[0] != "key-revoke":
        assert alice["api_keys"] == UNKNOWN_FIELDS[0]["api_keys"]
    if args[0] != "remove-user":
        bob = others[0]
        assert bob["nickname"] == "B"
        if args[0] != "passwd":
            assert bob["hash"] == UNKNOWN_FIELDS[1]["hash"]


def test_a_fooocus_file_stays_fooocus_shaped_and_readable(manage: Manage) -> None:
    sha_hash = hashlib.sha256(b"dave-password").hexdigest()
    manage.write(
        [{"user": "carol", "pass": "fooocus-plain-password"}, {"user": "dave", "hash": sha_hash}]
    )
    manage.ok("add-user", "erin", password=PASSWORD)
    manage.ok("set-role", "carol", "--role", "admin")
    manage.ok("key-create", "dave", "--label", "laptop")
    users = manage.users()
    assert verifies(users["carol"].password, "fooocus-plain-password")
    assert verifies(users["dave"].password, "dave-password")
    entries = manage.entries()
    assert [entry["user"] for entry in entries] == ["carol", "dave", "erin"]
    assert entries[0]["pass"] == "fooocus-plain-password"
    assert entries[1]["hash"] == sha_hash
    manage.ok("passwd", "carol", password=OTHER_PASSWORD)
    carol = manage.entries()[0]
    assert "pass" not in carol  # no plain text stays behind
    assert carol["hash"].startswith("$argon2id$")
    assert verifies(manage.users()["carol"].password, OTHER_PASSWORD)


# --- the terminal prompt -------------------------------------------------------------------


def readable(stream: Any, seconds: float) -> bool:
    """``select.poll``, not ``select.select``: a long test run opens descriptors past 1024."""
    poller = select.poll()
    poller.register(stream, select.POLLIN)
    return bool(poller.poll(max(seconds, 0) * 1000))


def read_until(stream: Any, marker: bytes, seen: bytearray) -> None:
    deadline = time.monotonic() + TIMEOUT
    while marker not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no prompt {marker!r}; got {bytes(seen)!r}"
        if readable(stream, remaining):
            chunk = os.read(stream.fileno(), 4096)
            assert chunk, f"manage.py ended before prompting {marker!r}: {bytes(seen)!r}"
            seen.extend(chunk)


def on_terminal(manage: Manage, args: Sequence[str], answers: Sequence[str]) -> tuple[int, str]:
    """Run with a pseudo-terminal as stdin (and no controlling terminal, so the test never
    reads the real one) and type ``answers`` after each prompt; return status and stderr."""
    master, slave = pty.openpty()
    process = subprocess.Popen(  # noqa: S603 - our own script
        [sys.executable, str(MANAGE), "--auth-file", str(manage.auth_file), *args],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=manage.cwd,
        env=clean_env(),
        start_new_session=True,
    )
    os.close(slave)
    seen = bytearray()
    try:
        for prompt, answer in zip(
            [b"New password for", b"Repeat the password"], answers, strict=False
        ):
            read_until(process.stderr, prompt, seen)
            os.write(master, answer.encode() + b"\n")
        stdout, rest = process.communicate(timeout=TIMEOUT)
        echoed = b""
        while readable(master, 0):
            try:
                chunk = os.read(master, 4096)
            except OSError:  # Linux: EIO once the child closed its end
                break
            if not chunk:
                break
            echoed += chunk
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    stderr = (bytes(seen) + rest).decode()
    for answer in answers:
        assert answer.encode() not in echoed, "the password was echoed to the terminal"
        assert answer not in stdout.decode()
        assert answer not in stderr
    assert "Traceback" not in stderr
    return process.returncode, stderr


def test_add_user_on_a_terminal_asks_twice_without_echo(manage: Manage) -> None:
    status, stderr = on_terminal(manage, ["add-user", "alice"], [PASSWORD, PASSWORD])
    assert status == 0, stderr
    assert "New password for alice" in stderr
    assert "Repeat the password" in stderr
    assert verifies(manage.users()["alice"].password, PASSWORD)


def test_two_different_passwords_on_a_terminal_are_refused(manage: Manage) -> None:
    status, stderr = on_terminal(manage, ["add-user", "alice"], [PASSWORD, OTHER_PASSWORD])
    assert status == 1
    assert "the two passwords differ" in stderr
    assert not manage.auth_file.exists()


def test_a_short_password_on_a_terminal_is_refused_before_the_second_prompt(
    manage: Manage,
) -> None:
    status, stderr = on_terminal(manage, ["add-user", "alice"], ["short-pw"])
    assert status == 1
    assert "at least 12 characters" in stderr
    assert "Repeat the password" not in stderr
    assert not manage.auth_file.exists()


def test_without_a_terminal_the_password_is_not_read_visibly(manage: Manage) -> None:
    result = manage("add-user", "alice")  # stdin is a pipe, no --password-stdin
    assert result.returncode == 1
    assert "--password-stdin" in result.stderr
    assert not manage.auth_file.exists()


def test_a_user_cannot_be_added_twice_before_any_prompt(manage: Manage) -> None:
    manage.ok("add-user", "alice", password=PASSWORD)
    status, stderr = on_terminal(manage, ["add-user", "ALICE"], [])
    assert status == 1
    assert "already exists" in stderr
    assert "New password" not in stderr


# --- API keys ----------------------------------------------------------------------------


def created_key(manage: Manage, *args: str) -> str:
    result = manage.ok("key-create", *args)
    (token,) = result.stdout.splitlines()
    assert token.startswith("cak_")
    assert token not in result.stderr
    assert "only time" in result.stderr
    return token


def test_key_create_prints_the_key_once_and_stores_only_its_digest(manage: Manage) -> None:
    manage.ok("add-user", "alice", password=PASSWORD)
    token = created_key(manage, "alice", "--label", "laptop")
    text = manage.auth_file.read_text()
    assert token not in text
    assert token.split("_", 2)[2] not in text  # not even the secret part (cak_<id>_<secret>)
    (record,) = manage.users()["alice"].api_keys
    assert record.name == "laptop"
    assert record.digest == "sha256:" + hashlib.sha256(token.encode()).hexdigest()
    assert record.matches(token.encode())
    assert record.expires is None
    identity = manage.store().identify_key(token, time.time())
    assert identity is not None
    assert (identity.name, identity.role, identity.key_id) == ("alice", Role.USER, record.key_id)
    altered = token[:-1] + ("y" if token.endswith("x") else "x")
    assert manage.store().identify_key(altered, time.time()) is None
    assert token not in manage.ok("key-list").stdout
    assert stat.S_IMODE(manage.auth_file.stat().st_mode) == 0o600


def test_a_key_with_an_expiry_stops_working_after_it(manage: Manage) -> None:
    manage.ok("add-user", "alice", password=PASSWORD)
    before = datetime.now(timezone.utc)
    token = created_key(manage, "alice", "--label", "ci", "--expires-days", "30")
    (record,) = manage.users()["alice"].api_keys
    assert record.expires is not None
    assert record.created is not None
    expected = (before + timedelta(days=30)).timestamp()
    assert expected - 2 <= record.expires <= expected + TIMEOUT
    store, now = manage.store(), time.time()
    assert store.identify_key(token, now) is not None
    assert store.identify_key(token, now + 31 * 86400) is None


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (("--expires-days", "0"), 1),
        (("--expires-days", "-5"), 1),
        (("--expires-days", "soon"), 2),
        (("--label", "\x1b[31m"), 1),
    ],
    ids=["zero", "negative", "not-a-number", "control-characters"],
)
def test_a_bad_key_request_is_refused(manage: Manage, args: Sequence[str], status: int) -> None:
    manage.ok("add-user", "alice", password=PASSWORD)
    label = [] if "--label" in args else ["--label", "x"]
    manage.refused("key-create", "alice", *label, *args, status=status)


def test_a_key_for_an_unknown_user_is_refused(manage: Manage) -> None:
    manage.ok("add-user", "alice", password=PASSWORD)
    result = manage.refused("key-create", "mallory", "--label", "x")
    assert 'no user "mallory"' in result.stderr
    assert "cak_" not in result.stdout


def test_key_list_shows_ids_labels_dates_and_expiry_but_never_digests(manage: Manage) -> None:
    manage.write(
        [
            {
                "user": "alice",
                "hash": VERIFIER.hash(PASSWORD),
                "api_keys": [
                    {
                        "id": "0123456789ab",
                        "name": "old",
                        "hash": "sha256:" + "cd" * 32,
                        "created": "2020-01-01T00:00:00+00:00",
                        "expires": "2020-02-01T00:00:00+00:00",
                    }
                ],
            },
            {"user": "bob", "hash": VERIFIER.hash(OTHER_PASSWORD)},
        ]
    )
    created_key(manage, "bob", "--label", "laptop", "--expires-days", "7")
    output = manage.ok("key-list").stdout
    lines = output.splitlines()
    assert lines[0].split() == ["ID", "USER", "LABEL", "CREATED", "EXPIRES", "EXPIRED"]
    assert lines[1].split() == [
        "0123456789ab",
        "alice",
        "old",
        "2020-01-01",
        "00:00",
        "UTC",
        "2020-02-01",
        "00:00",
        "UTC",
        "yes",
    ]
    assert lines[2].split()[1:3] == ["bob", "laptop"]
    assert lines[2].split()[-1] == "no"
    assert "sha256" not in output
    assert "cd" * 32 not in output
    for entry in manage.entries():
        for key in entry.get("api_keys", []):
            assert key["hash"].removeprefix("sha256:") not in output
    only_bob = manage.ok("key-list", "BOB").stdout
    assert "alice" not in only_bob
    assert "laptop" in only_bob
    assert manage.refused("key-list", "mallory").returncode == 1


def test_key_revoke_removes_only_that_key(manage: Manage) -> None:
    manage.ok("add-user", "alice", password=PASSWORD)
    first = created_key(manage, "alice", "--label", "one")
    second = created_key(manage, "alice", "--label", "two")
    first_id = first.split("_")[1]
    result = manage.ok("key-revoke", first_id)
    assert "stops working" in result.stdout
    store, now = manage.store(), time.time()
    assert store.identify_key(first, now) is None
    assert store.identify_key(second, now) is not None
    assert [key.name for key in manage.users()["alice"].api_keys] == ["two"]
    assert "no API key with id" in manage.refused("key-revoke", first_id).stderr


# --- check and errors --------------------------------------------------------------------


def test_check_reports_users_and_keys(manage: Manage, tmp_path: Path) -> None:
    manage.ok("add-user", "alice", "--role", "admin", password=PASSWORD)
    manage.ok("add-user", "bob", password=OTHER_PASSWORD)
    created_key(manage, "bob", "--label", "laptop")
    result = manage.ok("check")
    assert result.stdout.splitlines()[0] == "ok: 2 users, 1 keys"
    key_file = tmp_path / "admin.key"
    key_file.write_text("too-short\n")
    broken = manage("check", env=clean_env(COMFYUI_API_KEY_FILE=str(key_file)))
    assert broken.returncode == 1
    assert "COMFYUI_API_KEY_FILE is shorter than 16 characters" in broken.stderr
    assert str(key_file) in broken.stderr


def test_check_on_broken_json_names_the_file_and_the_fix(manage: Manage) -> None:
    manage.auth_file.parent.mkdir()
    manage.auth_file.write_text('[{"user": "alice", "hash": ')
    result = manage("check")
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert "not valid JSON (line 1" in line
    assert str(manage.auth_file) in line
    assert "Fix: correct the JSON syntax" in line
    for args in (("list-users",), ("key-create", "alice", "--label", "x")):
        assert "not valid JSON" in manage.refused(*args).stderr
    assert "not valid JSON" in manage.refused("add-user", "bob", password=PASSWORD).stderr


def test_check_on_a_missing_file_and_a_bad_setting(manage: Manage) -> None:
    result = manage("check")
    assert result.returncode == 1
    assert "does not exist" in result.stderr
    manage.ok("add-user", "alice", password=PASSWORD)
    bad = manage("check", env=clean_env(COMFYUI_AUTH_REMEMBER_DAYS="forever"))
    assert bad.returncode == 1
    assert "COMFYUI_AUTH_REMEMBER_DAYS" in bad.stderr


# --- where the file is -----------------------------------------------------------------


def installed_copy(tmp_path: Path, parent: str) -> Path:
    """This package as ``<tmp>/<parent>/comfyui-auth``: a symlink, as many installs are."""
    folder = tmp_path / parent / "comfyui-auth"
    folder.parent.mkdir(parents=True)
    folder.symlink_to(REPO_ROOT, target_is_directory=True)
    return folder / "manage.py"


def test_the_default_file_is_in_comfyuis_user_directory(manage: Manage, tmp_path: Path) -> None:
    script = installed_copy(tmp_path, "ComfyUI/custom_nodes")
    result = manage("add-user", "alice", password=PASSWORD, script=script, auth_file=False)
    assert result.returncode == 0, result.stderr
    default = tmp_path / "ComfyUI" / "user" / "__auth" / "auth.json"
    assert [user.name for user in parse_auth_file(default.read_bytes(), default)] == ["alice"]
    assert stat.S_IMODE(default.parent.stat().st_mode) == 0o700
    check = manage("check", script=script, auth_file=False)
    assert check.stdout.startswith("ok: 1 users, 0 keys")


def test_comfyui_auth_file_is_honoured(manage: Manage, tmp_path: Path) -> None:
    script = installed_copy(tmp_path, "ComfyUI/custom_nodes")
    env = clean_env(COMFYUI_AUTH_FILE=str(manage.auth_file))
    result = manage("add-user", "alice", password=PASSWORD, script=script, env=env, auth_file=False)
    assert result.returncode == 0, result.stderr
    assert list(manage.users()) == ["alice"]
    assert not (tmp_path / "ComfyUI" / "user").exists()


def test_outside_custom_nodes_the_default_location_is_refused(
    manage: Manage, tmp_path: Path
) -> None:
    script = installed_copy(tmp_path, "checkouts")
    result = manage("add-user", "alice", password=PASSWORD, script=script, auth_file=False)
    assert result.returncode == 1
    assert "--auth-file" in result.stderr
    assert not (tmp_path / "user").exists()


def test_the_auth_file_option_may_follow_the_subcommand(manage: Manage) -> None:
    result = manage("add-user", "alice", "--auth-file", str(manage.auth_file), auth_file=False)
    # no password given: refused, but only after the option was understood
    assert "no terminal" in result.stderr or "password" in result.stderr
    manage.ok("add-user", "alice", password=PASSWORD)
    listed = manage("list-users", "--auth-file", str(manage.auth_file), auth_file=False)
    assert "alice" in listed.stdout


# --- end to end: the server sees what manage.py wrote ------------------------------------


async def until(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the server did not pick up the change"
        await asyncio.sleep(0.05)


@pytest.fixture
async def served(
    manage: Manage, tmp_path: Path
) -> AsyncIterator[tuple[Manage, TestClient, MinimalHost]]:
    manage.ok("add-user", "alice", "--role", "admin", password=PASSWORD)
    host = build_minimal_host(tmp_path, {"COMFYUI_AUTH_FILE": str(manage.auth_file)})
    async with TestClient(TestServer(host.app, host="127.0.0.1")) as client:
        yield manage, client, host


async def sign_in(client: TestClient, name: str, password: str) -> int:
    response = await client.post("/auth/login", json={"username": name, "password": password})
    return response.status


async def test_users_and_keys_from_manage_py_work_on_a_running_server(
    served: tuple[Manage, TestClient, MinimalHost],
) -> None:
    manage, client, host = served
    assert await sign_in(client, "alice", PASSWORD) == 200
    me = await client.get("/auth/me")
    assert await me.json() == {"user": "alice", "role": "admin", "via": "session"}
    client.session.cookie_jar.clear()

    def current() -> CredentialStore:
        return host.runtime.authenticator.credentials.current

    await asyncio.to_thread(manage.ok, "add-user", "bob", password=OTHER_PASSWORD)
    await until(lambda: current().user("bob") is not None)
    result = await asyncio.to_thread(manage.ok, "key-create", "bob", "--label", "script")
    token = result.stdout.strip()
    await until(lambda: bool(current().keys_by_id))
    headers = {"X-API-Key": token}
    assert (await client.get("/api/prompt", headers=headers)).status == 200
    await asyncio.to_thread(manage.ok, "key-revoke", token.split("_")[1])
    await until(lambda: not current().keys_by_id)
    assert (await client.get("/api/prompt", headers=headers)).status == 401

    assert await sign_in(client, "bob", OTHER_PASSWORD) == 200
    assert await (await client.get("/auth/me")).json() == {
        "user": "bob",
        "role": "user",
        "via": "session",
    }
    await asyncio.to_thread(manage.ok, "remove-user", "bob")
    await until(lambda: current().user("bob") is None)
    assert (await client.get("/auth/me")).status == 401  # bob's session ended


# --- disable, enable, set-password links ------------------------------------------------


def test_disable_and_enable_keep_the_entry_and_the_server_refuses_meanwhile(
    manage: Manage,
) -> None:
    manage.ok("add-user", "root", "--role", "admin", password=PASSWORD)
    manage.ok("add-user", "alice", password=OTHER_PASSWORD)
    key = manage.ok("key-create", "alice", "--label", "laptop").stdout.strip()
    now = time.time()
    assert manage.store().identify_key(key, now) is not None
    assert "disabled" in manage.ok("disable", "alice").stdout
    store = manage.store()
    assert store.identify_key(key, now) is None
    assert store.user("alice") is None
    assert store.credential_tag("alice", None, now) is None  # every session of hers ends
    assert store.listed("alice") is not None
    assert manage.entries()[1]["disabled"] is True
    assert "disabled" in manage.ok("list-users").stdout.splitlines()[2]
    manage.ok("enable", "alice")
    assert "disabled" not in manage.entries()[1]
    assert manage.store().identify_key(key, now) is not None
    assert "no administrator is left" in manage.ok("disable", "root").stdout
    manage.refused("disable", "carol")


def test_link_prints_only_a_path_with_the_token_and_stores_its_digest(manage: Manage) -> None:
    manage.ok("add-user", "alice", password=PASSWORD)
    result = manage.ok("link", "alice")
    path, _, token = result.stdout.strip().partition("?token=")
    assert path == "/auth/set-password"
    assert token.startswith("spl_")
    assert "valid until" in result.stderr
    assert token not in result.stderr
    stored = manage.entries()[0]["set_password"]
    assert token not in json.dumps(stored)
    assert "link pending" in manage.ok("list-users").stdout
    assert verifies(manage.users()["alice"].password, PASSWORD)  # until the link is used
    manage.refused("link", "carol")
