"""Test-wide setup: make the repository importable as the package ``comfyui_auth``.

ComfyUI imports a custom node by file location under its folder name, which may contain a
hyphen. Tests need a stable dotted name, so the repository root is registered as the package
``comfyui_auth`` *without* running its ``__init__.py`` (that file holds the side effects that
install the package on a live host; tests that exercise it load it explicitly).
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_NAME = "comfyui_auth"


def _register_package() -> None:
    if PACKAGE_NAME in sys.modules:
        return
    package = types.ModuleType(PACKAGE_NAME)
    package.__path__ = [str(REPO_ROOT)]
    package.__file__ = None
    sys.modules[PACKAGE_NAME] = package


_register_package()

# Fixtures: the host double (tests/fixtures_host.py), a real ComfyUI (tests/comfyui_harness.py)
# and a real redis-server on loopback (tests/redis_server.py).
pytest_plugins = [
    "comfyui_auth.tests.fixtures_host",
    "comfyui_auth.tests.comfyui_harness",
    "comfyui_auth.tests.comfyui_users",
    "comfyui_auth.tests.redis_server",
    "comfyui_auth.tests.browser_support",
]
