"""Every route of the host, classified once at start-up: who may reach it, and how.

ComfyUI's own routes are listed below by method and path template (the ``/api`` twin prefix
dropped; ``HEAD`` is ``GET``, as aiohttp registers it):

- ``USER``: any signed-in caller; per-user storage comes from ComfyUI's user manager, which
  the package binds to the caller (``host_users``);
- ``OWNED``: any signed-in caller, but the answer or the change is cut to what the caller
  owns (``queue_isolation`` for prompts, ``user_files`` for files);
- ``ADMIN``: administrators only.

A core route that is not listed (one a newer ComfyUI adds) is ``ADMIN`` until the package
learns it, so a release cannot silently open a cross-user door; the start-up log names each
one. "Core" means the handler is defined in ComfyUI's own source folder, outside
``custom_nodes``. Routes of other custom nodes stay reachable by users, with file and folder
names in their queries cut to the caller's (``user_files.custom_node_route``; ComfyUI-Manager's
are for administrators by prefix, ``ADMIN_PREFIXES``: a route's template is put in canonical
form (decoded, dot segments and repeated slashes removed, lower case, ``/api`` dropped)
once, at start-up, so no spelling registered by any node slips past the prefixes).

The router has already matched the request when the middleware runs, so the decision is a
dictionary lookup on the matched route object: no path is parsed or normalised again, and
every spelling the router accepts lands on the same decision.
"""

from __future__ import annotations

import enum
import inspect
import logging
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from aiohttp.web import AbstractRoute

logger = logging.getLogger("comfyui_auth")
PACKAGE_DIR = Path(__file__).resolve().parent.parent


ADMIN_PREFIXES = (
    "/manager/",
    "/customnode/",
    "/externalmodel/",
    "/snapshot/",
    "/comfyui_manager/",
    "/v2/manager/",
    "/v2/customnode/",
    "/v2/externalmodel/",
    "/v2/snapshot/",
    "/v2/comfyui_manager/",
    "/internal/logs",
    "/auth/admin",
)


def canonical_path(path: str) -> str:
    """Decode repeatedly, normalise, lower-case and drop the ``/api`` twin prefix."""
    previous = None
    while previous != path:
        previous, path = path, unquote(path)
    path = posixpath.normpath("/" + path.replace("\\", "/").lstrip("/")).lower()
    path = "/" + path.lstrip("/")
    if path == "/api" or path.startswith("/api/"):
        path = path[len("/api") :] or "/"
    return path


def requires_admin(path: str) -> bool:
    canonical = canonical_path(path).rstrip(".") + "/"
    return any(canonical.startswith(prefix.rstrip("/") + "/") for prefix in ADMIN_PREFIXES)


class RouteClass(str, enum.Enum):
    USER = "user"
    OWNED = "owned"
    ADMIN = "admin"


USER, OWNED, ADMIN = RouteClass.USER, RouteClass.OWNED, RouteClass.ADMIN

WEBSOCKET_ROUTE = ("GET", "/ws")
"""ComfyUI's one WebSocket route (``server.py``): its other handlers never upgrade."""

