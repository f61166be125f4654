"""What a ComfyUI that has been used once has and a fresh one lacks, so boot logs stay clean.

Against a fresh ComfyUI 0.8.0 the 1.35.9 frontend gets five 404s while it boots (measured
with Playwright): ``/user.css``, ``/api/userdata/user.css``, ``/api/userdata?dir=workflows``,
``/api/userdata?dir=subgraphs`` and ``/api/userdata/comfy.templates.json``. It handles them,
but a browser test that asserts "no request failed" (the signal that an auth layer broke
nothing) cannot tell those from a real failure. The double therefore starts like a ComfyUI
that has been used: the default user's folders and files exist, the first-run templates
dialog has been dismissed (so the default graph is drawn), ``/user.css`` answers the default
user's stylesheet (ComfyUI has no such route) and ``/templates/index.json`` answers an empty
template list (ComfyUI serves it from the ``comfyui-workflow-templates`` package).
"""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp import web

SEEDED_SETTINGS = {"Comfy.TutorialCompleted": True}


def seed_default_user(user_root: Path) -> None:
    """Create what the frontend reads at boot, leaving existing files alone."""
    for folder in ("workflows", "subgraphs"):
        (user_root / folder).mkdir(parents=True, exist_ok=True)
    files = {
        "user.css": "/* devhost: the default user's stylesheet */\n",
        "comfy.templates.json": "[]",
        "comfy.settings.json": json.dumps(SEEDED_SETTINGS, indent=4),
    }
    for name, content in files.items():
        if not (user_root / name).exists():
            (user_root / name).write_text(content, encoding="utf-8")


def add_asset_routes(app: web.Application, user_root: Path) -> None:
    """``/user.css`` and ``/templates/...`` on the app itself (no ``/api`` twin), before ``/``."""

    async def user_css(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(user_root / "user.css", headers={"Content-Type": "text/css"})

    async def templates(request: web.Request) -> web.StreamResponse:
        if request.match_info["path"] != "index.json":
            raise web.HTTPNotFound()
        return web.json_response([])

    app.router.add_get("/user.css", user_css)
    app.router.add_get("/templates/{path:.*}", templates)
