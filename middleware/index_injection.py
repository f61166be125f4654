"""Serve ComfyUI's ``index.html`` with the interceptor script inserted in ``<head>``.

The script must run before the frontend's own modules so that it wraps ``fetch`` and
``XMLHttpRequest`` before they are used. The file is re-read only when it changes (a frontend
update while the server runs).
"""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import hdrs, web
from multidict import istr

INJECT_TAG = '<script src="/auth/inject.js"></script>'
INDEX_PATHS = frozenset({"/", "/index.html"})
_HEAD = re.compile(rb"<head(\s[^>]*)?>", re.IGNORECASE)
BODY_HEADERS = frozenset(
    {
        hdrs.CONTENT_TYPE,
        hdrs.CONTENT_LENGTH,
        hdrs.CONTENT_ENCODING,
        hdrs.CONTENT_RANGE,
        hdrs.ACCEPT_RANGES,
        hdrs.ETAG,
        hdrs.LAST_MODIFIED,
        hdrs.TRANSFER_ENCODING,
    }
)
"""What the host's answer says about its own body (the unpatched file), not about ours."""
REVALIDATED = {hdrs.CACHE_CONTROL: "no-cache", istr("Pragma"): "no-cache", hdrs.EXPIRES: "0"}
"""Cache headers the index gets unless the host set its own: a browser asks again on every
load, so a frontend update (a new file, new script names) is seen at once."""


class IndexInjector:
    """Caches the patched ``index.html`` of one web root, keyed by the file's stat."""

    def __init__(self, web_root: Path) -> None:
        self._index = web_root / "index.html"
        self._cached: tuple[tuple[int, int], bytes] | None = None

    def applies_to(self, request: web.Request) -> bool:
        return request.method in ("GET", "HEAD") and request.rel_url.raw_path in INDEX_PATHS

    def response(self, host_answer: web.StreamResponse) -> web.StreamResponse:
        """The patched file under the headers of the host's own answer for the index.

        ComfyUI's middlewares decorate that answer: with ``--disable-api-nodes`` its
        ``Content-Security-Policy`` is what keeps the frontend from reaching the internet,
        and its cache rules say the index is never stored. Only the headers that describe
        the host's body are dropped; an answer that is not a plain 200 goes out unchanged.
        """
        if host_answer.prepared or host_answer.status != 200:
            return host_answer
        body = self._patched()
        if body is None:
            raise web.HTTPNotFound()
        headers = host_answer.headers.copy()
        for name in BODY_HEADERS:
            headers.popall(name, None)
        for name, value in REVALIDATED.items():
            headers.setdefault(name, value)
        return web.Response(body=body, content_type="text/html", charset="utf-8", headers=headers)

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
