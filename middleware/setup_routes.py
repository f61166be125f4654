"""First run: the one-time setup link that creates the first administrator.

While no user and no key exists every protected route stays closed; the console shows a
link with a one-time token (valid for one hour). The page creates an administrator with an
argon2id password of at least 12 characters in ``auth.json`` (atomic, mode 0600) and signs
them in.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from ..core.auth_file import MAX_USER_NAME_LENGTH
from ..core.auth_file_editor import add_user, edit_entries
from ..core.errors import BadBody, ConfigError
from ..core.identity import Identity, Role, Via
from ..core.password_policy import MIN_PASSWORD_LENGTH
from ..core.passwords import MAX_PASSWORD_LENGTH
from . import responses
from .client_view import client_view
from .login_body import read_fields
from .login_page import render_setup_page
from .public_paths import LOGIN_PATH, SETUP_PATH
from .runtime import AuthRuntime
from .same_origin import is_same_origin
from .session_cookies import set_session_cookies

MIN_ADMIN_PASSWORD = MIN_PASSWORD_LENGTH  # one rule with manage.py (core/password_policy)
INVALID_LINK = "This setup link is invalid, used or expired. Restart ComfyUI to print a new one."


def add_setup_routes(router: web.UrlDispatcher, runtime: AuthRuntime) -> None:
    routes = SetupRoutes(runtime)
    router.add_get(SETUP_PATH, routes.page)
    router.add_post(SETUP_PATH, routes.create_admin)


class SetupRoutes:
    def __init__(self, runtime: AuthRuntime) -> None:
        self.runtime = runtime

    def _token_ok(self, token: str | None) -> bool:
        setup = self.runtime.setup_token
        return self.runtime.needs_setup and setup is not None and setup.accepts(token)

    async def page(self, request: web.Request) -> web.StreamResponse:
        token = request.query.get("token")
        if not self._token_ok(token):
            return (
                responses.redirect(LOGIN_PATH)
                if not self.runtime.needs_setup
                else (responses.forbidden(INVALID_LINK))
            )
        return responses.html_page(200, render_setup_page(token=token or ""))

    async def create_admin(self, request: web.Request) -> web.StreamResponse:
        view = client_view(request, self.runtime.settings.trusted_proxies)
        if not is_same_origin(request, view, self.runtime.settings.allowed_origins, required=True):
            return responses.forbidden("cross-site setup refused")
        try:
            fields = await read_fields(request)
        except BadBody as error:
            return responses.bad_body(error)
        token = fields.text("token")
        if not self._token_ok(token):
            return responses.forbidden(INVALID_LINK)
        name, password = fields.text("username").strip(), fields.text("password")
        problem = _admin_problem(name, password, fields.text("confirm"))
        if problem is not None:
            return responses.html_page(400, render_setup_page(token=token, error=problem))
        try:
            await asyncio.to_thread(self._write_admin, name, password)
        except ConfigError as error:
            return responses.html_page(400, render_setup_page(token=token, error=error.problem))
        assert self.runtime.setup_token is not None  # noqa: S101 - checked by _token_ok
        self.runtime.setup_token.consume()
        self.runtime.audit.record("admin_created", user=name, client=view.address, route=SETUP_PATH)
        identity = Identity(name, Role.ADMIN, Via.SESSION)
        new = await self.runtime.authenticator.start_session(identity, remember=False)
        response = responses.redirect("/")
        set_session_cookies(response, self.runtime.cookies.sign(new.session_id), new, view)
        return response

    def _write_admin(self, name: str, password: str) -> None:
        password_hash = self.runtime.authenticator.verifier.hash(password)
        edit_entries(
            self.runtime.settings.auth_file,
            lambda entries: add_user(entries, name, password_hash, "admin"),
        )
        self.runtime.authenticator.credentials.reload_now()


def _admin_problem(name: str, password: str, confirm: str) -> str | None:
    if (
        not name
        or len(name) > MAX_USER_NAME_LENGTH
        or not name.isprintable()
        or name.startswith("__")
    ):
        return f"Choose a user name of 1 to {MAX_USER_NAME_LENGTH} printable characters."
    if len(password) < MIN_ADMIN_PASSWORD:
        return f"The password needs at least {MIN_ADMIN_PASSWORD} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"The password may have at most {MAX_PASSWORD_LENGTH} characters."
    if password != confirm:
        return "The two passwords differ."
    return None
