"""Who a caller is, once authenticated: the value every later decision reads."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import cached_property

from .activity import key_entry, session_entry


class Role(str, enum.Enum):
    """What a caller may reach: administrators also reach code-installing and log routes."""

    ADMIN = "admin"
    USER = "user"


class Via(str, enum.Enum):
    """How the caller proved who they are; CSRF rules apply only to ambient credentials."""

    API_KEY = "api_key"
    BASIC = "basic"
    """HTTP Basic with a password; Basic with an API key as the password is ``API_KEY``."""
    SESSION = "session"
    PROXY = "proxy"


ENV_KEY_USER = "api-key"
"""The name under which the administrator key from COMFYUI_API_KEY(_FILE) acts."""

ENV_KEY_ID = "env"


@dataclass(frozen=True)
class Identity:
    """An authenticated caller."""

    name: str
    role: Role
    via: Via
    key_id: str | None = None
    session_id_hash: str | None = None
    csrf_token: str | None = None

    # cached_property: worked out once per identity (they are remembered per credential
    # snapshot), then a plain attribute read on every request; an Enum member lookup is not.
    @cached_property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @cached_property
    def uses_ambient_credentials(self) -> bool:
        """Cookies and proxy headers are sent by browsers on their own: CSRF applies.

        Browsers also resend Basic credentials on their own; those are honoured only when the
        request shows no cross-site origin at all (``same_origin.is_cross_site``, checked when
        the caller is identified), so scripts, which send no ``Origin``, need no CSRF token.
        """
        return self.via not in (Via.API_KEY, Via.BASIC)

    @cached_property
    def activity_entries(self) -> tuple[str, ...]:
        """What this caller's requests refresh in ``core.activity``: the session and/or the
        per-user key they came with (the administrator key and Basic pairs have no entry)."""
        entries = []
        if self.session_id_hash is not None:
            entries.append(session_entry(self.session_id_hash))
        if self.via is Via.API_KEY and self.key_id not in (None, ENV_KEY_ID):
            entries.append(key_entry(str(self.key_id)))
        return tuple(entries)
