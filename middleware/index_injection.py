"""Serve ComfyUI's ``index.html`` with the interceptor script inserted in ``<head>``.

The script must run before the frontend's own modules so that it wraps ``fetch`` and
``XMLHttpRequest`` before they are used. The file is re-read only when it changes (a frontend
update while the server runs).
"""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

INJECT_TAG = '<script src="/auth/inject.js"></script>'
INDEX_PATHS = frozenset({"/", "/index.html"})
_HEAD = re.compile(rb"<head(\s[^>]*)?>", re.IGNORECASE)


class IndexInjector:
    """Caches the patched ``index.html`` of one web root, keyed by the file's stat."""

    def __init__(self, web_root: Path) -> None:
        self._index = web_root / "index.html"
        self._cached: tuple[tuple[int, int], bytes] | None = None

    def applies_to(self, request: web.Request) -> bool:
        return request.method in ("GET", "HEAD") and request.rel_url.raw_path in INDEX_PATHS

    def response(self) -> web.StreamResponse:
        body = self._patched()
        if body is None:
            raise web.HTTPNotFound()
        return web.Response(
            body=body,
            content_type="text/html",
            charset="utf-8",
            headers={"Cache-Control": "no-cache", "Pragma": "no-cache", "Expires": "0"},
        )

    def _patched(self) -> bytes | None:
        try:
            info = self._index.stat()
        except OSError:
            return None
        key = (info.st_mtime_ns, info.st_size)
        if self._cached is None or self._cached[0] != key:
            self._cached = (key, inject(self._index.read_bytes()))
        return self._cached[1]


def inject(html: bytes) -> bytes:
    """Insert the script tag right after ``<head>`` (or at the top if there is none)."""
    tag = INJECT_TAG.encode()
    if tag in html:
        return html
    match = _HEAD.search(html)
    if match is None:
        return tag + html
    return html[: match.end()] + tag + html[match.end() :]
