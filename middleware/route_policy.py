"""What an authenticated caller may reach: the authorizer.

Every authenticated user reaches ComfyUI's ordinary routes. Routes that install code or
restart the server (ComfyUI-Manager), the server's console log, and the listings of every
user's outputs (``/internal/files/output`` and ``temp``; the frontend lists only ``input``)
are for administrators.
The check runs on a canonical form of the path (decoded, dot segments and repeated slashes
removed, lower case, ``/api`` prefix dropped), so no spelling of a path slips past it.
"""

from __future__ import annotations

import posixpath
from urllib.parse import unquote

from ..core.identity import Identity

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
    "/internal/files/output",
    "/internal/files/temp",
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


def may_reach(identity: Identity, path: str) -> bool:
    return identity.is_admin or not requires_admin(path)
