"""Who is calling: the one place that turns a request into an ``Identity``, for every carrier.

Carriers, strongest first: an API key (``Authorization: Bearer``, ``X-API-Key``, ``?api_key=``,
``?token=``), a trusted proxy's single-sign-on header, the session cookie, HTTP Basic (an
``auth.json`` password, or any user name with an API key as password). The login form goes
through ``identify_form``, with the same key and password checks. Answers: an ``Identity``,
``None`` for nobody, or a refusal the caller returns as it is (a bad or throttled
credential); ``MalformedCredentials`` for a credential no client should send. Only failures
meet the throttle; a warm key, session or Basic pair costs no thread and no I/O.
"""

from __future__ import annotations

from aiohttp import web

from ..core.auth_file import lookup_key
from ..core.identity import ENV_KEY_USER, Identity, Role, Via
from ..core.throttle import address_key, user_key
from . import responses
from .client_view import ClientView, client_view, is_navigation
from .login_body import SubmittedFields
from .request_credentials import (
    BasicCredentials,
    is_key_text,
    presented_basic,
    presented_key,
    session_cookie,
)
from .return_path import safe_return_path
from .runtime import AuthRuntime
from .same_origin import is_cross_site


def client_of(runtime: AuthRuntime, request: web.Request) -> ClientView:
    """The client behind the request, built when first needed (a valid key never needs it)."""
    return client_view(request, runtime.settings.trusted_proxies)


def warm_identity(runtime: AuthRuntime, request: web.Request) -> Identity | None:
    """The caller, when nothing needs awaiting: a valid API key, a session this process
    holds under the credentials in force, or a Basic pair verified before. None means ask
    ``identify``, which decides (and refuses) every case; this is its first step for the
    requests of a busy day, taken with the same precedence and nothing else (a key
    presented decides alone; a trusted proxy's header goes to ``identify``)."""
    token = presented_key(request, checked=False)  # only a key proved valid is looked up
    if token is not None:
        identity = runtime.authenticator.recall_key(token)
        if identity is not None:
            _audit_first_use(runtime, request, identity)
        return identity
    if runtime.settings.proxy_user_header is not None:
        return None
    cookie = session_cookie(request)
    if cookie:
        verified = runtime.cookies.verify(cookie)
        return runtime.authenticator.recall_session(verified.id_hash) if verified else None
    basic = presented_basic(request)
    if basic is None or _basic_from_another_site(runtime, request):
        return None
    return _recall_basic(runtime, request, basic)


async def identify(
    runtime: AuthRuntime, request: web.Request
) -> Identity | web.StreamResponse | None:
    """The caller's identity, a refusal (bad or throttled credential), or None for nobody.

    An API key wins over everything else; HTTP Basic counts last, so a browser behind a
    proxy that adds its own Basic header keeps its session, and never when a browser says
    another site started the request (browsers resend Basic credentials on their own).
    """
    token = presented_key(request)
    if token is not None:
        return await _identify_key(runtime, request, token)
    proxied = _proxy_identity(runtime, request)
    if proxied is not None:
        return proxied
    cookie = session_cookie(request)
    if cookie:
        session_id = runtime.cookies.unsign(cookie)
        if session_id is not None:
            identity = await runtime.authenticator.identify_session(session_id)
            if identity is not None:
                return identity
    basic = presented_basic(request)
    if basic is not None and not _basic_from_another_site(runtime, request):
        return await _identify_basic(runtime, request, basic)
    return None


def _basic_from_another_site(runtime: AuthRuntime, request: web.Request) -> bool:
    """Browsers resend Basic credentials on their own: never for another site's request."""
    return is_cross_site(request, client_of(runtime, request), runtime.settings.allowed_origins)


async def _identify_key(
    runtime: AuthRuntime, request: web.Request, token: str
) -> Identity | web.StreamResponse:
    """A valid key passes whatever failed before it; only failures meet the throttle.

    Keys are long random strings, so counting failures guards nothing a guess could win,
    and consulting the throttle first would let a flood of bad keys from a shared address
    (a NAT, an untrusted proxy) lock out every holder of a good one there.
    """
    identity = runtime.authenticator.identify_key(token)
    if identity is not None:
        _audit_first_use(runtime, request, identity)
        return identity
    view = client_of(runtime, request)
    key = address_key(view.address)
    wait = await runtime.throttle.retry_after(key)
    if wait:
        runtime.audit.record("throttled", client=view.address, route=request.path_qs)
        return responses.throttled(wait)
    identity = await runtime.authenticator.identify_key_caught_up(token)  # a key just made
    if identity is not None:
        _audit_first_use(runtime, request, identity)
        return identity
    await runtime.throttle.record_failure(key)
    runtime.audit.record(
        "access_refused", client=view.address, route=request.path_qs, reason="invalid API key"
    )
    return responses.unauthorized("invalid API key")


