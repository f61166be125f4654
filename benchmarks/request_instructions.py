"""Instructions per request, counted by valgrind: the one measure this noisy machine keeps.

Wall-clock and CPU-time figures move by a third between runs here (two shared cores); the
number of instructions a request executes does not. Each variant runs in its own Python
under ``valgrind --tool=callgrind`` twice, with ``WARM`` and ``WARM + COUNT`` requests, and
the difference divided by ``COUNT`` is what one request costs, start-up excluded:

- ``bare``: a bare aiohttp app with ComfyUI's ``GET /api/prompt`` answer;
- the same route behind comfyui-auth (the test host, ``tests/minimal_host``), with an API
  key (``Authorization: Bearer``, ``X-API-Key``) and with a session cookie.

Requests go through the app's real ``_handle`` and ``prepare`` (middleware, router,
``on_response_prepare``) with a no-op transport, so the socket and HTTP parsing, which cost
the same with and without the package, are left out: the ratios here are upper bounds of
what a real server pays. Needs ``valgrind`` (Debian's); takes a few minutes.

    .venv/bin/python benchmarks/request_instructions.py [--count 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import conftest  # noqa: F401 - registers the package as comfyui_auth

KEY = "benchmark-key-0123456789abcdef"
PASSWORD = "benchmark-password-1"  # noqa: S105 - a throw-away account in a temporary folder
WARM = 200
VARIANTS = ("bare", "Authorization: Bearer", "X-API-Key", "session cookie")


class _Writer:
    """The payload writer of a connection that sends nothing."""

    buffer_size = 0
    output_size = 0
    length = None

    async def write_headers(self, status_line: str, headers: Any) -> None:
        return None

    def send_headers(self) -> None:
        return None

    def set_eof(self) -> None:
        return None

    async def write(self, chunk: bytes, *args: Any, **kwargs: Any) -> None:
        return None

    async def write_eof(self, chunk: bytes = b"") -> None:
        return None

    async def drain(self) -> None:
        return None

    def enable_compression(self, *args: Any, **kwargs: Any) -> None:
        return None

    def enable_chunking(self) -> None:
        return None


class _Transport:
    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8188)}.get(
            name, default
        )

    def is_closing(self) -> bool:
        return False


class _Protocol:
    def __init__(self) -> None:
        self.transport = _Transport()

    def __getattr__(self, name: str) -> None:
        return None


async def _prompt(request: web.Request) -> web.Response:
    return web.json_response({"exec_info": {"queue_remaining": 0}})


async def _app_and_headers(variant: str, folder: Path) -> tuple[web.Application, dict[str, str]]:
    if variant == "bare":
        app = web.Application()
        app.router.add_get("/api/prompt", _prompt)
        return app, {}
    from comfyui_auth.core.identity import Identity, Role, Via
    from comfyui_auth.tests.minimal_host import build_minimal_host

    auth_file = folder / "auth.json"
    auth_file.write_text(json.dumps([{"user": "bench", "pass": PASSWORD}]))
    host = build_minimal_host(folder, {"COMFYUI_API_KEY": KEY, "COMFYUI_AUTH_FILE": str(auth_file)})
    host.runtime.routes.classify(host.app)
    if variant == "session cookie":
        identity = Identity("bench", Role.USER, Via.SESSION)
        session = await host.runtime.authenticator.start_session(identity, remember=False)
        cookie = host.runtime.cookies.sign(session.session_id)
        return host.app, {"Cookie": f"comfyui_auth_session={cookie}"}
    if variant == "X-API-Key":
        return host.app, {"X-API-Key": KEY}
    return host.app, {"Authorization": f"Bearer {KEY}"}


async def _serve(variant: str, count: int) -> None:
    """The child: ``WARM + count`` requests of one variant, each answered 200."""
    with tempfile.TemporaryDirectory() as folder:
        app, headers = await _app_and_headers(variant, Path(folder))
        app.freeze()
        template = make_mocked_request(
            "GET",
            "/api/prompt",
            headers=headers,
            app=app,
            writer=_Writer(),
            protocol=_Protocol(),
            transport=_Transport(),
        )
        for _ in range(WARM + count):
            request = template.clone()
            response = await app._handle(request)
            if response.status != 200:
                raise SystemExit(f"{variant}: answered {response.status}")
            await response.prepare(request)
            await response.write_eof()


def _instructions(valgrind: str, variant: str, count: int) -> int:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        run = subprocess.run(  # noqa: S603 - our own interpreter and script
            [
                valgrind,
                "--tool=callgrind",
                "--cache-sim=no",
                f"--callgrind-out-file={out}",
                sys.executable,
                __file__,
                "--child",
                variant,
                str(count),
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
    found = re.search(r"Collected : (\d+)", run.stderr)
    if run.returncode != 0 or found is None:
        raise SystemExit(f"{variant} under valgrind failed:\n{run.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(_serve(args.child[0], int(args.child[1])))
        return
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        sys.exit("benchmark: needs valgrind (apt-get install valgrind)")
    runs = [(variant, n) for variant in VARIANTS for n in (0, args.count)]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        counted = pool.map(lambda run: _instructions(valgrind, *run), runs)
        totals = dict(zip(runs, counted, strict=True))
    per_request = {v: (totals[v, args.count] - totals[v, 0]) / args.count for v in VARIANTS}
    print_instructions(
        f"instructions per GET /api/prompt ({args.count} requests after {WARM}, callgrind)",
        per_request,
        "bare",
    )


def print_instructions(title: str, per_request: dict[str, float], baseline: str) -> None:
    """A Markdown table of instructions per request, each against ``baseline``'s."""
    bare = per_request[baseline]
    print(title)
    print("| variant | instructions | bare / variant | added |")
    print("|---|---|---|---|")
    for variant, cost in per_request.items():
        print(f"| {variant} | {cost:,.0f} | {bare / cost:.3f} | {cost - bare:+,.0f} |")


if __name__ == "__main__":
    main()
