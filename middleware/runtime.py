"""Everything the middleware and routes share, built once when the package is installed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from ..core.audit import AuditLog
from ..core.authenticator import Authenticator
from ..core.cookie_signing import CookieSigner
from ..core.credential_source import CredentialSource
from ..core.identity import Identity
from ..core.passwords import PasswordVerifier, make_hasher
from ..core.sessions import SessionStore
from ..core.settings import Settings
from ..core.setup_token import SetupToken
from ..core.state_files import ensure_private_dir, read_or_create_signing_key
from ..core.throttle import FailureThrottle
from .client_ids import ClientIdOwners
from .host_adapter import HostAdapter
from .host_users import HostUsers
from .index_injection import IndexInjector

IDENTITY = web.RequestKey("comfyui_auth.identity", Identity)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class AuthRuntime:
    """The working parts of the package on one host."""

    settings: Settings
    host: HostAdapter
    authenticator: Authenticator
    cookies: CookieSigner
    throttle: FailureThrottle
    audit: AuditLog
    index: IndexInjector
    host_users: HostUsers
    client_ids: ClientIdOwners
    setup_token: SetupToken | None = None

    @property
    def needs_setup(self) -> bool:
        return self.authenticator.credentials.current.is_empty


def build_runtime(settings: Settings, host: HostAdapter) -> AuthRuntime:
    """Create the state directory, keys, stores and helpers; raise ``ConfigError``."""
    ensure_private_dir(settings.state_dir)
    signing_key = read_or_create_signing_key(settings.signing_key_path)
    credentials = CredentialSource(settings, signing_key)
    verifier = PasswordVerifier(make_hasher(cheap_for_tests=settings.cheap_hashing_for_tests))
    authenticator = Authenticator(
        settings, credentials, SessionStore(settings.sessions_path), verifier
    )
    redis_url = settings.redis_url.reveal().decode() if settings.redis_url else None
    return AuthRuntime(
        settings=settings,
        host=host,
        authenticator=authenticator,
        cookies=CookieSigner([signing_key]),
        throttle=FailureThrottle.from_settings(
            settings.failure_limit, settings.failure_window_seconds, redis_url
        ),
        audit=AuditLog(settings.audit_log_path),
        index=IndexInjector(host.web_root),
        host_users=HostUsers(host.user_manager),
        client_ids=ClientIdOwners(),
    )
