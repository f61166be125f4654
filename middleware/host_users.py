"""Tie ComfyUI's own notion of a user to the authenticated caller, in every mode.

ComfyUI keeps workflows, settings and user data per user only with ``--multi-user``, and then
takes the user from the ``Comfy-User`` header, which any client can set; without it everyone
is ``default``. The package replaces the user manager's ``get_request_user_id`` with one that
answers the signed-in caller's id, whatever the mode and whatever the header says: every
``/userdata``, ``/v2/userdata``, ``/settings`` and ``/users`` handler then serves the
caller's own folder ``user/<id>``. The id is registered in ComfyUI's ``users.json`` the
first time it is seen, so ``--multi-user`` shows the right name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

logger = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]+")
_SAFE = re.compile(r"[a-zA-Z0-9_-]+")
_MAX_KEPT = 64
USER_FOLDER_PREFIXES = ("auth_", "auth-")
USER_HEADER = "comfy-user"


def host_user_id(name: str) -> str:
    """A stable id ComfyUI accepts as a directory name (never one of its ``__`` ones).

    Two users never share an id (and so never share workflows, settings or files). A name
    of at most 64 letters, digits, ``_`` and ``-`` is kept as it is (``auth_alice``); any
    other name (``j.smith@example.org``, ``田中``, a long SSO name) gets a readable stem and a
    digest of the whole name, under ``auth-`` so it can never equal a kept name's ``auth_``
    id.
    """
    if len(name) <= _MAX_KEPT and _SAFE.fullmatch(name):
        return "auth_" + name
    stem = _UNSAFE.sub("-", name).strip("-")[:32]
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:24]
    return f"auth-{stem}-{digest}" if stem else f"auth-{digest}"


def is_user_folder(name: str) -> bool:
    """True for a folder name that ``host_user_id`` may give some user."""
    return name.startswith(USER_FOLDER_PREFIXES)


class HostUsers:
    """Binds ComfyUI's ``UserManager`` (if the host has one) to the signed-in caller."""

    def __init__(self, user_manager: Any | None) -> None:
        self._manager = user_manager
        self._known: set[str] = set()
        self.bound = False
        """True once ComfyUI's own code can learn the user only from the signed-in caller."""

    def bind(self, caller_name: Callable[[web.Request], str | None]) -> None:
        """Make the user manager answer ``caller_name(request)``'s id for every request.

        A request without a signed-in caller gets ComfyUI's own refusal (``KeyError``,
        "Unknown user"), so nothing is ever served from a guessed folder.
        """
        if self._manager is None or not hasattr(self._manager, "get_request_user_id"):
            return

        def get_request_user_id(request: web.Request) -> str:
            name = caller_name(request)
            if name is None:
                raise KeyError("Unknown user")
            return self.ensure(name)

        self._manager.get_request_user_id = get_request_user_id
        self.bound = True

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


def without_foreign_user_header(request: web.Request, name: str) -> web.Request:
    """``request``, or a copy whose ``Comfy-User`` names the caller when it named another.

    ComfyUI itself no longer reads the header (``bind``), but another custom node may; a
    copy is made only when the header is there and wrong, so the frontend's own requests
    (which send the caller's id) and scripts (which send none) pass untouched.
    """
    sent = request.headers.getall(USER_HEADER, [])
    if not sent:
        return request
    user_id = host_user_id(name)
    if sent == [user_id]:
        return request
    headers = CIMultiDict(request.headers)
    headers.popall(USER_HEADER, None)
    headers[USER_HEADER] = user_id
    return request.clone(headers=headers)


def only_the_caller(answer: Any, user_id: str, name: str) -> Any:
    """``GET /users`` in multi-user mode lists the caller alone (never the other accounts)."""
    if isinstance(answer, dict) and isinstance(answer.get("users"), dict):
        return {**answer, "users": {user_id: name}}
    return answer
