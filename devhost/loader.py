"""Load custom nodes the way ComfyUI 0.8.0's ``nodes.load_custom_node`` does.

Before loading, the host modules a custom node imports (``server``, ``folder_paths``) are
registered so that ``server.PromptServer.instance`` is the live host double.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

from .host_double import HostDouble


def register_host_modules(host: HostDouble, port: int) -> None:
    server = types.ModuleType("server")
    server.PromptServer = HostDouble  # type: ignore[attr-defined]
    folder_paths = types.ModuleType("folder_paths")
    folder_paths.SYSTEM_USER_PREFIX = "__"  # type: ignore[attr-defined]
    folder_paths.get_user_directory = lambda: str(host.user_dir)  # type: ignore[attr-defined]
    folder_paths.get_output_directory = lambda: str(host.output_dir)  # type: ignore[attr-defined]
    folder_paths.get_input_directory = lambda: str(host.input_dir)  # type: ignore[attr-defined]
    folder_paths.get_system_user_directory = (  # type: ignore[attr-defined]
        lambda name="system": str(host.user_dir / f"__{name}")
    )
    cli_args = types.ModuleType("comfy.cli_args")
    cli_args.args = types.SimpleNamespace(listen="127.0.0.1", port=port)  # type: ignore[attr-defined]
    sys.modules["server"] = server
    sys.modules["folder_paths"] = folder_paths
    sys.modules.setdefault("comfy", types.ModuleType("comfy"))
    sys.modules["comfy.cli_args"] = cli_args


def load_custom_node(host: HostDouble, folder: Path) -> types.ModuleType:
    """Import ``folder/__init__.py`` under a module name derived from its path, like ComfyUI."""
    module_name = str(folder).replace(".", "_x_")
    spec = importlib.util.spec_from_file_location(module_name, folder / "__init__.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load custom node {folder}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    web_directory = getattr(module, "WEB_DIRECTORY", None)
    if web_directory is not None and (folder / web_directory).is_dir():
        host.extension_dirs[folder.name] = (folder / web_directory).resolve()
    return module


def start_host(base_dir: Path, custom_nodes: list[Path], port: int = 8188) -> HostDouble:
    """ComfyUI's start-up order: server built, custom nodes imported, then ``add_routes``."""
    host = HostDouble(base_dir)
    register_host_modules(host, port)
    for folder in custom_nodes:
        load_custom_node(host, folder)
    host.add_routes()
    return host
