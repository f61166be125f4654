"""Password verification: every form, constant work, limits and rehash decisions."""

from __future__ import annotations

import hashlib

from comfyui_auth.core.passwords import (
    MAX_PASSWORD_LENGTH,
    PasswordVerifier,
    StoredPassword,
    make_hasher,
)

VERIFIER = PasswordVerifier(make_hasher(cheap_for_tests=True))


def test_argon2id_round_trip_and_mismatch() -> None:
    stored = StoredPassword.from_argon2(VERIFIER.hash("correct horse"))
    assert VERIFIER.verify(stored, "correct horse")
    assert not VERIFIER.verify(stored, "correct horsE")


def test_an_unknown_user_never_verifies() -> None:
    assert not VERIFIER.verify(None, "anything")


def test_a_password_longer_than_the_limit_is_refused_without_hashing() -> None:
    long = "x" * (MAX_PASSWORD_LENGTH + 1)
    stored = StoredPassword.from_argon2(VERIFIER.hash(long))
    assert not VERIFIER.verify(stored, long)


def test_plain_passwords_are_kept_only_as_keyed_digests() -> None:
    stored = StoredPassword.from_plain("plain-secret")
    assert "plain-secret" not in repr(stored)
    assert stored.material != hashlib.sha256(b"plain-secret").hexdigest()
    assert VERIFIER.verify(stored, "plain-secret")


def test_non_ascii_passwords_compare_as_bytes() -> None:
    stored = StoredPassword.from_sha256(hashlib.sha256("pässwörd".encode()).hexdigest())
    assert VERIFIER.verify(stored, "pässwörd")
    assert not VERIFIER.verify(stored, "passwort")


def test_legacy_forms_and_weaker_argon2_parameters_need_a_rehash() -> None:
    strong = PasswordVerifier(make_hasher())
    assert strong.needs_rehash(StoredPassword.from_plain("x"))
    assert strong.needs_rehash(StoredPassword.from_argon2(VERIFIER.hash("x")))
    assert not VERIFIER.needs_rehash(StoredPassword.from_argon2(VERIFIER.hash("x")))
