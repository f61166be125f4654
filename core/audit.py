"""The audit trail: one JSON object per line, to ``user/__auth/audit.log`` and the console.

Events carry time, event name, user, client address, route and a fixed reason. Nothing secret
is ever passed in; as a second line of defence, the value of every query parameter the server
would read as a key (``api_key``, ``token``) is replaced by ``[redacted]`` before the line is
written. Names are matched by meaning, not spelling: decoded as yarl decodes them for the
server (``api%5Fkey`` is ``api_key``), then again in case of double encoding, and compared
without regard to case, so no spelling the server accepts reaches the file.

The file holds user names and addresses, so it is created owner-only (0600). Events anyone
can cause without credentials (refusals, throttling, failed logins) are written at most
``FILE_BURST`` times per client and event within ``FILE_WINDOW_SECONDS``, then one
``audit_suppressed`` line says that more follow on the console only (at DEBUG): a flood of
requests cannot fill the disk.
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote_plus

console = logging.getLogger("comfyui_auth.audit")
SECRET_QUERY_NAMES = frozenset({"api_key", "token"})
"""``request_credentials.QUERY_CARRIERS``, compared case-insensitively."""
REDACTED = "[redacted]"
_DECODING_ROUNDS = 4
_QUIET_EVENTS = frozenset({"access_refused", "key_used"})
FLOODABLE_EVENTS = frozenset({"access_refused", "throttled", "login_failure"})
"""Events an anonymous client can cause at will: their file lines are rate-limited."""
FILE_BURST = 20
FILE_WINDOW_SECONDS = 60.0
MAX_TRACKED_CLIENTS = 10_000
FILE_MODE = 0o600


def redact_route(route: str) -> str:
    """The route with the value of every key-carrying query parameter replaced.

    Parameters are split at "&" only, as yarl splits them: a route is aiohttp's ``path_qs``,
    which never holds a fragment but may show an encoded "#" (%23) in a value decoded, so
    "#" and ";" can be part of a key and are redacted with it.
    """
    path, question, query = route.partition("?")
    if not question:
        return route
    pairs = [_redacted_pair(pair) for pair in query.split("&")]
    return path + question + "&".join(pairs)


def _redacted_pair(pair: str) -> str:
    name, equals, _ = pair.partition("=")
    return name + equals + REDACTED if equals and _names_a_key(name) else pair


def _names_a_key(name: str) -> bool:
    """Whether any decoding of ``name`` is a key carrier's name."""
    for _ in range(_DECODING_ROUNDS):
        if name.strip().casefold() in SECRET_QUERY_NAMES:
            return True
        decoded = unquote_plus(name)
        if decoded == name:
            return False
        name = decoded
    return True  # still decoding after several rounds: nobody writes a name like that


class _Decision(enum.Enum):
    WRITE = "write"
    NOTICE = "notice"  # the first event over the burst: write a suppression notice instead
    DROP = "drop"


class AuditLog:
    """Appends events to the audit file (thread-safe) and mirrors them to the console."""

    def __init__(self, path: Path | None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._path = path
        self._clock = clock
        self._lock = threading.Lock()
        # (event, client) -> (window start, events in that window); least recent first.
        self._windows: OrderedDict[tuple[str, str], tuple[float, int]] = OrderedDict()

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
        line = _json_line(entry)
        with self._lock:
            decision = self._admit(event, client)
            quiet = event in _QUIET_EVENTS or decision is _Decision.DROP
            console.log(logging.DEBUG if quiet else logging.INFO, "audit %s", line)
            if self._path is None or decision is _Decision.DROP:
                return
            if decision is _Decision.NOTICE:
                line = _json_line(
                    {
                        **entry,
                        "event": "audit_suppressed",
                        "user": None,
                        "route": None,
                        "reason": (
                            f"more than {FILE_BURST} {event} events from this client within "
                            f"{FILE_WINDOW_SECONDS:g} seconds; the rest go to the console only"
                        ),
                    }
                )
            try:
                _append(self._path, line)
            except OSError:
                console.exception("cannot write the audit log %s", self._path)

    def _admit(self, event: str, client: str | None) -> _Decision:
        """Whether this event goes to the file (always, unless a client floods it)."""
        if event not in FLOODABLE_EVENTS:
            return _Decision.WRITE
        key = (event, client or "")
        now = self._clock()
        start, count = self._windows.get(key, (now, 0))
        if now - start >= FILE_WINDOW_SECONDS:
            start, count = now, 0
        count += 1
        self._windows[key] = (start, count)
        self._windows.move_to_end(key)
        while len(self._windows) > MAX_TRACKED_CLIENTS:
            self._windows.popitem(last=False)
        if count <= FILE_BURST:
            return _Decision.WRITE
        return _Decision.NOTICE if count == FILE_BURST + 1 else _Decision.DROP


def _append(path: Path, line: str) -> None:
    """Append one line to ``path``, creating it owner-only (0600) whatever the umask."""
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    with os.fdopen(descriptor, "a", encoding="utf-8") as stream:
        if os.fstat(descriptor).st_mode & 0o777 != FILE_MODE:
            with contextlib.suppress(OSError):  # a file left by an older version
                os.fchmod(descriptor, FILE_MODE)
        stream.write(line + "\n")


def _json_line(entry: dict[str, str | None]) -> str:
    return json.dumps(entry, ensure_ascii=True, separators=(",", ":"))
