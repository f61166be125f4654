"""Validation of the ``next`` return path: same site only, never an open redirect.

A path is accepted only if it is a plain absolute path on this site: it starts with one ``/``,
has no scheme or host, no backslash, no control character, and does not lead back into the
login pages. API keys in its query are dropped so the server never builds a URL carrying one.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

from .request_credentials import QUERY_CARRIERS

MAX_RETURN_PATH = 2048
DEFAULT = "/"


def safe_return_path(value: str | None) -> str:
    """``value`` if it is a safe same-site path, otherwise ``/``."""
    if not value or len(value) > MAX_RETURN_PATH:
        return DEFAULT
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return DEFAULT
    if not value.isprintable() or any(c.isspace() for c in value):
        return DEFAULT
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path.startswith("/auth"):
        return DEFAULT
    query = [
        (name, item)
        for name, item in parse_qsl(parts.query, keep_blank_values=True)
        if name not in QUERY_CARRIERS
    ]
    rebuilt = parts.path + ("?" + urlencode(query) if query else "")
    return rebuilt + ("#" + parts.fragment if parts.fragment else "")
