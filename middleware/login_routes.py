"""The package's own routes: login page and API, logout, ``/auth/me``, interceptor, assets.

Answers to a plain HTML form post are pages or redirects (the login page works without
JavaScript); answers to JSON are JSON. Failure messages are generic: they never say whether a
user name exists.

Only the user signs out: ``/auth/login?logout=true`` ends the session when the browser says
the user followed it on this site (Fetch metadata); any other request for it - a cross-site
link, an ``<img>``, a browser without Fetch metadata - gets a confirmation page whose form
posts the session's CSRF token, and a form post to ``/auth/logout`` needs that token.
"""

from __future__ import annotations

import hmac
from pathlib import Path

from aiohttp import web

from ..core.auth_file import lookup_key
from ..core.errors import BadBody
from ..core.identity import Identity
from ..core.throttle import address_key, user_key
from . import responses
from .account_routes import add_account_routes
from .activity_hook import note_sign_in
from .client_view import ClientView, client_view
from .health_route import health_handler
from .identity_provider import identify_form
from .login_body import SubmittedFields, is_form_post, read_fields
from .login_page import render_login_page, render_logout_page
from .public_paths import (
    HEALTH_PATH,
    INJECT_PATHS,
    LEGACY_LOGIN_PATH,
    LOGIN_PATH,
    LOGOUT_PATH,
    STATIC_ASSETS,
)
from .request_credentials import DEVICE_COOKIE, SESSION_COOKIE
from .return_path import safe_return_path
from .runtime import IDENTITY, AuthRuntime, Handler
from .same_origin import is_own_navigation, is_same_origin
from .session_cookies import clear_session_cookies, set_device_cookie, set_session_cookies
from .set_password_routes import PASSWORD_SET_NOTICE, add_set_password_routes
from .setup_routes import add_setup_routes

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
LOGIN_FAILED = "Sign-in failed. Check your user name and password."
KEY_FAILED = "Sign-in failed. Check your API key."
ME_PATH = "/auth/me"

SIGN_IN_NOTICE_PASSWORD_SET = "Your password is set. Sign in with it."  # noqa: S105


def add_auth_routes(router: web.UrlDispatcher, runtime: AuthRuntime) -> None:
    """Register every route of the package on the host's router (before its static ``/``)."""
    routes = LoginRoutes(runtime)
    router.add_get(HEALTH_PATH, health_handler(runtime.host))
    for path in (LOGIN_PATH, LEGACY_LOGIN_PATH):
        router.add_get(path, routes.login_page)
    router.add_post(LOGIN_PATH, routes.login)
    router.add_post(LOGOUT_PATH, routes.logout)
    router.add_get(ME_PATH, routes.me)
    for path in INJECT_PATHS:
        router.add_get(path, _file_handler(WEB_DIR / "inject.js"))
    for path, name in STATIC_ASSETS.items():
        router.add_get(path, _file_handler(WEB_DIR / name))
    add_setup_routes(router, runtime)
    add_account_routes(router, runtime)
    add_set_password_routes(router, runtime)