CORE_ROUTES: dict[tuple[str, str], RouteClass] = {
    # The frontend, its WebSocket and what it reads to draw itself.
    ("GET", "/"): USER,
    WEBSOCKET_ROUTE: USER,  # clientId ownership: auth_middleware
    ("GET", "/embeddings"): USER,
    ("GET", "/extensions"): USER,
    ("GET", "/features"): USER,
    ("GET", "/i18n"): USER,
    ("GET", "/models"): USER,
    ("GET", "/models/{folder}"): USER,
    ("GET", "/experiment/models"): USER,
    ("GET", "/experiment/models/{folder}"): USER,
    ("GET", "/experiment/models/preview/{folder}/{path_index}/{filename}"): USER,
    ("GET", "/view_metadata/{folder_name}"): USER,  # model files' metadata, not user files
    ("GET", "/system_stats"): USER,
    ("GET", "/global_subgraphs"): USER,
    ("GET", "/global_subgraphs/{id}"): USER,
    ("GET", "/workflow_templates"): USER,
    ("GET", "/templates/{path}"): USER,
    ("GET", "/node_replacements"): USER,
    ("GET", "/internal/folder_paths"): USER,  # model folders, the frontend's model library
    ("GET", "/object_info"): OWNED,  # input-file choices cut to the caller's and shared files
    ("GET", "/object_info/{node_class}"): OWNED,
    # Per-user storage (ComfyUI's user manager answers for the signed-in user only).
    ("GET", "/settings"): USER,
    ("POST", "/settings"): USER,
    ("GET", "/settings/{id}"): USER,
    ("POST", "/settings/{id}"): USER,
    ("GET", "/userdata"): USER,
    ("GET", "/v2/userdata"): USER,
    ("GET", "/userdata/{file}"): USER,
    ("POST", "/userdata/{file}"): USER,
    ("DELETE", "/userdata/{file}"): USER,
    ("POST", "/userdata/{file}/move/{dest}"): USER,
    ("GET", "/users"): OWNED,  # lists the caller only
    ("POST", "/users"): ADMIN,  # creating ComfyUI users is for administrators
    # Prompts: every user sees and changes only their own (queue_isolation).
    ("GET", "/prompt"): USER,
    ("POST", "/prompt"): OWNED,
    ("GET", "/queue"): OWNED,
    ("POST", "/queue"): OWNED,
    ("GET", "/history"): OWNED,
    ("POST", "/history"): OWNED,
    ("GET", "/history/{prompt_id}"): OWNED,
    ("POST", "/interrupt"): OWNED,
    ("GET", "/jobs"): OWNED,
    ("GET", "/jobs/{job_id}"): OWNED,
    ("POST", "/jobs/cancel"): OWNED,
    ("POST", "/jobs/{job_id}/cancel"): OWNED,
    # Files: every user reads and writes only their own folders (user_files).
    ("GET", "/view"): OWNED,
    ("POST", "/upload/image"): OWNED,
    ("POST", "/upload/mask"): OWNED,
    ("GET", "/internal/files/{directory_type}"): OWNED,  # output/ and temp/: administrators
    # Whole-server actions and the server's console.
    ("POST", "/free"): ADMIN,  # unloads everyone's models
    ("GET", "/internal/logs"): ADMIN,
    ("GET", "/internal/logs/raw"): ADMIN,
    ("PATCH", "/internal/logs/subscribe"): ADMIN,
    # ComfyUI 0.33's Assets API: its table has no reliable owner, so it is not shared.
    ("GET", "/assets"): ADMIN,
    ("POST", "/assets"): ADMIN,
    ("GET", "/assets/{id}"): ADMIN,
    ("PUT", "/assets/{id}"): ADMIN,
    ("DELETE", "/assets/{id}"): ADMIN,
    ("GET", "/assets/{id}/content"): ADMIN,
    ("GET", "/assets/hash/{hash}"): ADMIN,
    ("HEAD", "/assets/hash/{hash}"): ADMIN,
    ("POST", "/assets/from-hash"): ADMIN,
    ("POST", "/assets/{id}/tags"): ADMIN,
    ("DELETE", "/assets/{id}/tags"): ADMIN,
    ("GET", "/assets/tags/refine"): ADMIN,
    ("GET", "/tags"): ADMIN,
    ("POST", "/assets/seed"): ADMIN,
    ("GET", "/assets/seed/status"): ADMIN,
    ("POST", "/assets/seed/cancel"): ADMIN,
    ("POST", "/assets/prune"): ADMIN,
}


def route_template(resource_path: str) -> str:
    """``/api/api/jobs/{job_id}`` and ``/jobs/{job_id}`` are both ``/jobs/{job_id}``."""
    while resource_path.startswith("/api/"):
        resource_path = resource_path[len("/api") :]
    return resource_path


def route_key(route: AbstractRoute) -> tuple[str, str]:
    """``(method, template)`` of a matched route; aiohttp's automatic ``HEAD`` is ``GET``."""
    resource = route.resource
    template = route_template(resource.canonical) if resource is not None else ""
    method = route.method
    if method == "HEAD" and ("HEAD", template) not in CORE_ROUTES:
        method = "GET"
    return method, template


