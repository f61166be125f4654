"""Who is on the other end: client address, scheme and host, with trusted proxies.

``X-Forwarded-For``/``-Proto``/``-Host`` are honoured only when the direct peer is listed in
``COMFYUI_AUTH_TRUSTED_PROXIES``; from anyone else they are ignored, so a client cannot pick
its own address to dodge throttling or pose as HTTPS.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from aiohttp import hdrs, web

from ..core.settings import IPNetwork
from .request_credentials import has_query_key


@dataclass(frozen=True)
class ClientView:
    """The client as the package sees it after applying the trusted-proxy rule."""

    address: str
    scheme: str
    host: str
    via_trusted_proxy: bool

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.host}".lower()


CLIENT_VIEW = web.RequestKey("comfyui_auth.client_view", ClientView)


def client_view(request: web.Request, trusted: tuple[IPNetwork, ...]) -> ClientView:
    """The (cached) ``ClientView`` of ``request``."""
    if CLIENT_VIEW in request:
        return request[CLIENT_VIEW]
    view = _build(request, trusted)
    request[CLIENT_VIEW] = view
    return view


def is_trusted(address: str | None, trusted: tuple[IPNetwork, ...]) -> bool:
    if not address or not trusted:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def _build(request: web.Request, trusted: tuple[IPNetwork, ...]) -> ClientView:
    peer = request.remote or "unknown"
    direct = ClientView(peer, request.scheme, request.host, via_trusted_proxy=False)
    if not is_trusted(peer, trusted):
        return direct
    address = _forwarded_client(request.headers.getall("X-Forwarded-For", []), trusted) or peer
    proto = _first(request.headers.get("X-Forwarded-Proto"))
    host = _first(request.headers.get("X-Forwarded-Host"))
    return ClientView(
        address,
        proto if proto in ("http", "https") else direct.scheme,
        host if host and host.isascii() and host.isprintable() else direct.host,
        via_trusted_proxy=True,
    )


def _forwarded_client(values: list[str], trusted: tuple[IPNetwork, ...]) -> str | None:
    """The right-most address that is not a trusted proxy: the first hop we cannot vouch for."""
    hops = [hop.strip() for value in values for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return None
        if not is_trusted(hop, trusted):
            return hop
    return hops[0] if hops else None


def _first(value: str | None) -> str | None:
    if not value:
        return None
    return value.split(",", 1)[0].strip().lower() or None


def is_websocket(request: web.Request) -> bool:
    return request.headers.get(hdrs.UPGRADE, "").lower() == "websocket"


def is_navigation(request: web.Request) -> bool:
    """A browser loading a page: GET with HTML accepted, and no API key being tried."""
    if request.method not in ("GET", "HEAD") or is_websocket(request) or has_query_key(request):
        return False
    mode = request.headers.get("Sec-Fetch-Mode")
    if mode is not None:
        return mode == "navigate"
    return "text/html" in request.headers.get(hdrs.ACCEPT, "")
