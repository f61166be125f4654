"""A host double: a small server shaped like ComfyUI 0.8.0's ``PromptServer``.

It builds its app and registers routes the way ComfyUI does (each ``/x`` also as ``/api/x``,
an ``/internal`` sub-app, custom nodes' web directories, the frontend's static files last),
answers every call the real ``comfyui-frontend-package`` makes while it boots, and imports
custom nodes exactly as ``nodes.load_custom_node`` does. The tests and the demo command
(``python -m devhost``) run comfyui-auth inside it; ``tests/test_real_comfyui.py`` checks
the same behaviour against a real ComfyUI.

Typical use::

    host = start_host(tmp_path, [REPO_ROOT])   # PromptServer built, nodes imported, routes added
    client = await aiohttp_client(host.app)
"""

from __future__ import annotations

from .executor import execute_pending
from .host_double import HostDouble
from .loader import load_custom_node, start_host

__all__ = ["HostDouble", "execute_pending", "load_custom_node", "start_host"]
