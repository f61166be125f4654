"""The host modules a custom node imports, registered in ``sys.modules`` before it loads.

Inside ComfyUI a custom node writes ``import server`` / ``import folder_paths`` /
``from comfy.cli_args import args`` and gets ComfyUI's own modules. Here the same imports
get small modules that point at the host double: ``server.PromptServer`` is the
``HostDouble`` class (so ``server.PromptServer.instance`` is the live double) and every
``folder_paths`` directory is under the double's base directory.
"""

from __future__ import annotations

import os
import sys
import types
from argparse import Namespace
from pathlib import Path

from .folders import SYSTEM_USER_PREFIX
from .host_double import HostDouble


def server_module() -> types.ModuleType:
    module = types.ModuleType("server", "Stand-in for ComfyUI's server.py (devhost).")
    module.PromptServer = HostDouble  # type: ignore[attr-defined]
    return module


def folder_paths_module(host: HostDouble) -> types.ModuleType:
    """``folder_paths`` with ComfyUI's function names, answering for ``host``'s folders."""
    folders = host.folders
    module = types.ModuleType("folder_paths", "Stand-in for ComfyUI's folder_paths (devhost).")
    namespace = vars(module)
    namespace.update(
        SYSTEM_USER_PREFIX=SYSTEM_USER_PREFIX,
        base_path=str(folders.base),
        models_dir=str(folders.models),
        folder_names_and_paths={
            name: ([str(p) for p in paths], set())
            for name, paths in folders.model_folders().items()
        },
        get_user_directory=lambda: str(folders.user),
        get_output_directory=lambda: str(folders.output),
        get_input_directory=lambda: str(folders.input),
        get_temp_directory=lambda: str(folders.temp),
        get_system_user_directory=lambda name="system": str(folders.system_user(name)),
        get_public_user_directory=lambda user_id: _optional_str(folders.public_user(user_id)),
        get_directory_by_type=lambda type_name: _optional_str(folders.by_type(type_name)),
        get_folder_paths=lambda name: [str(p) for p in folders.model_folders().get(name, [])],
        get_filename_list=lambda name: folders.model_files(name) or [],
        annotated_filepath=lambda name: _annotated(host, name),
        get_save_image_path=_save_image_path,
        filter_files_content_types=lambda files, content_types: list(files),
    )
    return module


def _save_image_path(
    filename_prefix: str, output_dir: str, image_width: int = 0, image_height: int = 0
) -> tuple[str, str, int, str, str]:
    """ComfyUI's naming contract: ``(folder, name, counter, subfolder, prefix)``."""
    normalised = os.path.normpath(filename_prefix)
    subfolder, filename = os.path.dirname(normalised), os.path.basename(normalised)
    folder = os.path.join(output_dir, subfolder)
    if os.path.commonpath((output_dir, os.path.abspath(folder))) != output_dir:
        raise ValueError("Saving image outside the output folder is not allowed.")
    os.makedirs(folder, exist_ok=True)
    counter = 1 + sum(1 for name in os.listdir(folder) if name.startswith(filename + "_"))
    return folder, filename, counter, subfolder, filename_prefix


def _optional_str(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _annotated(host: HostDouble, name: str) -> tuple[str, str | None]:
    filename, directory = host.folders.annotated(name)
    return filename, _optional_str(directory)


def cli_args_module(host: HostDouble) -> types.ModuleType:
    """``comfy.cli_args`` with the few ``args`` a custom node reads (listen, port, ...)."""
    module = types.ModuleType("comfy.cli_args", "Stand-in for ComfyUI's comfy/cli_args.py.")
    module.args = Namespace(  # type: ignore[attr-defined]
        listen="127.0.0.1",
        port=host.port,
        multi_user=host.user_manager.multi_user,
        tls_keyfile=None,
        tls_certfile=None,
        enable_cors_header=None,
        max_upload_size=100,
        base_directory=str(host.folders.base),
        cpu=True,
    )
    return module


def register_host_modules(host: HostDouble) -> None:
    """Install ``server``, ``folder_paths`` and ``comfy.cli_args`` for ``host``."""
    comfy = types.ModuleType("comfy", "Stand-in for ComfyUI's comfy package (devhost).")
    comfy.__path__ = []
    sys.modules["comfy"] = comfy
    cli_args = cli_args_module(host)
    comfy.cli_args = cli_args  # type: ignore[attr-defined]
    sys.modules["comfy.cli_args"] = cli_args
    sys.modules["server"] = server_module()
    sys.modules["folder_paths"] = folder_paths_module(host)