def _file_handler(path: Path) -> Handler:
    async def serve(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(path, headers={"Cache-Control": "no-cache"})

    return serve


class LoginRoutes:
    """Handlers bound to one runtime."""

    def __init__(self, runtime: AuthRuntime) -> None:
        self.runtime = runtime

    async def login_page(self, request: web.Request) -> web.StreamResponse:
        next_path = safe_return_path(request.query.get("next"))
        mode = "key" if request.query.get("mode") == "key" else "password"
        if request.query.get("logout") == "true":
            if not is_own_navigation(request):
                confirmation = await self._logout_confirmation(request)
                if confirmation is not None:
                    return confirmation
            page = render_login_page(next_path=next_path, notice="You have signed out.", mode=mode)
            response = responses.html_page(200, page)
            await self._end_session(request, response, "logout")
            return response
        notice = (
            SIGN_IN_NOTICE_PASSWORD_SET
            if request.query.get("notice") == PASSWORD_SET_NOTICE
            else None
        )
        page = render_login_page(next_path=next_path, mode=mode, notice=notice)
        return responses.html_page(200, page)

    async def login(self, request: web.Request) -> web.StreamResponse:
        view = self._view(request)
        if not is_same_origin(request, view, self.runtime.settings.allowed_origins, required=False):
            return responses.forbidden("cross-site sign-in refused")
        try:
            fields = await read_fields(request)
        except BadBody as error:
            return responses.bad_body(error)
        username, api_key = fields.text("username"), fields.text("api_key")
        if bool(api_key) == bool(username):
            return self._refuse(fields, 400, "Send a user name and password, or an API key.")
        throttle_keys = await self._throttle_keys(request, view, username)
        wait = await self.runtime.throttle.retry_after(*throttle_keys)
        if wait:
            self.runtime.audit.record(
                "throttled", user=username or None, client=view.address, route=LOGIN_PATH
            )
            return self._refuse(fields, 429, "Too many failed attempts.", retry_after=wait)
        identity = await identify_form(self.runtime, fields)
        if identity is None:
            await self.runtime.throttle.record_failure(*throttle_keys)
            self.runtime.audit.record(
                "login_failure",
                user=username or None,
                client=view.address,
                route=LOGIN_PATH,
                reason="wrong API key" if api_key else "wrong user name or password",
            )
            return self._refuse(fields, 401, KEY_FAILED if api_key else LOGIN_FAILED)
        if username:
            await self.runtime.throttle.forget(throttle_keys[-1])
        return await self._signed_in(request, fields, identity, view)

    async def _throttle_keys(
        self, request: web.Request, view: ClientView, username: str
    ) -> list[str]:
        """The failure records that judge this attempt (OWASP device cookies).

        A browser that signed in as this user before, and has not failed too often since,
        counts in its own record only: a flood of the user name from elsewhere, or from its
        own shared address, cannot take its sign-in away. Any other attempt counts per
        address and per user name. The user name's record comes last (it is the one a
        success clears).
        """
        throttle = self.runtime.throttle
        if username:
            cookie = request.cookies.get(DEVICE_COOKIE)
            device = self.runtime.devices.record_for(cookie, username)
            if device is not None and not await throttle.retry_after(device):
                return [device]
        keys = [address_key(view.address)]
        if username:
            known = self.runtime.authenticator.credentials.current.user(username) is not None
            keys.append(user_key(lookup_key(username), known=known))
        return keys

    async def logout(self, request: web.Request) -> web.StreamResponse:
        view = self._view(request)
        if not is_same_origin(request, view, self.runtime.settings.allowed_origins, required=False):
            return responses.forbidden("cross-site sign-out refused")
        form_post = is_form_post(request)
        if form_post and not await self._form_carries_csrf_token(request):
            return responses.forbidden("missing or wrong CSRF token")
        response = (
            responses.redirect(LOGIN_PATH + "?logout=true")
            if form_post
            else responses.ok({"ok": True})
        )
        await self._end_session(request, response, "logout")
        return response

    async def _live_session(self, request: web.Request) -> Identity | None:
        cookie = request.cookies.get(SESSION_COOKIE)
        session_id = self.runtime.cookies.unsign(cookie) if cookie else None
        if session_id is None:
            return None
        return await self.runtime.authenticator.identify_session(session_id)

    async def _logout_confirmation(self, request: web.Request) -> web.StreamResponse | None:
        """The confirmation page for a live session; None when there is nothing to end."""
        session = await self._live_session(request)
        if session is None or session.csrf_token is None:
            return None
        page = render_logout_page(user=session.name, csrf_token=session.csrf_token)
        return responses.html_page(200, page)

    async def _form_carries_csrf_token(self, request: web.Request) -> bool:
        """A form sign-out (the confirmation page's) must post the live session's token."""
        session = await self._live_session(request)
        if session is None or session.csrf_token is None:
            return True  # nothing to end: the answer only clears stale cookies
        try:
            sent = (await read_fields(request)).text("csrf_token")
        except BadBody:
            return False
        return hmac.compare_digest(
            sent.encode("utf-8", "replace"), session.csrf_token.encode("ascii")
        )

    async def me(self, request: web.Request) -> web.StreamResponse:
        identity = request[IDENTITY]
        return responses.ok(
            {"user": identity.name, "role": identity.role.value, "via": identity.via.value}
        )

    async def _signed_in(
        self, request: web.Request, fields: SubmittedFields, identity: Identity, view: ClientView
    ) -> web.StreamResponse:
        next_path = safe_return_path(fields.text("next"))
        remember = fields.flag("remember")
        response = (
            responses.redirect(next_path)
            if fields.from_form
            else responses.ok(
                {"user": identity.name, "role": identity.role.value, "next": next_path}
            )
        )
        await self._end_session(request, response, None)
        try:
            new = await self.runtime.authenticator.start_session(identity, remember=remember)
        except LookupError:
            return self._refuse(fields, 401, LOGIN_FAILED)
        set_session_cookies(response, self.runtime.cookies.sign(new.session_id), new, view)
        note_sign_in(self.runtime, request, new.identity)
        if fields.text("username"):
            devices = self.runtime.devices
            set_device_cookie(response, devices.issue(identity.name), devices.max_age, view)
        self.runtime.audit.record(
            "login_success",
            user=identity.name,
            client=view.address,
            route=LOGIN_PATH,
            reason="api key" if identity.key_id else "password",
        )
        return response

    def _refuse(
        self, fields: SubmittedFields, status: int, message: str, *, retry_after: int | None = None
    ) -> web.StreamResponse:
        headers = {"Retry-After": str(retry_after)} if retry_after else {}
        if fields.from_form:
            page = render_login_page(
                next_path=safe_return_path(fields.text("next")),
                error=message,
                retry_after=retry_after,
                username=fields.text("username"),
                mode="key" if fields.text("api_key") else "password",
            )
            return responses.html_page(status, page, **headers)
        if status == 429 and retry_after:
            return responses.throttled(retry_after)
        if status == 401:
            return responses.json_answer(401, {"error": message})
        return responses.bad_request(message)

    async def _end_session(
        self, request: web.Request, response: web.StreamResponse, event: str | None
    ) -> None:
        """End the session the request's cookie names, if any, and clear the cookies."""
        cookie = request.cookies.get(SESSION_COOKIE)
        session_id = self.runtime.cookies.unsign(cookie) if cookie else None
        if session_id is not None:
            record = await self.runtime.authenticator.end_session(session_id)
            if event is not None and record is not None:
                self.runtime.audit.record(
                    event,
                    user=record.user,
                    client=self._view(request).address,
                    route=request.path,
                )
        clear_session_cookies(response)

    def _view(self, request: web.Request) -> ClientView:
        return client_view(request, self.runtime.settings.trusted_proxies)
