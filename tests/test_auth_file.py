"""Reading auth.json: Fooocus's format as-is, plus roles, argon2id and API keys."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from comfyui_auth.core.auth_file import parse_auth_file
from comfyui_auth.core.errors import ConfigError
from comfyui_auth.core.identity import Role
from comfyui_auth.core.passwords import PasswordVerifier, make_hasher

PATH = Path("/srv/comfy/user/__auth/auth.json")
VERIFIER = PasswordVerifier(make_hasher(cheap_for_tests=True))


def parse(document: object) -> tuple:
    return parse_auth_file(json.dumps(document).encode(), PATH)


def test_fooocus_plain_and_sha256_entries_are_read_as_is() -> None:
    digest = hashlib.sha256(b"bob-secret").hexdigest()
    alice, bob = parse([{"user": "alice", "pass": "alice-secret"}, {"user": "bob", "hash": digest}])
    assert (alice.name, alice.password.kind, alice.role) == ("alice", "plain", Role.USER)
    assert (bob.password.kind, bob.password.material) == ("sha256", digest)
    assert VERIFIER.verify(alice.password, "alice-secret")
    assert VERIFIER.verify(bob.password, "bob-secret")
    assert not VERIFIER.verify(bob.password, digest)  # pass-the-hash refused


def test_hash_wins_over_pass_like_fooocus() -> None:
    digest = hashlib.sha256(b"from-hash").hexdigest()
    (user,) = parse([{"user": "carol", "pass": "from-pass", "hash": digest}])
    assert VERIFIER.verify(user.password, "from-hash")
    assert not VERIFIER.verify(user.password, "from-pass")


def test_argon2id_hash_role_and_api_keys_are_read() -> None:
    (user,) = parse(
        [
            {
                "user": "dana",
                "hash": VERIFIER.hash("dana-password-1"),
                "role": "admin",
                "api_keys": [
                    {
                        "id": "0123456789ab",
                        "name": "laptop",
                        "hash": "sha256:" + "a" * 64,
                        "expires": "2030-01-01T00:00:00+00:00",
                    }
                ],
                "extra": "kept by editors",
            }
        ]
    )
    assert user.role is Role.ADMIN
    assert user.password.kind == "argon2id"
    assert user.api_keys[0].key_id == "0123456789ab"
    assert user.api_keys[0].expires == 1893456000.0


BROKEN = [
    ("not-json", b"[{", "not valid JSON (line 1, column 3)"),
    ("not-utf8", b"\xff\xfe[", "not UTF-8"),
    ("object-not-array", b'{"user": "a"}', "must hold a JSON array"),
    ("entry-not-object", b'["alice"]', "entry 1 is not a JSON object"),
    ("missing-user", b'[{"pass": "x"}]', 'entry 1 needs a "user" name'),
    ("empty-user", b'[{"user": "", "pass": "x"}]', 'entry 1 needs a "user" name'),
    ("padded-user", b'[{"user": " a", "pass": "x"}]', 'entry 1 needs a "user" name'),
    ("system-user", b'[{"user": "__auth", "pass": "x"}]', 'entry 1 needs a "user" name'),
    ("reserved-user", b'[{"user": "API-KEY", "pass": "x"}]', "is reserved"),
    ("no-password", b'[{"user": "a"}]', 'needs a "hash" or a non-empty "pass"'),
    ("empty-pass", b'[{"user": "a", "pass": ""}]', 'needs a "hash" or a non-empty "pass"'),
    ("short-hash", b'[{"user": "a", "hash": "abc"}]', "neither an argon2id hash"),
    (
        "argon2i-hash",
        b'[{"user": "a", "hash": "$argon2i$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA"}]',
        "neither an argon2id hash",
    ),
    ("bad-role", b'[{"user": "a", "pass": "x", "role": "root"}]', '"role" other than'),
    (
        "duplicate-user-case",
        b'[{"user": "a", "pass": "x"}, {"user": "A", "pass": "y"}]',
        "appears twice",
    ),
    ("api-keys-not-list", b'[{"user": "a", "pass": "x", "api_keys": {}}]', "must be an array"),
    ("api-key-bad-id", b'[{"user": "a", "pass": "x", "api_keys": [{"id": "x"}]}]', "no valid id"),
    (
        "api-key-bad-date",
        b'[{"user": "a", "pass": "x", "api_keys": [{"id": "0123456789ab", '
        b'"hash": "sha256:' + b"b" * 64 + b'", "expires": "soon"}]}]',
        "not ISO 8601",
    ),
]


@pytest.mark.parametrize(("data", "message"), [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN])
def test_a_broken_file_is_refused_with_the_file_and_a_fix(data: bytes, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_auth_file(data, PATH)
    assert message in caught.value.explanation
    assert str(PATH) in caught.value.explanation
    assert "Fix:" in caught.value.explanation


def test_an_error_never_shows_a_password() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_auth_file(b'[{"user": "a", "pass": "hunter2-secret", "role": "x"}]', PATH)
    assert "hunter2" not in caught.value.explanation
