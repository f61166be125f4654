"""The one small adapter between this package and ComfyUI's ``PromptServer``.

Everything else receives a ``HostAdapter`` and never imports ComfyUI, so the package loads
and is tested without it. ``from_prompt_server`` is the only place that imports the host.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

PromptHandler = Callable[[Any], Any]


@dataclass(frozen=True)
class HostAdapter:
    """What the package needs from its host: the app, the frontend, users and the queue."""

    app: web.Application
    web_root: Path
    user_dir: Path
    prompt_queue: Any
    base_url: str = "http://127.0.0.1:8188"
    user_manager: Any | None = None
    cors_origin: str | None = None
    """ComfyUI's ``--enable-cors-header`` value: cross-origin API clients are expected."""
    add_on_prompt_handler: Callable[[PromptHandler], None] | None = None
    """``PromptServer.add_on_prompt_handler``: sees each queued prompt's JSON first."""
    prompt_server: Any | None = None
    """``PromptServer.instance``: its ``send_sync`` (events) and ``last_prompt_id``."""
    folder_paths: Any | None = None
    """ComfyUI's ``folder_paths`` module: input, output, temp and user directories."""
    core_dir: Path | None = None
    """ComfyUI's own source folder: a handler defined under it (outside ``custom_nodes``)
    is a core route, closed to users unless the package knows it."""

    def queue_counts(self) -> tuple[int, int]:
        """``(pending, running)`` from the host's prompt queue."""
        running, pending = self.prompt_queue.get_current_queue_volatile()
        return len(pending), len(running)

    @classmethod
    def from_prompt_server(cls) -> HostAdapter:
        """Reach the running ComfyUI (or a host double that registered the same modules)."""
        server = importlib.import_module("server")
        folder_paths = importlib.import_module("folder_paths")
        instance = server.PromptServer.instance
        args = _cli_args()
        return cls(
            app=instance.app,
            web_root=Path(instance.web_root),
            user_dir=Path(folder_paths.get_user_directory()),
            prompt_queue=instance.prompt_queue,
            base_url=_listen_url(args),
            user_manager=getattr(instance, "user_manager", None),
            cors_origin=getattr(args, "enable_cors_header", None) or None,
            add_on_prompt_handler=getattr(instance, "add_on_prompt_handler", None),
            prompt_server=instance,
            folder_paths=folder_paths,
            core_dir=_core_dir(server),
        )


def _core_dir(server: Any) -> Path | None:
    """The folder of ComfyUI's ``server.py`` (None for a host double without a file)."""
    source = getattr(server, "__file__", None)
    return Path(source).resolve().parent if source else None


def _cli_args() -> Any | None:
    """ComfyUI's parsed command line, or None in a host without ``comfy.cli_args``."""
    try:
        return importlib.import_module("comfy.cli_args").args
    except (ImportError, AttributeError):
        return None


def _listen_url(args: Any | None) -> str:
    """Where a person on this machine reaches the server, from ComfyUI's --listen/--port."""
    if args is None:
        return "http://127.0.0.1:8188"
    address = str(getattr(args, "listen", "127.0.0.1")).split(",")[0].strip()
    if address in ("", "0.0.0.0", "::"):  # noqa: S104 - reading, not binding
        address = "127.0.0.1"
    if ":" in address:
        address = f"[{address}]"
    scheme = "https" if getattr(args, "tls_keyfile", None) else "http"
    return f"{scheme}://{address}:{getattr(args, 'port', 8188)}"
