"""Every setting of the package, read from the environment in exactly one function.

ComfyUI exits on command-line flags it does not know, so a custom node takes its settings
from environment variables and files. ``load_settings`` validates them all at once and raises
``ConfigError`` naming the variable and the fix; everything else receives the frozen result.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .errors import ConfigError
from .secret import Secret

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MIN_API_KEY_LENGTH = 16
KEY_FIX = 'generate one with: python -c "import secrets; print(secrets.token_urlsafe(32))"'
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


@dataclass(frozen=True)
class Settings:
    """The package's configuration; credentials themselves live in ``CredentialStore``."""

    disabled: bool
    state_dir: Path
    auth_file: Path
    auth_file_explicit: bool
    api_key: Secret | None
    api_key_file: Path | None
    remember_days: int = 30
    browser_session_hours: int = 12
    set_password_link_hours: int = 24
    """How long an administrator's one-time set-password link stays valid."""
    allowed_origins: frozenset[str] = frozenset()
    trusted_proxies: tuple[IPNetwork, ...] = ()
    proxy_user_header: str | None = None
    proxy_groups_header: str | None = None
    proxy_admin_groups: frozenset[str] = frozenset()
    redis_url: Secret | None = None
    failure_limit: int = 5
    failure_window_seconds: int = 60
    cheap_hashing_for_tests: bool = False
    max_pending: int | None = None
    """How many prompts one user may have waiting in the queue; None: no limit."""

    @property
    def audit_log_path(self) -> Path:
        return self.state_dir / "audit.log"

    @property
    def activity_path(self) -> Path:
        """Last use of sessions and keys (``core.activity``)."""
        return self.state_dir / "activity.json"

    @property
    def sessions_path(self) -> Path:
        return self.state_dir / "sessions.sqlite3"

    @property
    def signing_key_path(self) -> Path:
        return self.state_dir / "secret_key"


def load_settings(environ: Mapping[str, str], user_dir: Path) -> Settings:
    """Read and validate every ``COMFYUI_*`` variable this package understands."""
    state_dir = Path(environ.get("COMFYUI_AUTH_STATE_DIR") or user_dir / "__auth")
    auth_file_value = environ.get("COMFYUI_AUTH_FILE", "").strip()
    return Settings(
        disabled=_flag(environ, "COMFYUI_AUTH_DISABLED"),
        state_dir=state_dir,
        auth_file=Path(auth_file_value) if auth_file_value else state_dir / "auth.json",
        auth_file_explicit=bool(auth_file_value),
        api_key=_api_key(environ),
        api_key_file=_optional_path(environ, "COMFYUI_API_KEY_FILE"),
        remember_days=_int(environ, "COMFYUI_AUTH_REMEMBER_DAYS", 30, 1, 365),
        browser_session_hours=_int(environ, "COMFYUI_AUTH_SESSION_HOURS", 12, 1, 24 * 30),
        set_password_link_hours=_int(environ, "COMFYUI_AUTH_LINK_HOURS", 24, 1, 24 * 30),
        allowed_origins=_origins(environ),
        trusted_proxies=_networks(environ),
        proxy_user_header=_header_name(environ, "COMFYUI_AUTH_PROXY_USER_HEADER"),
        proxy_groups_header=_header_name(environ, "COMFYUI_AUTH_PROXY_GROUPS_HEADER"),
        proxy_admin_groups=_words(environ, "COMFYUI_AUTH_PROXY_ADMIN_GROUPS"),
        redis_url=_redis_url(environ),
        failure_limit=_int(environ, "COMFYUI_AUTH_FAILURE_LIMIT", 5, 1, 1000),
        failure_window_seconds=_int(environ, "COMFYUI_AUTH_FAILURE_WINDOW", 60, 1, 86400),
        cheap_hashing_for_tests=_flag(environ, "COMFYUI_AUTH_TEST_CHEAP_HASHING"),
        max_pending=_optional_int(environ, "COMFYUI_AUTH_MAX_PENDING", 1, 100_000),
    )


def settings_from_process(user_dir: Path) -> Settings:
    """``load_settings`` over ``os.environ``: the one place the process environment is read."""
    return load_settings(os.environ, user_dir)


def _flag(environ: Mapping[str, str], name: str) -> bool:
    value = environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be 1 or 0", fix=f"set {name}=1 or unset it")


def _int(environ: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ConfigError(
            f"{name} must be a whole number from {low} to {high}",
            fix=f"set {name} to such a number or unset it (default {default})",
        )
    return value


def _optional_int(environ: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    """Like ``_int``, for a limit that is off unless set."""
    if not environ.get(name, "").strip():
        return None
    return _int(environ, name, low, low, high)


def _optional_path(environ: Mapping[str, str], name: str) -> Path | None:
    raw = environ.get(name, "").strip()
    return Path(raw) if raw else None


def _api_key(environ: Mapping[str, str]) -> Secret | None:
    raw = environ.get("COMFYUI_API_KEY", "").strip()
    if not raw:
        return None
    check_api_key_shape(raw, source="COMFYUI_API_KEY", path=None)
    return Secret(raw)


def check_api_key_shape(raw: str, *, source: str, path: Path | None) -> None:
    """An administrator key must be long enough and fit in an HTTP header."""
    if len(raw) < MIN_API_KEY_LENGTH:
        raise ConfigError(
            f"{source} is shorter than {MIN_API_KEY_LENGTH} characters", fix=KEY_FIX, path=path
        )
    if not raw.isascii() or not raw.isprintable() or any(c.isspace() for c in raw):
        raise ConfigError(
            f"{source} must be printable ASCII without spaces", fix=KEY_FIX, path=path
        )


def _origins(environ: Mapping[str, str]) -> frozenset[str]:
    origins = set()
    for word in environ.get("COMFYUI_AUTH_ALLOWED_ORIGINS", "").replace(",", " ").split():
        parts = urlsplit(word)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise ConfigError(
                "COMFYUI_AUTH_ALLOWED_ORIGINS holds a value that is not an origin",
                fix="list origins such as https://comfy.example.org, separated by commas",
            )
        origins.add(f"{parts.scheme}://{parts.netloc}".lower())
    return frozenset(origins)


def _networks(environ: Mapping[str, str]) -> tuple[IPNetwork, ...]:
    networks = []
    for word in environ.get("COMFYUI_AUTH_TRUSTED_PROXIES", "").replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(word, strict=False))
        except ValueError:
            raise ConfigError(
                "COMFYUI_AUTH_TRUSTED_PROXIES holds a value that is not an address or CIDR range",
                fix="list addresses or ranges such as 127.0.0.1, 10.0.0.0/8, separated by commas",
            ) from None
    return tuple(networks)


def _header_name(environ: Mapping[str, str], name: str) -> str | None:
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    if not all(c.isalnum() or c == "-" for c in raw):
        raise ConfigError(f"{name} is not a header name", fix=f"set {name} to e.g. Remote-User")
    return raw


def _words(environ: Mapping[str, str], name: str) -> frozenset[str]:
    return frozenset(environ.get(name, "").replace(",", " ").split())


def _redis_url(environ: Mapping[str, str]) -> Secret | None:
    raw = environ.get("COMFYUI_AUTH_REDIS_URL", "").strip()
    if not raw:
        return None
    if urlsplit(raw).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(
            "COMFYUI_AUTH_REDIS_URL is not a redis:// or rediss:// URL",
            fix="set it to e.g. redis://127.0.0.1:6379/0 or unset it",
        )
    return Secret(raw)
