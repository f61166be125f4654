"""No one's events on another's socket: ComfyUI's broadcasts go to the prompt's owner.

ComfyUI sends a prompt's progress to the socket of its ``client_id``, but several messages
go to every socket (``sid=None``): progress text of API nodes and ``GetImageSize``,
``execution_interrupted``, ``progress_state``, previews of a prompt without a client, asset
scanner events. The package wraps ``PromptServer.send_sync`` (every such message passes
through it, from any thread) and decides, when the message is put on ComfyUI's queue:

- ``status`` (queue length) stays a broadcast;
- a message that names a prompt (``prompt_id``), and a binary message (previews, progress
  text) sent by the worker while it runs a prompt, goes to the sockets of that prompt's
  owner only;
- asset events (file names of every user) go to nobody;
- anything else (a custom node's system monitor, say) concerns no prompt and stays a
  broadcast.
"""

from __future__ import annotations

import threading
from typing import Any

from .runtime import AuthRuntime

GLOBAL_EVENTS = frozenset({"status"})
PER_USER_PREFIXES = ("assets.", "asset_")


def install_event_routing(runtime: AuthRuntime) -> None:
    """Wrap the host's ``send_sync`` (a no-op for a host without one)."""
    server = runtime.host.prompt_server
    original = getattr(server, "send_sync", None)
    if server is None or original is None:
        return
    loop_thread = threading.get_ident()

    def send_sync(event: Any, data: Any, sid: str | None = None) -> None:
        if sid is not None or event in GLOBAL_EVENTS:
            original(event, data, sid)
            return
        for target in recipients(event, data):
            original(event, data, target)

    def recipients(event: Any, data: Any) -> list[str | None]:
        if isinstance(event, str) and event.startswith(PER_USER_PREFIXES):
            return []
        prompt_id = data.get("prompt_id") if isinstance(data, dict) else None
        if prompt_id is None and not isinstance(event, str) and not on_loop_thread():
            prompt_id = getattr(server, "last_prompt_id", None)  # the worker's running prompt
        if prompt_id is None:
            return [None]
        owner = runtime.prompt_owners.owner(str(prompt_id))
        sockets = getattr(server, "sockets", {})
        return [sid for sid in list(sockets) if owner and runtime.client_ids.owner(sid) == owner]

    def on_loop_thread() -> bool:
        return threading.get_ident() == loop_thread

    send_sync.__wrapped__ = original  # type: ignore[attr-defined]
    server.send_sync = send_sync
