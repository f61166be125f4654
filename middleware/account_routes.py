"""The JSON API behind the Account and Users dialogs: ``/auth/account`` and ``/auth/admin``.

Every change goes through the functions ``manage.py`` uses (``core.admin_commands``), so the
browser and the command line share one set of rules and one way of writing ``auth.json``
(atomic, 0600, unknown fields kept). After a write the credential store is reloaded at once
(``CredentialSource.reload_now``), so the answer describes what this instance already
enforces instead of what the watcher will apply a second later; the sessions a change ends
are ended explicitly, because the watcher no longer sees a difference to act on.

Who may call what is the middleware's job: every route here needs a signed-in caller,
``/auth/admin`` is administrator-only by prefix (``route_policy.ADMIN_PREFIXES``), and a
cookie-authenticated write needs same-origin and the CSRF token. Scripts use an API key.
No answer ever carries a password, a hash or a digest; a new API key is shown once.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any, TypeVar
from urllib.parse import urlencode

from aiohttp import web

from ..core import admin_commands as commands
from ..core import auth_file_editor as editor
from ..core.activity import key_entry, session_entry, sign_in_entry
from ..core.auth_file import UserRecord, lookup_key, parse_auth_file
from ..core.errors import AuthError, BadBody, ConfigError
from ..core.identity import Identity, Role, Via
from ..core.password_policy import password_problem
from ..core.session_store import SessionRecord
from ..core.set_password_links import PATH as SET_PASSWORD_PATH
from ..core.throttle import address_key, user_key
from . import responses
from .client_view import client_view
from .login_body import read_json_object
from .request_credentials import SESSION_COOKIE
from .runtime import IDENTITY, AuthRuntime
from .session_cookies import set_session_cookies

ACCOUNT_PATH = "/auth/account"
ADMIN_USERS_PATH = "/auth/admin/users"
REFUSED_CURRENT = "The current password is wrong."
NOT_YOUR_KEY = "You have no API key with this id."
NOT_YOUR_SESSION = "You have no other session with this id."
SESSION_HANDLE_LENGTH = 16
"""A session is named by the start of its id's digest: enough to tell one user's sessions
apart, useless for anything else (the store keys on the whole digest; a cookie needs the id)."""
NO_SUCH_SESSION = "This user has no session with this id."
MAX_LABEL_LENGTH = 64
T = TypeVar("T")


def add_account_routes(router: web.UrlDispatcher, runtime: AuthRuntime) -> None:
    routes = AccountRoutes(runtime)
    router.add_get(ACCOUNT_PATH, routes.account)
    router.add_post(ACCOUNT_PATH + "/password", routes.change_my_password)
    router.add_post(ACCOUNT_PATH + "/keys", routes.create_my_key)
    router.add_delete(ACCOUNT_PATH + "/keys/{key_id}", routes.revoke_my_key)
    router.add_delete(ACCOUNT_PATH + "/sessions/{handle}", routes.end_my_session)
    router.add_get(ADMIN_USERS_PATH, routes.list_users)
    router.add_post(ADMIN_USERS_PATH, routes.add_user)
    router.add_post(ADMIN_USERS_PATH + "/{name}/password", routes.reset_password)
    router.add_post(ADMIN_USERS_PATH + "/{name}/role", routes.set_role)
    router.add_delete(ADMIN_USERS_PATH + "/{name}", routes.remove_user)
    router.add_post(ADMIN_USERS_PATH + "/{name}/link", routes.new_link)
    router.add_post(ADMIN_USERS_PATH + "/{name}/disabled", routes.set_disabled)
    router.add_get(ADMIN_USERS_PATH + "/{name}/sessions", routes.sessions_of)
    router.add_delete(ADMIN_USERS_PATH + "/{name}/sessions/{handle}", routes.end_session_of)


class NoSuchUser(AuthError):
    """The path names a user this server does not know (404)."""


def _refusals_as_answers(
    handler: Callable[[AccountRoutes, web.Request], Awaitable[web.StreamResponse]],
) -> Callable[[AccountRoutes, web.Request], Awaitable[web.StreamResponse]]:
    """Turn the refusals of the core functions into answers, in one place.

    A malformed body is a 400 (413 when too large); a refusal of ``admin_commands`` (an
    invalid name, a duplicate user, an unknown key) a 400 with its one-sentence reason; a file
    this package cannot read or keep writing is the 503 of a broken configuration.
    """

    @functools.wraps(handler)
    async def answer(self: AccountRoutes, request: web.Request) -> web.StreamResponse:
        try:
            return await handler(self, request)
        except BadBody as error:
            return responses.bad_body(error)
        except NoSuchUser as error:
            return responses.not_found(str(error))
        except ConfigError as error:
            if error.path is not None:
                return responses.unavailable(error)
            return responses.bad_request(f"{error.problem}.")
        except AuthError as error:
            return responses.bad_request(str(error))

    return answer


class AccountRoutes:
    """Handlers bound to one runtime; writes of ``auth.json`` are serialised by one lock.

    The lock makes the last-administrator check and the edit one step for this server (two
    administrators demoting each other at once cannot both succeed); ``manage.py`` running at
    the same moment is not covered by it.
    """

    def __init__(self, runtime: AuthRuntime) -> None:
        self.runtime = runtime
        self._writing = asyncio.Lock()

    # --- my account --------------------------------------------------------------------

    async def account(self, request: web.Request) -> web.StreamResponse:
        identity = request[IDENTITY]
        user = self.runtime.authenticator.credentials.current.user(identity.name)
        sessions = await self.runtime.authenticator.user_sessions(identity.name)
        return responses.ok(
            {
                "user": identity.name,
                "role": identity.role.value,
                "via": identity.via.value,
                "has_password": user is not None,
                "api_keys": self._keys_of(user),
                "sessions": [self._session(record, identity) for record in sessions],
            }
        )

    @_refusals_as_answers
    async def change_my_password(self, request: web.Request) -> web.StreamResponse:
        """Current password required and throttled like sign-in; ends every other session.

        The new password changes the credential tag, so every session opened with the old
        one would end at its next request anyway; they are ended now, and the caller's own
        browser gets a fresh session (new cookie, new CSRF token) so it stays signed in.
        """
        identity = request[IDENTITY]
        body = await read_json_object(request)
        current, new = _text(body, "current"), _text(body, "new")
        runtime = self.runtime
        if runtime.authenticator.credentials.current.user(identity.name) is None:
            return responses.bad_request("This account has no password in auth.json to change.")
        view = client_view(request, runtime.settings.trusted_proxies)
        throttle_keys = [address_key(view.address), user_key(lookup_key(identity.name), known=True)]
        wait = await runtime.throttle.retry_after(*throttle_keys)
        if wait:
            runtime.audit.record(
                "throttled", user=identity.name, client=view.address, route=request.path
            )
            return responses.throttled(wait)
        if await runtime.authenticator.check_password(identity.name, current) is None:
            await runtime.throttle.record_failure(*throttle_keys)
            runtime.audit.record(
                "password_change_failed",
                user=identity.name,
                client=view.address,
                route=request.path,
                reason="wrong current password",
            )
            return responses.forbidden(REFUSED_CURRENT)
        await runtime.throttle.forget(throttle_keys[-1])
        _check_new_password(new)
        password_hash = await asyncio.to_thread(commands.hash_password, runtime.settings, new)
        remember = await self._current_session_persists(request, identity)
        await self._write(commands.change_password, runtime.settings, identity.name, password_hash)
        ended = await runtime.authenticator.end_user_sessions(identity.name)
        response = responses.ok({"ok": True, "sessions_ended": ended})
        if remember is not None:
            await self._keep_signed_in(request, response, identity, remember=remember)
        self._audit(request, "password_changed", identity.name)
        return response

    async def _current_session_persists(
        self, request: web.Request, identity: Identity
    ) -> bool | None:
        """For a browser session: whether it was opened with "remember me"; else None."""
        if identity.via is not Via.SESSION:
            return None
        cookie = request.cookies.get(SESSION_COOKIE)
        session_id = self.runtime.cookies.unsign(cookie) if cookie else None
        if session_id is None:
            return None
        record = await asyncio.to_thread(self.runtime.authenticator.sessions.find, session_id)
        return record.persistent if record is not None else None

    async def _keep_signed_in(
        self,
        request: web.Request,
        response: web.StreamResponse,
        identity: Identity,
        *,
        remember: bool,
    ) -> None:
        """A browser that changed its password gets a new session with the new credential."""
        user = self.runtime.authenticator.credentials.current.user(identity.name)
        if user is None:
            return
        new = await self.runtime.authenticator.start_session(
            Identity(user.name, user.role, Via.SESSION, key_id=identity.key_id),
            remember=remember,
        )
        view = client_view(request, self.runtime.settings.trusted_proxies)
        set_session_cookies(response, self.runtime.cookies.sign(new.session_id), new, view)

    @_refusals_as_answers
    async def create_my_key(self, request: web.Request) -> web.StreamResponse:
        identity = request[IDENTITY]
        body = await read_json_object(request)
        label = _text(body, "label").strip()
        if not label or len(label) > MAX_LABEL_LENGTH or not label.isprintable():
            raise BadBody(f'"label" must be printable text of 1 to {MAX_LABEL_LENGTH} characters')
        expires_days = _optional_days(body)
        if self.runtime.authenticator.credentials.current.user(identity.name) is None:
            return responses.bad_request("Only users listed in auth.json have API keys.")
        new = await self._write(
            commands.create_key, self.runtime.settings, identity.name, label, expires_days
        )
        key_id = new.token.removeprefix("cak_").partition("_")[0]
        self._audit(request, "api_key_created", identity.name, f"key {key_id}")
        user = self.runtime.authenticator.credentials.current.user(identity.name)
        key = next(item for item in self._keys_of(user) if item["id"] == key_id)
        return responses.created({**key, "key": new.token})

    @_refusals_as_answers
    async def revoke_my_key(self, request: web.Request) -> web.StreamResponse:
        identity = request[IDENTITY]
        key_id = request.match_info["key_id"].strip().lower()
        users = await asyncio.to_thread(self._file_users)
        mine = next((u for u in users if lookup_key(u.name) == lookup_key(identity.name)), None)
        if mine is None or key_id not in {key.key_id for key in mine.api_keys}:
            return responses.not_found(NOT_YOUR_KEY)
        await self._write(commands.revoke_key, self.runtime.settings, key_id)
        ended = await self.runtime.authenticator.end_key_sessions(identity.name, key_id)
        self._audit(request, "api_key_revoked", identity.name, f"key {key_id}")
        return responses.ok({"ok": True, "revoked": key_id, "sessions_ended": ended})

    async def end_my_session(self, request: web.Request) -> web.StreamResponse:
        """Sign out another browser of mine; the current one signs out with ``/auth/logout``."""
        identity = request[IDENTITY]
        handle = request.match_info["handle"].strip().lower()
        sessions = await self.runtime.authenticator.user_sessions(identity.name)
        found = next((r for r in sessions if _handle(r) == handle), None)
        if found is None or found.id_hash == identity.session_id_hash:
            return responses.not_found(NOT_YOUR_SESSION)
        await self.runtime.authenticator.end_session_by_hash(found.id_hash)
        self._audit(request, "session_ended", identity.name, f"session {handle}")
        return responses.ok({"ok": True, "ended": handle})

    # --- administrators ----------------------------------------------------------------

    async def list_users(self, request: web.Request) -> web.StreamResponse:
        """Every user in ``auth.json`` as it is now: the file is re-read first if it changed
        since the last poll, so a user just added elsewhere is listed at once."""
        store = await asyncio.to_thread(self.runtime.authenticator.credentials.catch_up)
        everyone = [*store.users.values(), *store.disabled.values()]
        users = sorted(everyone, key=lambda user: lookup_key(user.name))
        now = time.time()
        listed = []
        for user in users:
            sessions = await self.runtime.authenticator.user_sessions(user.name)
            signed_in = self.runtime.activity.get(sign_in_entry(lookup_key(user.name)))
            listed.append(
                {
                    "user": user.name,
                    "role": user.role.value,
                    "disabled": user.disabled,
                    "link_pending": user.link is not None and not user.link.is_expired(now),
                    "api_keys": len(user.api_keys),
                    "sessions": len(sessions),
                    "last_sign_in": _iso(signed_in.at) if signed_in is not None else None,
                }
            )
        return responses.ok({"users": listed})

    @_refusals_as_answers
    async def add_user(self, request: web.Request) -> web.StreamResponse:
        """With ``"password"``, or with ``"link": true`` for a one-time set-password link."""
        body = await read_json_object(request)
        name, role = _text(body, "name").strip(), _role(body)
        with_link = _flag(body, "link")
        if with_link == ("password" in body):
            raise BadBody('send either "password" or "link": true')
        settings = self.runtime.settings
        await asyncio.to_thread(commands.ensure_user_can_be_added, settings, name, role)
        if with_link:
            link = await self._write(commands.add_user_with_link, settings, name, role)
            self._audit(request, "user_added", name, f"role {role.value}, set-password link")
            return responses.created(
                {"user": name, "role": role.value, **self._link_answer(request, link)}
            )
        password = _text(body, "password")
        _check_new_password(password)
        password_hash = await asyncio.to_thread(commands.hash_password, settings, password)
        await self._write(commands.add_user, settings, name, password_hash, role)
        self._audit(request, "user_added", name, f"role {role.value}")
        return responses.created({"user": name, "role": role.value})

    @_refusals_as_answers
    async def new_link(self, request: web.Request) -> web.StreamResponse:
        """A fresh one-time link for an existing user (a reset they finish themselves)."""
        name = (await self._existing_user(request)).name
        link = await self._write(commands.create_set_password_link, self.runtime.settings, name)
        self._audit(request, "password_link_created", name)
        return responses.created({"user": name, **self._link_answer(request, link)})

    @_refusals_as_answers
    async def set_disabled(self, request: web.Request) -> web.StreamResponse:
        """Disable (sessions end, keys and Basic stop) or enable; never the last admin."""
        name = (await self._existing_user(request)).name
        disabled = _flag(await read_json_object(request), "disabled", required=True)
        async with self._writing:
            if disabled:
                await asyncio.to_thread(commands.refuse_last_admin, self.runtime.settings, name)
            await self._write_locked(commands.set_disabled, self.runtime.settings, name, disabled)
        ended = await self.runtime.authenticator.end_user_sessions(name) if disabled else 0
        self._audit(request, "user_disabled" if disabled else "user_enabled", name)
        return responses.ok(
            {"ok": True, "user": name, "disabled": disabled, "sessions_ended": ended}
        )

    async def sessions_of(self, request: web.Request) -> web.StreamResponse:
        name = (await self._existing_user(request)).name
        identity = request[IDENTITY]
        sessions = await self.runtime.authenticator.user_sessions(name)
        return responses.ok(
            {"user": name, "sessions": [self._session(record, identity) for record in sessions]}
        )

    @_refusals_as_answers
    async def end_session_of(self, request: web.Request) -> web.StreamResponse:
        """End any one session of any user (the administrator's own included)."""
        name = (await self._existing_user(request)).name
        handle = request.match_info["handle"].strip().lower()
        sessions = await self.runtime.authenticator.user_sessions(name)
        found = next((r for r in sessions if _handle(r) == handle), None)
        if found is None:
            return responses.not_found(NO_SUCH_SESSION)
        await self.runtime.authenticator.end_session_by_hash(found.id_hash)
        self._audit(request, "session_ended", name, f"session {handle}")
        return responses.ok({"ok": True, "user": name, "ended": handle})

    @_refusals_as_answers
    async def reset_password(self, request: web.Request) -> web.StreamResponse:
        name = (await self._existing_user(request)).name
        password = _text(await read_json_object(request), "password")
        _check_new_password(password)
        settings = self.runtime.settings
        password_hash = await asyncio.to_thread(commands.hash_password, settings, password)
        await self._write(commands.change_password, settings, name, password_hash)
        ended = await self.runtime.authenticator.end_user_sessions(name)
        self._audit(request, "password_reset", name)
        return responses.ok({"ok": True, "user": name, "sessions_ended": ended})

    @_refusals_as_answers
    async def set_role(self, request: web.Request) -> web.StreamResponse:
        name = (await self._existing_user(request)).name
        role = _role(await read_json_object(request))
        async with self._writing:
            if role is not Role.ADMIN:
                await asyncio.to_thread(commands.refuse_last_admin, self.runtime.settings, name)
            await self._write_locked(commands.set_role, self.runtime.settings, name, role)
        ended = await self.runtime.authenticator.end_user_sessions(name)
        self._audit(request, "role_changed", name, f"role {role.value}")
        return responses.ok({"ok": True, "user": name, "role": role.value, "sessions_ended": ended})

    @_refusals_as_answers
    async def remove_user(self, request: web.Request) -> web.StreamResponse:
        name = (await self._existing_user(request)).name
        async with self._writing:
            await asyncio.to_thread(commands.refuse_last_admin, self.runtime.settings, name)
            await self._write_locked(commands.remove_user, self.runtime.settings, name)
        ended = await self.runtime.authenticator.end_user_sessions(name)
        self._audit(request, "user_removed", name)
        return responses.ok({"ok": True, "user": name, "sessions_ended": ended})

    # --- helpers -----------------------------------------------------------------------

    async def _existing_user(self, request: web.Request) -> UserRecord:
        """The user the path names, as this instance knows them; a name it does not know
        makes it re-read ``auth.json`` first, if the file changed since the last poll (the
        user may just have been added through another instance or ``manage.py``)."""
        name = request.match_info["name"]
        user = await self.runtime.authenticator.find_caught_up(lambda store: store.listed(name))
        if user is None:
            raise NoSuchUser("no such user")
        return user

    def _file_users(self) -> tuple[UserRecord, ...]:
        path = self.runtime.settings.auth_file
        data = editor.read_bytes(path)
        return () if data is None else parse_auth_file(data, path)

    def _link_answer(self, request: web.Request, link: commands.NewLink) -> dict[str, Any]:
        """The link as the administrator's browser reaches this server; only the token in it."""
        origin = client_view(request, self.runtime.settings.trusted_proxies).origin
        query = urlencode({"token": link.token})
        return {
            "link": f"{origin}{SET_PASSWORD_PATH}?{query}",
            "link_expires": editor.iso_time(link.expires),
        }

    def _keys_of(self, user: UserRecord | None) -> list[dict[str, Any]]:
        """What the UI lists of each key (never the digest), with its last use here."""
        if user is None:
            return []
        now = time.time()
        listed = []
        for key in user.api_keys:
            seen = self.runtime.activity.get(key_entry(key.key_id))
            listed.append(
                {
                    "id": key.key_id,
                    "label": key.name,
                    "created": _iso(key.created),
                    "expires": _iso(key.expires),
                    "expired": key.is_expired(now),
                    "last_used": _iso(seen.at) if seen is not None else None,
                    "last_address": seen.address if seen is not None else None,
                }
            )
        return listed

    def _session(self, record: SessionRecord, identity: Identity) -> dict[str, Any]:
        seen = self.runtime.activity.get(session_entry(record.id_hash))
        return {
            "id": _handle(record),
            "created": _iso(record.created),
            "expires": _iso(record.expires),
            "with_api_key": record.key_id is not None,
            "current": record.id_hash == identity.session_id_hash,
            "last_seen": _iso(seen.at) if seen is not None else None,
            "address": seen.address if seen is not None else None,
            "device": seen.device if seen is not None else None,
        }

    async def _write(self, change: Callable[..., T], *args: Any) -> T:
        async with self._writing:
            return await self._write_locked(change, *args)

    async def _write_locked(self, change: Callable[..., T], *args: Any) -> T:
        """Run one ``admin_commands`` edit off the loop, then make this instance apply it."""
        result = await asyncio.to_thread(change, *args)
        await asyncio.to_thread(self.runtime.authenticator.credentials.reload_now)
        return result

    def _audit(self, request: web.Request, event: str, target: str, detail: str = "") -> None:
        actor = request[IDENTITY].name
        reason = f'"{target}"' + (f", {detail}" if detail else "")
        self.runtime.audit.record(
            event,
            user=actor,
            client=client_view(request, self.runtime.settings.trusted_proxies).address,
            route=request.path,
            reason=reason,
        )


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise BadBody(f'"{name}" must be a string')
    return value


def _optional_days(body: dict[str, Any]) -> int | None:
    value = body.get("expires_days")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadBody('"expires_days" must be a whole number of days, or null for no expiry')
    if not 1 <= value <= commands.MAX_EXPIRY_DAYS:
        raise BadBody(f'"expires_days" must be from 1 to {commands.MAX_EXPIRY_DAYS}')
    return value


def _role(body: dict[str, Any]) -> Role:
    try:
        return Role(body.get("role", "user"))
    except ValueError:
        raise BadBody('"role" must be "admin" or "user"') from None


def _check_new_password(password: str) -> None:
    """The rule of ``manage.py`` and the setup page (``password_policy``)."""
    problem = password_problem(password)
    if problem is not None:
        raise commands.Refused(problem)


def _flag(body: dict[str, Any], name: str, *, required: bool = False) -> bool:
    value = body.get(name, None if required else False)
    if not isinstance(value, bool):
        raise BadBody(f'"{name}" must be true or false')
    return value


def _handle(record: SessionRecord) -> str:
    return record.id_hash[:SESSION_HANDLE_LENGTH]


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return editor.iso_time(datetime.fromtimestamp(timestamp, timezone.utc))
