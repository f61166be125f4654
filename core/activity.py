"""When and from where each session and API key was last used, and each user last signed in.

The request path only writes a dictionary entry (``note``), and only when the one it holds
is older than ``RESOLUTION`` seconds, so a busy client costs a lookup and a comparison. The
table reaches the disk at most once per ``FLUSH_SECONDS`` (the credential watcher calls
``flush_if_due`` in a worker thread), as one small JSON file in the state directory (mode
0600, atomic): a restart keeps "last used", and no request ever waits for a write.

With several instances each keeps its own table: an answer shows what the instance that
answers has seen.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from .state_files import write_private_file

RESOLUTION = 5.0
"""Seconds within which a second use of the same credential is not noted again."""
FLUSH_SECONDS = 60.0
LIMIT = 10_000
"""Entries kept on disk (the most recent); sessions come and go, so old ones fall off."""
_DEVICES = (
    ("Edg/", "Edge"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
    ("python-requests/", "Python requests"),
    ("aiohttp/", "Python aiohttp"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)
_PRINTABLE = re.compile(r"[^\x20-\x7e]")


@dataclass(frozen=True)
class Seen:
    """One credential's last use: when (epoch seconds), the client address, the device."""

    at: float
    address: str
    device: str


def session_entry(id_hash: str) -> str:
    return "s:" + id_hash


def key_entry(key_id: str) -> str:
    return "k:" + key_id


def sign_in_entry(lookup: str) -> str:
    """``lookup`` is ``auth_file.lookup_key`` of the user's name."""
    return "u:" + lookup


def describe_device(user_agent: str) -> str:
    """A short, printable description such as "Firefox on Linux" (never the whole header)."""
    program = next((name for mark, name in _DEVICES if mark in user_agent), "")
    system = next((name for mark, name in _SYSTEMS if mark in user_agent), "")
    if program and system:
        return f"{program} on {system}"
    if program or system:
        return program or system
    return _PRINTABLE.sub("?", user_agent.split(" ", 1)[0])[:40] or "unknown"


class Activity:
    """The table, its file, and when it was last written."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._seen: dict[str, Seen] = {}
        self._dirty = False
        self._flushed_at = 0.0
        self._writing = threading.Lock()

    def load(self) -> None:
        """Read what an earlier run wrote; a missing or damaged file just starts empty."""
        if self._path is None:
            return
        try:
            document = json.loads(self._path.read_bytes())
            loaded = {
                str(entry): Seen(float(at), str(address), str(device))
                for entry, (at, address, device) in document.items()
            }
        except (OSError, ValueError, TypeError, AttributeError):
            return
        self._seen = {**loaded, **self._seen}

    def due(self, entry: str, now: float) -> bool:
        """Whether a use now would change what is noted for ``entry``."""
        seen = self._seen.get(entry)
        return seen is None or now - seen.at >= RESOLUTION

    def note(self, entry: str, now: float, address: str, device: str) -> None:
        self._seen[entry] = Seen(now, address, device)
        self._dirty = True

    def get(self, entry: str) -> Seen | None:
        return self._seen.get(entry)

    def flush_due(self, now: float) -> bool:
        return self._dirty and now - self._flushed_at >= FLUSH_SECONDS

    def flush(self, now: float) -> None:
        """Write the table (the newest ``LIMIT`` entries); called off the event loop."""
        if self._path is None or not self._dirty:
            return
        with self._writing:
            self._dirty = False
            self._flushed_at = now
            # The loop keeps noting meanwhile: work on a copy (one C-level call, atomic under
            # the GIL) and only pop from the live table, never replace it.
            ordered = sorted(self._seen.copy().items(), key=lambda item: item[1].at)
            for entry, _ in ordered[:-LIMIT]:
                self._seen.pop(entry, None)
            # [at, address, device] rather than objects: the dump holds the GIL, keep it short
            document = {e: [x.at, x.address, x.device] for e, x in ordered[-LIMIT:]}
            write_private_file(self._path, json.dumps(document).encode())
