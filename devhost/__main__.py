"""``python -m devhost``: the real ComfyUI frontend behind comfyui-auth, without ComfyUI.

Serves on 127.0.0.1 only. With no user configured, comfyui-auth prints a one-time link that
creates the first administrator; setting COMFYUI_API_KEY lets you sign in with that key.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from .loader import serve_forever, start_host

REPO_ROOT = Path(__file__).resolve().parent.parent


class _LogToHost(logging.Handler):
    """Copies every log line into ``/internal/logs``, as ComfyUI's console log does."""

    def __init__(self, sink: Callable[[str], None]) -> None:
        super().__init__()
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink(self.format(record))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    parser.add_argument("--port", type=int, default=8188)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--base-dir",
        type=Path,
        default=Path(".devhost-data"),
        help="user/, input/, output/ live here (default ./.devhost-data)",
    )
    parser.add_argument("--multi-user", action="store_true", help="ComfyUI's --multi-user")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    arguments = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    base_dir = arguments.base_dir.resolve()
    host = start_host(
        base_dir,
        [REPO_ROOT],
        port=arguments.port,
        multi_user=arguments.multi_user,
        run_prompts=True,
    )
    logging.getLogger().addHandler(_LogToHost(host.log))
    for folder, error in host.import_failures.items():
        print(f"!! {folder} failed to import: {error!r}", file=sys.stderr)
    url = f"http://{arguments.host}:{arguments.port}/"
    print(  # the demo's console output
        f"\ndevhost: the ComfyUI frontend with comfyui-auth at {url}\n"
        f"  data (users, sessions, outputs): {base_dir}\n"
        "  sign in: the one-time setup link printed above (first run), a user from\n"
        "  auth.json, or an API key: start with COMFYUI_API_KEY=<key>, then choose\n"
        "  'Use an API key instead' on the login page, or send 'Authorization: Bearer <key>'.\n",
        flush=True,
    )
    serve_forever(host, arguments.host)


if __name__ == "__main__":
    main()
