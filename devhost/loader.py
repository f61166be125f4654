"""Start-up in ComfyUI's order: build the server, import the custom nodes, add the routes.

``load_custom_node`` follows ComfyUI 0.8.0's ``nodes.load_custom_node`` for a folder: the
module is named after the folder's full path with dots replaced (``"/x/my.node"`` becomes
``"/x/my_x_node"``), put in ``sys.modules`` before ``exec_module`` (so relative imports work
even when the folder name has a hyphen), and its ``WEB_DIRECTORY``, when it is a directory,
is served at ``/extensions/<folder name>/``. As in ComfyUI, an exception raised while a
custom node imports is logged and the folder skipped: the server starts without it.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
from pathlib import Path
from types import ModuleType

from aiohttp import web

from .executor import worker_context
from .fake_modules import register_host_modules
from .host_double import HostDouble

logger = logging.getLogger("devhost")


def module_name_for(folder: Path) -> str:
    """ComfyUI's ``sys_module_name`` for a custom-node directory."""
    return str(folder).replace(".", "_x_")


def forget_module(name: str) -> None:
    """Drop a previous import of the same folder (each ComfyUI process imports it once)."""
    for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[loaded]


def load_custom_node(path: Path, host: HostDouble | None = None) -> ModuleType:
    """Import the custom-node folder ``path`` as ComfyUI does; exceptions propagate."""
    host = host or HostDouble.instance
    folder = path.resolve()
    name = module_name_for(folder)
    forget_module(name)
    spec = importlib.util.spec_from_file_location(name, folder / "__init__.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"{folder} has no __init__.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    _register_pyproject_web_dir(folder, host)
    web_directory = getattr(module, "WEB_DIRECTORY", None)
    if web_directory is not None and (folder / web_directory).is_dir():
        host.extension_dirs[folder.name] = (folder / web_directory).resolve()
    return module


def _register_pyproject_web_dir(folder: Path, host: HostDouble) -> None:
    """ComfyUI also serves ``[tool.comfy] web = "dir"`` under the project's name."""
    try:
        toml = importlib.import_module("tomllib")  # Python 3.11+; skipped on 3.10
        config = toml.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))
    except (ImportError, OSError, ValueError):
        return
    web_dir = config.get("tool", {}).get("comfy", {}).get("web")
    project = config.get("project", {}).get("name")
    if web_dir and project and (folder / web_dir).is_dir():
        host.extension_dirs[project] = (folder / web_dir).resolve()


def start_host(
    base_dir: Path,
    custom_nodes: list[Path],
    *,
    port: int = 8188,
    multi_user: bool = False,
    run_prompts: bool = False,
) -> HostDouble:
    """Build the double, import ``custom_nodes`` into it, register its routes; not started.

    ``port`` is what ``comfy.cli_args.args.port`` reports (links a custom node prints).
    ``run_prompts`` adds a background worker that "executes" queued prompts while the app
    runs; without it, prompts stay queued until a test calls ``execute_pending(host)``.
    A custom node that raised while importing is in ``host.import_failures``.
    """
    host = HostDouble(base_dir, multi_user=multi_user, port=port)
    register_host_modules(host)
    for folder in custom_nodes:
        try:
            load_custom_node(folder, host)
        except Exception as error:  # ComfyUI logs it and starts without it
            logger.exception("Cannot import %s module for custom nodes", folder)
            host.import_failures[str(folder)] = error
    host.add_routes()
    if run_prompts:
        host.app.cleanup_ctx.append(worker_context(host))
    return host


def serve_forever(host: HostDouble, address: str = "127.0.0.1") -> None:
    """``web.run_app`` on ``host.port``: the demo's entry point."""
    web.run_app(host.app, host=address, port=host.port, print=None, access_log=None)
