"""The audit trail: one JSON object per line, to ``user/__auth/audit.log`` and the console.

Events carry time, event name, user, client address, route and a fixed reason. Nothing secret
is ever passed in; as a second line of defence, ``api_key``/``token`` query values in a route
are replaced by ``[redacted]`` before the line is written.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from pathlib import Path

console = logging.getLogger("comfyui_auth.audit")
_SECRET_QUERY = re.compile(r"(?i)([?&](?:api_key|token)=)[^&#]*")
_QUIET_EVENTS = frozenset({"access_refused", "key_used"})


def redact_route(route: str) -> str:
    """The route with any ``api_key``/``token`` query value removed."""
    return _SECRET_QUERY.sub(r"\1[redacted]", route)


class AuditLog:
    """Appends events to the audit file (thread-safe) and mirrors them to the console."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._lock = threading.Lock()

    def record(
        self,
        event: str,
        *,
        user: str | None = None,
        client: str | None = None,
        route: str | None = None,
        reason: str | None = None,
    ) -> None:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "event": event,
            "user": user,
            "client": client,
            "route": redact_route(route) if route else None,
            "reason": reason,
        }
        line = json.dumps(entry, ensure_ascii=True, separators=(",", ":"))
        level = logging.DEBUG if event in _QUIET_EVENTS else logging.INFO
        console.log(level, "audit %s", line)
        if self._path is None:
            return
        with self._lock:
            try:
                with self._path.open("a", encoding="utf-8") as stream:
                    stream.write(line + "\n")
            except OSError:
                console.exception("cannot write the audit log %s", self._path)
