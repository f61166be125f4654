"""Rehash-on-login: Fooocus passwords (plain or SHA-256) become argon2id after a good login.

The user has just proved the password, so it can be hashed properly without asking them for
anything. The file keeps Fooocus's shape (``user`` and ``hash``), so Fooocus can still parse
it. A failure to write is logged and does not fail the login.
"""

from __future__ import annotations

import asyncio
import logging

from ..core.auth_file_editor import read_entries, set_password_hash, write_entries
from ..core.errors import ConfigError
from .runtime import AuthRuntime

logger = logging.getLogger(__name__)


async def upgrade_legacy_password(runtime: AuthRuntime, user_name: str, password: str) -> None:
    """Replace ``user_name``'s stored password with an argon2id hash, off the event loop."""
    try:
        await asyncio.to_thread(_rewrite, runtime, user_name, password)
    except (ConfigError, OSError) as error:
        logger.warning("could not upgrade the stored password of %s: %s", user_name, error)
        return
    runtime.audit.record("password_upgraded", user=user_name, reason="stored as argon2id")


def _rewrite(runtime: AuthRuntime, user_name: str, password: str) -> None:
    path = runtime.settings.auth_file
    entries = read_entries(path)
    set_password_hash(entries, user_name, runtime.authenticator.verifier.hash(password))
    write_entries(path, entries)
    runtime.authenticator.credentials.reload_now()
