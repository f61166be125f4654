"""Everything the middleware and routes share, built once when the package is installed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from ..core.activity import Activity
from ..core.audit import AuditLog
from ..core.authenticator import Authenticator
from ..core.cookie_signing import CookieSigner
from ..core.credential_source import CredentialSource
from ..core.errors import ConfigError
from ..core.fair_queue import FairScheduler
from ..core.identity import Identity
from ..core.passwords import PasswordVerifier, make_hasher
from ..core.prompt_owners import PromptOwners
from ..core.session_store import SessionRecord, SessionStore
from ..core.sessions import SqliteSessionStore
from ..core.settings import Settings
from ..core.setup_token import SetupToken
from ..core.state_files import ensure_private_dir, read_or_create_signing_key
from ..core.throttle import FailureThrottle, failure_windows
from ..core.trusted_devices import TrustedDevices
from .client_ids import ClientIdOwners
from .host_adapter import HostAdapter
from .host_routes import HostRoutes
from .host_users import HostUsers
from .index_injection import IndexInjector

if TYPE_CHECKING:  # redis is imported only when COMFYUI_AUTH_REDIS_URL is set
    from ..core.shared_config import SharedConfig

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
    routes: HostRoutes
    devices: TrustedDevices
    prompt_owners: PromptOwners = field(default_factory=PromptOwners)
    scheduler: FairScheduler = field(default_factory=FairScheduler)
    setup_token: SetupToken | None = None
    keys_seen: set[str] = field(default_factory=set)
    """Ids of the API keys used since start: the first use of each is audited, not every one."""
    shared_config: SharedConfig | None = None
    """With Redis: this instance's published key fingerprint and auth.json digest."""
    activity: Activity = field(default_factory=lambda: Activity(None))
    """Last use of each session and key, in memory; written by the watcher once a minute."""

    @property
    def needs_setup(self) -> bool:
        return self.authenticator.credentials.current.is_empty


def build_runtime(settings: Settings, host: HostAdapter) -> AuthRuntime:
    """Create the state directory, keys, stores and helpers; raise ``ConfigError``."""
    ensure_private_dir(settings.state_dir)
    signing_key = read_or_create_signing_key(settings.signing_key_path)
    credentials = CredentialSource(settings, signing_key)
    verifier = PasswordVerifier(make_hasher(cheap_for_tests=settings.cheap_hashing_for_tests))
    sessions, throttle, shared_config = _stores(settings, host.app, signing_key)
    audit = AuditLog(settings.audit_log_path)
    activity = Activity(settings.activity_path)
    activity.load()

    def session_revoked(record: SessionRecord) -> None:
        audit.record("session_revoked", user=record.user, reason="credential changed or removed")

    return AuthRuntime(
        settings=settings,
        host=host,
        authenticator=Authenticator(
            settings, credentials, sessions, verifier, on_revoked=session_revoked
        ),
        cookies=CookieSigner([signing_key]),
        throttle=throttle,
        audit=audit,
        index=IndexInjector(host.web_root),
        host_users=HostUsers(host.user_manager),
        client_ids=ClientIdOwners(),
        routes=HostRoutes(host.core_dir, host.folder_paths),
        devices=TrustedDevices(signing_key),
        shared_config=shared_config,
        activity=activity,
    )


def _stores(
    settings: Settings, app: web.Application, signing_key: bytes
) -> tuple[SessionStore, FailureThrottle, SharedConfig | None]:
    """SQLite and memory for one instance; Redis when several share ``COMFYUI_AUTH_REDIS_URL``.

    The Redis clients are closed with the app; redis-py is imported only when Redis is used.
    An instance whose signing key differs from the others' refuses to start (``ConfigError``).
    """
    windows = failure_windows(settings.failure_limit, settings.failure_window_seconds)
    if settings.redis_url is None:
        return SqliteSessionStore(settings.sessions_path), FailureThrottle.in_memory(windows), None
    try:
        from ..core.redis_connection import connect
        from ..core.redis_sessions import RedisSessionStore
        from ..core.shared_config import SharedConfig
    except ImportError as error:
        if (error.name or "").partition(".")[0] != "redis":
            raise
        raise ConfigError(
            "COMFYUI_AUTH_REDIS_URL is set but the Python package redis is missing",
            fix="install it with ComfyUI's own Python: python -m pip install 'redis>=5.2', "
            "or unset COMFYUI_AUTH_REDIS_URL",
        ) from None
    shared = connect(settings.redis_url)
    config = SharedConfig(shared.client, signing_key, settings.signing_key_path, settings.auth_file)
    try:
        config.claim()
    except ConfigError:
        shared.client.close()
        raise

    async def close_shared(app: web.Application) -> None:
        await shared.close()

    app.on_cleanup.append(close_shared)
    throttle = FailureThrottle.shared(windows, shared.throttle_storage)
    return RedisSessionStore(shared.client), throttle, config
