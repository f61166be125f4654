"""Fixtures around the host double (``devhost``), loaded from ``conftest.py`` as a plugin.

``make_host`` builds a double the way ComfyUI starts (server, custom nodes, routes) and puts
back afterwards what ``start_host`` changes process-wide: the ``server``, ``folder_paths``
and ``comfy`` modules and the imported custom-node modules, so one test's host never
leaks into the next. ``throwaway_node`` is a tiny custom node in a folder whose name has a
dot and a hyphen, the awkward case for ComfyUI's path-derived module names.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from comfyui_auth.devhost.host_double import HostDouble
from comfyui_auth.devhost.loader import module_name_for, start_host

HOST_MODULES = ("server", "folder_paths", "comfy", "comfy.cli_args")
THROWAWAY_NODE = '''
"""A throwaway custom node: a middleware at the front, a web directory, host lookups."""
import folder_paths
import server
from aiohttp import web

from .marker import MARK

seen = {
    "instance": server.PromptServer.instance,
    "system_dir": folder_paths.get_system_user_directory("throwaway"),
    "middlewares_before": list(server.PromptServer.instance.app.middlewares),
}


@web.middleware
async def mark(request, handler):
    response = await handler(request)
    response.headers["X-Throwaway"] = MARK
    return response


server.PromptServer.instance.app.middlewares.insert(0, mark)
WEB_DIRECTORY = "./js"
NODE_CLASS_MAPPINGS = {}
'''
THROWAWAY_JS = """import { app } from "../../scripts/app.js";
app.registerExtension({ name: "devhost.throwaway", setup() { window.__throwaway = true; } });
"""

MakeHost = Callable[..., HostDouble]


@pytest.fixture
def throwaway_node(tmp_path: Path) -> Path:
    """``<tmp>/custom_nodes/my.throwaway-node``: relative import, middleware, ``js/``."""
    folder = tmp_path / "custom_nodes" / "my.throwaway-node"
    (folder / "js").mkdir(parents=True)
    (folder / "__init__.py").write_text(THROWAWAY_NODE, encoding="utf-8")
    (folder / "marker.py").write_text('MARK = "throwaway"\n', encoding="utf-8")
    (folder / "js" / "throwaway.js").write_text(THROWAWAY_JS, encoding="utf-8")
    return folder


@pytest.fixture
def make_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterable[MakeHost]:
    """``make_host(custom_nodes=(), **start_host_options)`` → a double, not yet serving."""
    loaded: list[str] = []

    def make(custom_nodes: Iterable[Path] = (), **options: Any) -> HostDouble:
        for name in HOST_MODULES:
            monkeypatch.setitem(sys.modules, name, sys.modules.get(name))
        nodes = [Path(folder) for folder in custom_nodes]
        loaded.extend(module_name_for(folder.resolve()) for folder in nodes)
        return start_host(tmp_path / "host", nodes, **options)

    yield make
    for name in loaded:
        for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[module]
