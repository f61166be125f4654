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


FETCH_SITES_OF_THIS_SITE = frozenset({"same-origin", "none"})
"""``Sec-Fetch-Site`` values of a request this site (or the user, typing a URL) started."""


def is_cross_site(request: web.Request, view: ClientView, allowed: frozenset[str]) -> bool:
    """A browser says another site started this request.

    The claimed origin (``Origin``, else ``Referer``) decides when there is one; otherwise
    ``Sec-Fetch-Site``, which browsers send with every request, sub-resources included. A
    script that sends neither is not a browser acting for someone else.
    """
    if request_origin(request) is not None:
        return not is_same_origin(request, view, allowed, required=False)
    site = request.headers.get("Sec-Fetch-Site")
    return site is not None and site.strip().lower() not in FETCH_SITES_OF_THIS_SITE


def is_own_navigation(request: web.Request) -> bool:
    """A top-level page load the user started on this site or in the address bar.

    Only browsers that send Fetch metadata can prove it; without the headers the answer is
    False, and callers ask the user instead (a same-origin confirmation page).
    """
    headers = request.headers
    site = headers.get("Sec-Fetch-Site", "").strip().lower()
    return (
        site in FETCH_SITES_OF_THIS_SITE
        and headers.get("Sec-Fetch-Mode", "").strip().lower() == "navigate"
        and headers.get("Sec-Fetch-Dest", "").strip().lower() == "document"
    )