@dataclass(frozen=True)
class RouteInfo:
    """What every request on one route needs to know, worked out once per route."""

    key: tuple[str, str]
    route_class: RouteClass
    serves_frontend: bool
    """The frontend's ``index.html`` and static files: the only answers without a sandbox
    (a static route that serves one of ComfyUI's data folders is not, ``_serves_data``)."""
    core: bool = False
    """Its handler is ComfyUI's own (not a custom node's): it learns the user only from the
    ``UserManager`` (which ``host_users`` binds) and saves no file while answering."""
    static: bool = False
    """A static route: aiohttp serves only files inside its folder."""
    admin_only: bool = field(init=False)
    """``route_class is RouteClass.ADMIN``, stored: an ``Enum`` comparison per request costs."""
    may_upgrade: bool = field(init=False)
    """Its handler may answer with a WebSocket: every route but ComfyUI's own, other than
    ``/ws``. Only there is a request's ``Upgrade`` header looked at (origin, ``clientId``)."""
    checks_file_names: bool = field(init=False)
    """A users' request gets ``user_files.custom_node_route``: a custom node's handler may
    read any file the request names. Not ComfyUI's own routes (their rules are in
    ``user_files.FILE_RULES``), nor the frontend's static ones: aiohttp reads only inside
    their folder, which holds no data folder (``_serves_data``)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "admin_only", self.route_class is RouteClass.ADMIN)
        object.__setattr__(self, "may_upgrade", not self.core or self.key == WEBSOCKET_ROUTE)
        frontend_files = self.static and self.serves_frontend
        object.__setattr__(self, "checks_file_names", not (self.core or frontend_files))


class HostRoutes:
    """The classification of one host's routes, built when the app starts."""

    def __init__(self, core_dir: Path | None, folder_paths: Any | None = None) -> None:
        self._core_dir = core_dir
        self._folder_paths = folder_paths
        self._info: dict[AbstractRoute, RouteInfo] = {}
        self.closed: list[str] = []
        """Core routes the package does not know, closed to users (for the log and tests)."""

    def classify(self, app: web.Application) -> None:
        """Classify every route of ``app`` and its sub-apps; log the closed ones once."""
        data = self._data_folders()
        for route, is_static in _routes(app):
            info = describe(route, is_static)
            if info.serves_frontend and _serves_data(route, data):
                info = replace(info, serves_frontend=False)  # user files: sandboxed
            if is_static or not self._is_core(route.handler):
                self._info[route] = info
                continue
            if info.route_class is RouteClass.USER and info.key not in CORE_ROUTES:
                info = RouteInfo(info.key, RouteClass.ADMIN, serves_frontend=False)
                self.closed.append(f"{info.key[0]} {info.key[1]}")
            self._info[route] = replace(info, core=True)
        self.closed = sorted(set(self.closed))
        if self.closed:
            logger.warning(
                "comfyui-auth: %d route(s) of this ComfyUI are not known to it and are for "
                "administrators only until it learns them: %s",
                len(self.closed),
                ", ".join(self.closed),
            )
        else:
            logger.info("comfyui-auth: every core route of this ComfyUI is classified")

    def info(self, request: web.Request) -> RouteInfo:
        """The matched route's ``RouteInfo`` (a 404 or 405 route is worked out each time)."""
        route = request.match_info.route
        known = self._info.get(route)
        return known if known is not None else describe(route, is_static=False)

    def _data_folders(self) -> tuple[Path, ...]:
        """ComfyUI's ``input/``, ``output/``, ``temp/`` and ``user/``: users' files."""
        from .user_files import FileRoots  # late: user_files needs the runtime, built on this

        if self._folder_paths is None:
            return ()
        try:
            roots = FileRoots.of(self._folder_paths)
        except AttributeError:  # a host whose folder_paths names no data folders: none to serve
            return ()
        return tuple(
            Path(each).resolve() for each in (roots.input, roots.output, roots.temp, roots.user)
        )

    def _is_core(self, handler: Any) -> bool:
        """True for a handler defined in ComfyUI's own source, outside ``custom_nodes``."""
        if self._core_dir is None:
            return False
        source = _source_file(handler)
        if source is None:
            return False
        inside = source.is_relative_to(self._core_dir)
        in_custom_nodes = source.is_relative_to(self._core_dir / "custom_nodes")
        return inside and not in_custom_nodes and not source.is_relative_to(PACKAGE_DIR)


def describe(route: AbstractRoute, is_static: bool) -> RouteInfo:
    """A route's ``RouteInfo`` from its template alone (core or not is ``HostRoutes``' job)."""
    key = route_key(route)
    known = CORE_ROUTES.get(key, RouteClass.USER)
    if requires_admin(key[1]):  # ComfyUI-Manager and the like, whoever registered them
        known = RouteClass.ADMIN
    static = is_static or isinstance(route.resource, web.StaticResource)
    return RouteInfo(key, known, static or key == ("GET", "/"), static=static)


def _serves_data(route: AbstractRoute, data: tuple[Path, ...]) -> bool:
    """A static route whose folder holds, or lies in, one of ComfyUI's data folders: a node
    serving ``output/`` or ``input/`` as static files serves what users uploaded, so its
    answers get the sandbox like ``/view``'s."""
    directory = route.resource.get_info().get("directory") if route.resource else None
    if not isinstance(directory, Path):
        return False
    directory = directory.resolve()
    return any(directory.is_relative_to(each) or each.is_relative_to(directory) for each in data)


def _routes(app: web.Application) -> Iterator[tuple[AbstractRoute, bool]]:
    """Every route of ``app`` and of its sub-apps, with whether it serves static files."""
    for resource in app.router.resources():
        info = resource.get_info()
        sub_app = info.get("app")
        if isinstance(sub_app, web.Application):
            yield from _routes(sub_app)
            continue
        is_static = isinstance(resource, web.StaticResource)
        for route in resource:
            yield route, is_static


def _source_file(handler: Any) -> Path | None:
    try:
        source = inspect.getsourcefile(inspect.unwrap(handler))
    except (TypeError, ValueError):
        return None
    return Path(source).resolve() if source else None