async def _identify_basic(
    runtime: AuthRuntime, request: web.Request, basic: BasicCredentials
) -> Identity | web.StreamResponse:
    """Basic: an API key as the password, a pair verified before, else one password hash.

    The hash is throttled like a sign-in (per address and user name, checked before it
    runs); a pair already verified and unchanged since is accepted without either.
    """
    authenticator = runtime.authenticator
    identity = _recall_basic(runtime, request, basic)
    if identity is not None:
        return identity
    view = client_of(runtime, request)
    known = authenticator.credentials.current.user(basic.user) is not None
    keys = (address_key(view.address), user_key(lookup_key(basic.user), known=known))
    wait = await runtime.throttle.retry_after(*keys)
    if wait:
        runtime.audit.record(
            "throttled", user=basic.user, client=view.address, route=request.path_qs
        )
        return responses.throttled(wait)
    identity = await authenticator.verify_basic(basic.user, basic.password)
    if identity is None:
        await runtime.throttle.record_failure(*keys)
        runtime.audit.record(
            "login_failure",
            user=basic.user,
            client=view.address,
            route=request.path_qs,
            reason="wrong user name or password (HTTP Basic)",
        )
        if is_navigation(request):
            return responses.redirect_to_login(safe_return_path(request.path_qs))
        return responses.unauthorized("wrong user name or password")
    runtime.audit.record(
        "login_success",
        user=identity.name,
        client=view.address,
        route=request.path,
        reason="HTTP Basic password",
    )
    return identity


def _recall_basic(
    runtime: AuthRuntime, request: web.Request, basic: BasicCredentials
) -> Identity | None:
    """Basic with an API key as the password, or a pair verified before: no hash to run."""
    password = basic.password
    identity = runtime.authenticator.identify_key(password) if is_key_text(password) else None
    if identity is not None:
        _audit_first_use(runtime, request, identity)
        return identity
    return runtime.authenticator.recall_basic(basic.user, basic.password)


def _audit_first_use(runtime: AuthRuntime, request: web.Request, identity: Identity) -> None:
    key_id = identity.key_id or identity.name
    if key_id not in runtime.keys_seen:  # the audit trail's "key_used", once per key
        runtime.keys_seen.add(key_id)  # bounded: only ids of valid keys get here
        runtime.audit.record(
            "key_used",
            user=identity.name,
            client=client_of(runtime, request).address,
            route=request.path,
            reason=key_id,
        )


def _proxy_identity(runtime: AuthRuntime, request: web.Request) -> Identity | None:
    """Single sign-on: a user header counts only when set by a trusted proxy."""
    settings = runtime.settings
    if settings.proxy_user_header is None or not client_of(runtime, request).via_trusted_proxy:
        return None
    name = request.headers.get(settings.proxy_user_header, "").strip()
    if not name or len(name) > 256 or not name.isprintable():
        return None
    if lookup_key(name) == ENV_KEY_USER:  # reserved for the admin key, as in auth.json
        return None
    if runtime.authenticator.credentials.current.is_disabled(name):  # disabled in auth.json
        return None
    groups: set[str] = set()
    if settings.proxy_groups_header is not None:
        raw = request.headers.get(settings.proxy_groups_header, "")
        groups = {group.strip() for group in raw.split(",") if group.strip()}
    role = Role.ADMIN if groups & settings.proxy_admin_groups else Role.USER
    return Identity(name, role, Via.PROXY)


async def identify_form(runtime: AuthRuntime, fields: SubmittedFields) -> Identity | None:
    """The identity a login form proves: an API key, or a user name and password (a Fooocus
    password is upgraded to argon2id on the way). Throttling is the login route's job."""
    authenticator = runtime.authenticator
    api_key = fields.text("api_key")
    if api_key:
        token = api_key.strip()
        if not is_key_text(token):
            return None
        return authenticator.identify_key(token) or await authenticator.identify_key_caught_up(
            token
        )
    password = fields.text("password")
    user = await authenticator.check_password(fields.text("username"), password)
    if user is None:
        return None
    upgrade = authenticator.verifier.needs_rehash(user.password)
    if upgrade and await authenticator.upgrade_legacy_password(user, password):
        runtime.audit.record("password_upgraded", user=user.name, reason="stored as argon2id")
    return Identity(user.name, user.role, Via.SESSION)
