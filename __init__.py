"""comfyui-auth: authentication for every route of a ComfyUI server.

ComfyUI imports this folder at start-up, after building its ``PromptServer`` and before
registering its routes. This file is the only one with side effects: it puts the
authentication middleware at the front of the server's app. If anything goes wrong on the
way, the server is closed (503 on every route) instead of being left open.
"""

from __future__ import annotations

import logging

from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

WEB_DIRECTORY = "./js"
__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]

logger = logging.getLogger("comfyui_auth")


def _protect_host() -> None:
    try:
        import server  # type: ignore[import-not-found]  # ComfyUI's; absent elsewhere

        app = server.PromptServer.instance.app
    except (ImportError, AttributeError):
        logger.debug("comfyui-auth: not running inside ComfyUI, nothing to protect")
        return
    try:
        from .middleware.install import install_on_host

        install_on_host()
    except Exception as error:  # noqa: BLE001 - any failure must close the server
        from .middleware.fail_closed import close_host

        close_host(app, error)


_protect_host()
