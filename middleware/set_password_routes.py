"""``/auth/set-password?token=``: the page an administrator's one-time link opens.

Public (the token is the credential), in the login page's look, and without JavaScript
needs (a plain form post; a small script only removes the token from the address bar).
The token is checked against the credential store in memory (caught up with ``auth.json``
when the token is not there: another instance may just have made the link) to show the
page, and against ``auth.json`` inside the locked edit that stores the password
(``admin_commands``), so it works once. Failures are throttled per address like sign-ins.
The token never appears in the audit log or any answer; the page carries it in a hidden
field.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from ..core import admin_commands as commands
from ..core.credentials import CredentialStore
from ..core.errors import BadBody
from ..core.password_policy import password_problem
from ..core.set_password_links import PATH as SET_PASSWORD_PATH
from ..core.set_password_links import plausible
from ..core.throttle import address_key
from . import responses
from .client_view import client_view
from .login_body import SubmittedFields, read_fields
from .login_page import render_set_password_page
from .public_paths import LOGIN_PATH
from .runtime import AuthRuntime
from .same_origin import is_same_origin

PASSWORD_SET_NOTICE = "password_set"  # noqa: S105 - a query value, not a secret
"""``/auth/login?notice=password_set``: the login page says the password is set."""


def add_set_password_routes(router: web.UrlDispatcher, runtime: AuthRuntime) -> None:
    routes = SetPasswordRoutes(runtime)
    router.add_get(SET_PASSWORD_PATH, routes.page)
    router.add_post(SET_PASSWORD_PATH, routes.set_password)


class SetPasswordRoutes:
    def __init__(self, runtime: AuthRuntime) -> None:
        self.runtime = runtime

    async def _user_of(self, token: str) -> str | None:
        """Who the link is for: from the store in memory, else once more after ``auth.json``
        is re-read, if it changed since the last poll (a link just made through another
        instance would otherwise look invalid here until the watcher's next poll). A token
        of the wrong shape costs nothing; one of the right shape a ``stat`` at most."""
        if not plausible(token):
            return None
        return await self.runtime.authenticator.find_caught_up(
            lambda store: _link_user(store, token)
        )

    async def page(self, request: web.Request) -> web.StreamResponse:
        token = request.query.get("token", "")
        user = await self._user_of(token)
        if user is None:
            return self._invalid()
        return responses.html_page(200, render_set_password_page(token=token, user=user))

    async def set_password(self, request: web.Request) -> web.StreamResponse:
        runtime = self.runtime
        view = client_view(request, runtime.settings.trusted_proxies)
        if not is_same_origin(request, view, runtime.settings.allowed_origins, required=True):
            return responses.forbidden("cross-site request refused")
        throttle_key = address_key(view.address)
        wait = await runtime.throttle.retry_after(throttle_key)
        if wait:
            runtime.audit.record("throttled", client=view.address, route=request.path)
            return responses.throttled(wait)
        try:
            fields = await read_fields(request)
        except BadBody as error:
            return responses.bad_body(error)
        token = fields.text("token")
        user = await self._user_of(token)
        if user is None:
            await runtime.throttle.record_failure(throttle_key)
            runtime.audit.record(
                "access_refused", client=view.address, route=request.path, reason="invalid link"
            )
            return self._invalid()
        problem = _password_problem(fields)
        if problem is not None:
            return self._answer(fields, 400, token, user, problem)
        password_hash = await asyncio.to_thread(
            commands.hash_password, runtime.settings, fields.text("password")
        )
        try:
            name = await asyncio.to_thread(
                commands.use_set_password_link, runtime.settings, token, password_hash
            )
        except commands.Refused:  # used meanwhile (another tab, another instance)
            return self._invalid()
        await asyncio.to_thread(runtime.authenticator.credentials.reload_now)
        await runtime.authenticator.end_user_sessions(name)
        runtime.audit.record("password_set_by_link", user=name, client=view.address)
        if not fields.from_form:
            return responses.ok({"ok": True, "user": name})
        return responses.redirect(f"{LOGIN_PATH}?notice={PASSWORD_SET_NOTICE}")

    def _answer(
        self, fields: SubmittedFields, status: int, token: str, user: str, problem: str
    ) -> web.StreamResponse:
        if not fields.from_form:
            return responses.bad_request(problem)
        page = render_set_password_page(token=token, user=user, error=problem)
        return responses.html_page(status, page)

    def _invalid(self) -> web.StreamResponse:
        page = render_set_password_page(token="", user="", error=commands.INVALID_LINK)
        return responses.html_page(403, page)


def _link_user(store: CredentialStore, token: str) -> str | None:
    now = time.time()
    for user in store.users.values():
        if user.link is not None and user.link.opens_with(token, now):
            return user.name
    return None


def _password_problem(fields: SubmittedFields) -> str | None:
    """manage.py's rule (``password_policy``), and the two fields must agree."""
    password = fields.text("password")
    problem = password_problem(password)
    if problem is not None:
        return problem
    if fields.from_form and fields.text("confirm") != password:
        return "The two passwords differ."
    return None
