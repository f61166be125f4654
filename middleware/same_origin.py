"""Same-origin checks for requests carried by ambient credentials (cookies, proxy headers).

A browser attaches cookies to cross-site requests; the ``Origin`` header (or, failing that,
the ``Referer``) tells where the request came from. ``Origin: null`` (sandboxed frames,
``file:`` pages, some redirects) is refused.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from .client_view import ClientView

DEFAULT_PORTS = {"http": 80, "https": 443}


def request_origin(request: web.Request) -> str | None:
    """The origin the browser claims: ``Origin``, else the origin of ``Referer``, else None."""
    origin = request.headers.get("Origin")
    if origin is not None:
        return origin.strip().lower()
    referer = request.headers.get("Referer")
    if referer:
        try:
            parts = urlsplit(referer)
        except ValueError:  # e.g. an unclosed "[" in the host: not a usable origin
            return "null"
        if parts.scheme and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}".lower()
        return "null"
    return None


def is_same_origin(
    request: web.Request, view: ClientView, allowed: frozenset[str], *, required: bool
) -> bool:
    """True if the claimed origin is this site or an allowed one.

    With ``required`` a request that claims no origin at all is refused (cookie-authenticated
    writes); without it, such a request passes (scripts posting to the login API).
    """
    claimed = request_origin(request)
    if claimed is None:
        return not required
    if claimed == "null":
        return False
    normalised = _normalise(claimed)
    if normalised is None:
        return False
    return normalised in {_normalise(view.origin), *map(_normalise, allowed)}


def _normalise(origin: str) -> str | None:
    """``scheme://host[:port]`` without a default port; None for what is not an origin.

    An unparsable origin (a malformed host or port, from a client or from the ``Host``
    header) matches nothing, not even another unparsable one.
    """
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname or ""
    if port is None or port == DEFAULT_PORTS.get(parts.scheme):
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"
