"""Several processes writing one ``auth.json`` at once lose no entry and no field (issue 12).

Instances behind one load balancer upgrade Fooocus passwords at sign-in while an
administrator runs ``manage.py``: every read-modify-write holds the file's advisory lock. The
writers here are real processes started together, so they overlap in earnest.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from comfyui_auth.core.auth_file import parse_auth_file
from comfyui_auth.core.auth_file_editor import edit_entries, lock_path, locked, upgrade_password
from comfyui_auth.core.errors import ConfigError
from comfyui_auth.core.passwords import PasswordVerifier, StoredPassword, make_hasher
from comfyui_auth.tests.test_manage_cli import MANAGE, REPO_ROOT, clean_env

VERIFIER = PasswordVerifier(make_hasher(cheap_for_tests=True))
WORKERS = 4
USERS_PER_WORKER = 6
NOTES = 15
TIMEOUT = 60
SIZES = (USERS_PER_WORKER, NOTES)


def add_user(n: int) -> list[str]:
    return ["add-user", f"added-{n}", "--password-stdin"]


WORKER = textwrap.dedent(
    """
    import json, sys, time, types
    package = types.ModuleType("comfyui_auth")
    package.__path__ = [sys.argv[1]]
    sys.modules["comfyui_auth"] = package
    from pathlib import Path
    from comfyui_auth.core.auth_file_editor import edit_entries, find_entry, upgrade_password
    from comfyui_auth.core.passwords import PasswordVerifier, StoredPassword, make_hasher

    path, worker, start = Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    users, notes = int(sys.argv[5]), int(sys.argv[6])
    verifier = PasswordVerifier(make_hasher(cheap_for_tests=True))
    time.sleep(max(0.0, start - time.time()))
    for index in range(users):  # what a sign-in does: upgrade the proved Fooocus password
        name = f"fooocus-{worker}-{index}"
        password = f"plain-password-{name}"
        assert upgrade_password(path, name, StoredPassword.from_plain(password),
                                verifier.hash(password))
    for note in range(notes):  # many small edits, each of one field of this worker's own
        def change(entries, note=note):
            find_entry(entries, f"fooocus-{worker}-0")[f"note-{worker}"] = note
        edit_entries(path, change)
    """
)


def fooocus_entries() -> list[dict[str, object]]:
    return [
        {"user": f"fooocus-{w}-{i}", "pass": f"plain-password-fooocus-{w}-{i}", "extra": [w, i]}
        for w in range(WORKERS)
        for i in range(USERS_PER_WORKER)
    ]


@pytest.mark.slow
def test_concurrent_manage_py_and_password_upgrades_lose_nothing(tmp_path: Path) -> None:
    auth_file = tmp_path / "auth.json"
    auth_file.write_text(json.dumps(fooocus_entries()))
    auth_file.chmod(0o600)
    start = time.time() + 1.5  # every process imported and waiting when the writing begins
    env = clean_env()
    workers = [
        subprocess.Popen(  # noqa: S603 - our own code, fixed arguments
            [
                sys.executable,
                "-c",
                WORKER,
                *map(str, (REPO_ROOT, auth_file, worker, start, *SIZES)),
            ],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in range(WORKERS)
    ]
    admins = [
        subprocess.Popen(  # noqa: S603 - our own script, fixed arguments
            [sys.executable, str(MANAGE), "--auth-file", str(auth_file), *add_user(n)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        for n in range(WORKERS)
    ]
    time.sleep(max(0.0, start - time.time()))
    for process in admins:
        _, errors = process.communicate(f"password-of-an-added-user-{id(process)}\n", TIMEOUT)
        assert process.returncode == 0, errors
    for process in workers:
        _, errors = process.communicate(timeout=TIMEOUT)
        assert process.returncode == 0, errors

    entries = json.loads(auth_file.read_text())
    by_name = {entry["user"]: entry for entry in entries}
    assert sorted(by_name) == sorted(
        [f"fooocus-{w}-{i}" for w in range(WORKERS) for i in range(USERS_PER_WORKER)]
        + [f"added-{n}" for n in range(WORKERS)]
    )
    records = {user.name: user for user in parse_auth_file(auth_file.read_bytes(), auth_file)}
    for w in range(WORKERS):
        for i in range(USERS_PER_WORKER):
            name = f"fooocus-{w}-{i}"
            assert "pass" not in by_name[name]  # every upgrade kept, no plain text left
            assert by_name[name]["extra"] == [w, i]  # a field this package does not know
            assert VERIFIER.verify(records[name].password, f"plain-password-{name}")
        assert by_name[f"fooocus-{w}-0"][f"note-{w}"] == NOTES - 1  # no edit overwritten
    assert stat.S_IMODE(auth_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(lock_path(auth_file).stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["auth.json", "auth.json.lock"]


def test_an_upgrade_leaves_a_password_someone_else_changed_first(tmp_path: Path) -> None:
    """Two instances upgrading one sign-in: the second keeps the first's hash (and sessions)."""
    auth_file = tmp_path / "auth.json"
    auth_file.write_text(json.dumps([{"user": "gina", "pass": "gina-password"}]))
    proved = StoredPassword.from_plain("gina-password")
    first = VERIFIER.hash("gina-password")
    assert upgrade_password(auth_file, "gina", proved, first)
    after_first = auth_file.read_bytes()
    assert not upgrade_password(auth_file, "gina", proved, VERIFIER.hash("gina-password"))
    assert auth_file.read_bytes() == after_first
    assert json.loads(after_first)[0]["hash"] == first


def test_an_edit_waits_for_the_lock_and_reports_a_holder_that_never_lets_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth_file = tmp_path / "auth.json"
    auth_file.write_text("[]")
    monkeypatch.setattr("comfyui_auth.core.auth_file_editor.LOCK_WAIT_SECONDS", 0.3)
    with subprocess.Popen(  # noqa: S603 - a fixed snippet: hold the lock, then let go
        [sys.executable, "-c", HOLD_LOCK, str(lock_path(auth_file)), "0.8"],
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(ConfigError) as refused:
            edit_entries(auth_file, lambda entries: entries.append({"user": "x", "hash": "0" * 64}))
        assert "lock" in refused.value.problem
        assert auth_file.read_text() == "[]"
        holder.wait(TIMEOUT)
    with locked(auth_file):  # released with its holder
        pass


HOLD_LOCK = textwrap.dedent(
    """
    import fcntl, os, sys, time
    descriptor = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
    """
)
