"""Rehash-on-login: Fooocus passwords (plain or SHA-256) become argon2id after a good login.

The user has just proved the password, so it can be hashed properly without asking them for
anything. The file keeps Fooocus's shape (``user`` and ``hash``), so Fooocus can still parse
it. A failure to write is logged and does not fail the login.

The rewrite is a locked edit that changes the entry only if it still holds the password the
user just proved (``auth_file_editor.upgrade_password``).
"""

from __future__ import annotations

import asyncio
import logging

from ..core.auth_file import UserRecord
from ..core.auth_file_editor import upgrade_password
from ..core.errors import ConfigError
from .runtime import AuthRuntime

logger = logging.getLogger(__name__)


async def upgrade_legacy_password(runtime: AuthRuntime, user: UserRecord, password: str) -> None:
    """Replace ``user``'s stored password with an argon2id hash, off the event loop."""
    try:
        upgraded = await asyncio.to_thread(_rewrite, runtime, user, password)
    except (ConfigError, OSError) as error:
        logger.warning("could not upgrade the stored password of %s: %s", user.name, error)
        return
    if upgraded:
        runtime.audit.record("password_upgraded", user=user.name, reason="stored as argon2id")


def _rewrite(runtime: AuthRuntime, user: UserRecord, password: str) -> bool:
    """Upgrade the entry, then read the file back either way: when another instance upgraded
    it first, the session about to open must carry the tag of that instance's hash."""
    new_hash = runtime.authenticator.verifier.hash(password)  # slow: before taking the lock
    upgraded = upgrade_password(runtime.settings.auth_file, user.name, user.password, new_hash)
    runtime.authenticator.credentials.reload_now()
    return upgraded
