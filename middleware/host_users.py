"""Tie ComfyUI's own notion of a user to the authenticated caller.

With ``--multi-user`` ComfyUI takes the user from the ``Comfy-User`` header, which any client
can set. The middleware therefore replaces that header with the authenticated user's id, so
nobody reads or writes another person's workflows and settings by naming them. The id is
registered in ComfyUI's ``users.json`` the first time it is seen.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

logger = logging.getLogger(__name__)
USER_HEADER = "comfy-user"
_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]+")
_SAFE = re.compile(r"[a-zA-Z0-9_-]+")
_MAX_KEPT = 64


def host_user_id(name: str) -> str:
    """A stable id ComfyUI accepts as a directory name (never one of its ``__`` ones).

    Two users never share an id (and so never share workflows and settings). A name of at
    most 64 letters, digits, ``_`` and ``-`` is kept as it is (``auth_alice``); any other
    name (``j.smith@example.org``, ``田中``, a long SSO name) gets a readable stem and a digest
    of the whole name, under ``auth-`` so it can never equal a kept name's ``auth_`` id.
    """
    if len(name) <= _MAX_KEPT and _SAFE.fullmatch(name):
        return "auth_" + name
    stem = _UNSAFE.sub("-", name).strip("-")[:32]
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:24]
    return f"auth-{stem}-{digest}" if stem else f"auth-{digest}"


class HostUsers:
    """Registers authenticated users with ComfyUI's ``UserManager`` (if the host has one)."""

    def __init__(self, user_manager: Any | None) -> None:
        self._manager = user_manager
        self._known: set[str] = set()

    def ensure(self, name: str) -> str:
        user_id = host_user_id(name)
        if user_id in self._known or self._manager is None:
            return user_id
        users = getattr(self._manager, "users", None)
        if isinstance(users, dict) and user_id not in users:
            users[user_id] = name
            self._save(users)
        self._known.add(user_id)
        return user_id

    def _save(self, users: dict[str, str]) -> None:
        path_of = getattr(self._manager, "get_users_file", None)
        if path_of is None:
            return
        try:
            with open(path_of(), "w", encoding="utf-8") as stream:
                json.dump(users, stream)
        except OSError as error:
            logger.warning("could not record the user in ComfyUI's users.json: %s", error)


def with_host_user(request: web.Request, user_id: str) -> web.Request:
    """A copy of ``request`` whose ``Comfy-User`` header names the authenticated user."""
    headers = CIMultiDict(request.headers)
    headers.popall(USER_HEADER, None)
    headers[USER_HEADER] = user_id
    return request.clone(headers=headers)
