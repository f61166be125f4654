"""Install the package on a host: settings, runtime, middleware, routes, signals.

Called once from the top-level ``__init__.py``. Any exception escaping from here makes the
caller close the server (see ``fail_closed``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from aiohttp import web
from multidict import istr

from ..core.settings import Settings, settings_from_process
from .host_adapter import HostAdapter
from .responses import OWN_POLICY

if TYPE_CHECKING:
    from .runtime import AuthRuntime

logger = logging.getLogger("comfyui_auth")
MIN_AIOHTTP = (3, 14, 1)


def install_on_host() -> AuthRuntime | None:
    """Protect the running ComfyUI (``PromptServer.instance``); None when disabled."""
    host = HostAdapter.from_prompt_server()
    settings = settings_from_process(host.user_dir)
    if settings.disabled:
        logger.warning(
            "\n%s\ncomfyui-auth is DISABLED by COMFYUI_AUTH_DISABLED: every route of this "
            "server is open to anyone who can reach it.\n%s",
            "!" * 78,
            "!" * 78,
        )
        return None
    return install(host, settings)


def install(host: HostAdapter, settings: Settings) -> AuthRuntime:
    """Build the runtime and put the middleware at the front of the host's app."""
    # Imported here, not at the top: COMFYUI_AUTH_DISABLED must work (and a missing
    # dependency must be reported by fail_closed) before anything third-party is imported.
    from ..core.setup_token import SetupToken
    from .auth_middleware import make_auth_middleware
    from .credential_watcher import watcher_context
    from .current_user import current_user_inputs
    from .fair_queue import fair_numbers
    from .health_route import warm_device_probe
    from .host_events import install_event_routing
    from .login_routes import add_auth_routes
    from .queue_isolation import own_prompts
    from .runtime import IDENTITY, build_runtime
    from .user_files import install_save_path_hook

    warn_if_old_aiohttp()
    runtime = build_runtime(settings, host)
    app = host.app
    app.middlewares.insert(0, make_auth_middleware(runtime))
    add_auth_routes(app.router, runtime)
    app.on_response_prepare.append(security_headers(runtime))
    app.cleanup_ctx.append(watcher_context(runtime))  # type: ignore[arg-type]
    app.on_startup.append(warm_device_probe)
    app.on_startup.append(classify_routes(runtime))
    if host.add_on_prompt_handler is not None:
        host.add_on_prompt_handler(own_prompts(runtime))
        host.add_on_prompt_handler(fair_numbers(runtime))
        host.add_on_prompt_handler(current_user_inputs)
    runtime.host_users.bind(lambda request: request[IDENTITY].name if IDENTITY in request else None)
    install_save_path_hook(runtime)
    install_event_routing(runtime)
    if runtime.needs_setup:
        runtime.setup_token = SetupToken()
        announce_setup(runtime, host)
    else:
        store = runtime.authenticator.credentials.current
        logger.info(
            "comfyui-auth protects this server: %d user(s)%s",
            len(store.users),
            " and an administrator API key" if store.admin_key is not None else "",
        )
    return runtime


def classify_routes(runtime: AuthRuntime) -> Callable[[web.Application], Awaitable[None]]:
    """An ``on_startup`` signal: by then ComfyUI has added every route (``host_routes``)."""

    async def classify(app: web.Application) -> None:
        runtime.routes.classify(app)

    return classify


def announce_setup(runtime: AuthRuntime, host: HostAdapter) -> None:
    """Print the one-time setup link to the console (not to the log file)."""
    from .public_paths import SETUP_PATH

    assert runtime.setup_token is not None  # noqa: S101 - set by the caller
    link = f"{host.base_url}{SETUP_PATH}?token={runtime.setup_token.value}"
    banner = "=" * 78
    sys.stderr.write(
        f"\n{banner}\ncomfyui-auth: no user or API key is configured, so every route is "
        f"closed.\nCreate the first administrator within one hour at this one-time link:\n\n"
        f"    {link}\n\nor add users to {runtime.settings.auth_file} (see the README), "
        f"or set COMFYUI_API_KEY.\n{banner}\n\n"
    )


REFERRER_POLICY = istr("Referrer-Policy")
CONTENT_TYPE_OPTIONS = istr("X-Content-Type-Options")
CONTENT_SECURITY_POLICY = istr("Content-Security-Policy")
"""As ``istr``, like aiohttp's ``hdrs``: a header dict then skips folding the name's case."""
SANDBOX = "sandbox"
"""CSP for every answer that is not the frontend itself: a file a user put on the server
(an SVG with a script, an HTML "user data" file) opened as a page runs in an opaque origin
with no script, so it can never act on the ComfyUI origin (read the CSRF cookie, call
ComfyUI-Manager). Images, video and audio embedded by the frontend are unaffected: a
document's policy does not apply to the media it embeds.

An answer that already carries a policy gets this one as a header of its own: a browser
enforces every policy it is sent, so the sandbox holds whatever the other allows. ComfyUI
started with ``--disable-api-nodes`` sets its own policy on every answer, one that allows
inline scripts; left alone, it would let a user's SVG run as the ComfyUI origin."""


def security_headers(
    runtime: AuthRuntime,
) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    """The ``on_response_prepare`` signal: headers every answer gets. ``?api_key=`` stays out
    of Referer, no MIME sniffing, and no active content outside the frontend (``SANDBOX``)."""

    async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
        headers = response.headers
        headers.setdefault(REFERRER_POLICY, "no-referrer")
        headers.setdefault(CONTENT_TYPE_OPTIONS, "nosniff")
        if (
            not runtime.routes.info(request).serves_frontend
            and headers.setdefault(CONTENT_SECURITY_POLICY, SANDBOX) != SANDBOX
        ):
            also_sandbox(response)

    return add_security_headers


def also_sandbox(response: web.StreamResponse) -> None:
    """``SANDBOX`` beside the policies an answer already has, unless one of them is it; the
    package's own pages get their own policy back instead (``responses.OWN_POLICY``)."""
    headers = response.headers
    own = response.get(OWN_POLICY)
    if own is not None:
        headers[CONTENT_SECURITY_POLICY] = own
    elif SANDBOX not in headers.getall(CONTENT_SECURITY_POLICY):
        headers.add(CONTENT_SECURITY_POLICY, SANDBOX)


def warn_if_old_aiohttp() -> None:
    try:
        installed = version("aiohttp")
    except PackageNotFoundError:
        return
    numbers = tuple(int(part) for part in installed.split(".")[:3] if part.isdigit())
    if numbers < MIN_AIOHTTP:
        logger.warning(
            "comfyui-auth needs aiohttp %s or newer (request-smuggling and header-parsing "
            "fixes); this ComfyUI has %s. Run: python -m pip install -U 'aiohttp>=3.14.1'",
            ".".join(map(str, MIN_AIOHTTP)),
            installed,
        )
