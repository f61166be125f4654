"""ComfyUI's ``app.user_manager.UserManager``: who the request's user is, and where their files are.

comfyui-auth registers the users it authenticates here (``users`` and ``get_users_file``)
and rewrites the ``Comfy-User`` header, so the double keeps ComfyUI's rules: in multi-user
mode the user comes from that header and must be listed in ``user/users.json``; a ``__``
(system) user is refused with the same error as an unknown one; every path is confined to
``user/<user_id>/``.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from urllib.parse import unquote

from aiohttp import web

from .folders import SYSTEM_USER_PREFIX, Folders
from .media import inside

DEFAULT_USER = "default"
USER_HEADER = "comfy-user"


class UserManager:
    """Users of one host; ``multi_user`` is ComfyUI's ``--multi-user``."""

    def __init__(self, folders: Folders, multi_user: bool = False) -> None:
        self.folders = folders
        self.multi_user = multi_user
        self.users: dict[str, str] = {DEFAULT_USER: DEFAULT_USER}
        if multi_user:
            self.users = self._read_users_file()

    def get_users_file(self) -> str:
        return str(self.folders.user / "users.json")

    def _read_users_file(self) -> dict[str, str]:
        try:
            loaded = json.loads(Path(self.get_users_file()).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}

    def get_request_user_id(self, request: web.Request) -> str:
        """The ``Comfy-User`` header in multi-user mode, else ``default``; KeyError if unknown."""
        user = DEFAULT_USER
        if self.multi_user and USER_HEADER in request.headers:
            user = request.headers[USER_HEADER]
            if user.startswith(SYSTEM_USER_PREFIX):
                raise KeyError("Unknown user: " + user)
        if user not in self.users:
            raise KeyError("Unknown user: " + user)
        return user

    def get_request_user_filepath(
        self, request: web.Request, file: str | None, create_dir: bool = True
    ) -> Path | None:
        """``user/<user>/<file>``, or None when it would leave that directory."""
        user_id = self.get_request_user_id(request)
        user_root = inside(self.folders.user, user_id)
        if self.folders.public_user(user_id) is None or user_root is None:
            return None
        path: Path | None = user_root
        if file is not None:
            path = inside(user_root, unquote(file) if "%" in file else file)
        if path is not None and create_dir:
            path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def add_user(self, name: str) -> str:
        """ComfyUI's id: the name made safe, plus a UUID; never a system-user prefix."""
        name = name.strip()
        if not name:
            raise ValueError("username not provided")
        user_id = re.sub("[^a-zA-Z0-9-_]+", "-", name)
        if name.startswith(SYSTEM_USER_PREFIX) or user_id.startswith(SYSTEM_USER_PREFIX):
            raise ValueError("System User prefix not allowed")
        user_id = f"{user_id}_{uuid.uuid4()}"
        self.users[user_id] = name
        Path(self.get_users_file()).write_text(json.dumps(self.users), encoding="utf-8")
        return user_id

    def settings_file(self, request: web.Request) -> Path:
        """``comfy.settings.json`` of the caller; an unknown user is a 401, as in ComfyUI."""
        try:
            path = self.get_request_user_filepath(request, "comfy.settings.json")
        except KeyError as error:
            raise web.HTTPUnauthorized() from error
        if path is None:
            raise web.HTTPUnauthorized()
        return path
