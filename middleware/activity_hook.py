"""Note each use of a session or API key in ``core.activity``: O(1), no I/O, no thread.

Called by the middleware once a request is authorised. The client address and the device
description are worked out only when the table's entry is older than its resolution, so a
client sending a burst pays for them once every few seconds.
"""

from __future__ import annotations

import time

from aiohttp import hdrs, web

from ..core.activity import describe_device, session_entry, sign_in_entry
from ..core.auth_file import lookup_key
from ..core.identity import Identity
from .client_view import client_view
from .runtime import AuthRuntime


def note_use(runtime: AuthRuntime, request: web.Request, identity: Identity) -> None:
    """Record that ``identity``'s session and/or key is in use now."""
    entries = identity.activity_entries
    if not entries:
        return
    now = time.time()
    activity = runtime.activity
    client = None  # worked out at the first entry due: most requests note nothing
    for entry in entries:
        if activity.due(entry, now):
            client = client or _client(runtime, request)
            activity.note(entry, now, *client)


def note_sign_in(runtime: AuthRuntime, request: web.Request, identity: Identity) -> None:
    """A sign-in at the login form: the user's "last sign-in" and the new session's use."""
    now = time.time()
    address, device = _client(runtime, request)
    runtime.activity.note(sign_in_entry(lookup_key(identity.name)), now, address, device)
    if identity.session_id_hash is not None:
        runtime.activity.note(session_entry(identity.session_id_hash), now, address, device)


def _client(runtime: AuthRuntime, request: web.Request) -> tuple[str, str]:
    address = client_view(request, runtime.settings.trusted_proxies).address
    return address, describe_device(request.headers.get(hdrs.USER_AGENT, ""))
