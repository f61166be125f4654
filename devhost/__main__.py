"""``python -m devhost``: the real ComfyUI frontend behind comfyui-auth, without ComfyUI.

Serves on 127.0.0.1 only. With no user configured, comfyui-auth prints a one-time link that
creates the first administrator; set COMFYUI_API_KEY to sign in with a key instead.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from aiohttp import web

from .loader import start_host

REPO_ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    parser.add_argument("--port", type=int, default=8188)
    parser.add_argument("--base-dir", type=Path, default=REPO_ROOT / ".devhost-data")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    host = start_host(arguments.base_dir.resolve(), [REPO_ROOT], arguments.port)
    print(
        f"\nDemo ComfyUI host with comfyui-auth: http://127.0.0.1:{arguments.port}/\n"
        f"Data (users, sessions, outputs) lives in {arguments.base_dir}\n"
        "Sign in with the setup link above (first run), a user from auth.json, "
        "or COMFYUI_API_KEY.\n",
        flush=True,
    )
    web.run_app(host.app, host="127.0.0.1", port=arguments.port, print=None)


if __name__ == "__main__":
    main()
