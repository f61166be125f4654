"""Instructions per request of a real ComfyUI, bare and with this package, counted by valgrind.

Wall-clock throughput on a shared two-core machine moves by a third between runs (see
``real_comfyui_throughput.py``); the number of instructions a server executes per request
does not. This starts two real ComfyUI processes from one tree (``../shared/comfyui-0.8.0``
or ``COMFYUI_DIR``) under ``valgrind --tool=callgrind`` with counting off, a bare one and one
with comfyui-auth. Once both answer, for each variant it counts (``callgrind_control``) what
the server executes while ``COUNT`` keep-alive ``GET /api/prompt`` requests arrive one after
another, minus what it executes while none do: HTTP parsing, ComfyUI's own middlewares, the
handler and the response, everything in user space. System calls (the socket) are not
counted; ``real_comfyui_throughput.py`` prints what share of the bare server's CPU time is
user time, which turns the ratio here into the throughput a CPU-bound server can reach.

    .venv/bin/python benchmarks/real_comfyui_instructions.py [--count 2000]

Needs ``valgrind`` (Debian's); a start under valgrind takes about two minutes. Bounded:
every request goes to 127.0.0.1, ``COUNT`` per variant.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import conftest  # noqa: F401 - registers the package as comfyui_auth
from real_comfyui_throughput import KEY, session_cookie, write_auth_file
from request_instructions import print_instructions

from comfyui_auth.tests import comfyui_harness
from comfyui_auth.tests.comfyui_harness import ComfyUITree, comfyui_trees, tree_python

WARM = 100
START_UNDER_VALGRIND_S = 900.0


def valgrind_python(tree: ComfyUITree, folder: Path) -> ComfyUITree:
    """The same tree, its Python started under callgrind with counting off until asked."""
    wrapper = folder / "python-under-callgrind"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"exec valgrind --tool=callgrind --instr-atstart=no --cache-sim=no \\\n"
        f'  --callgrind-out-file="{folder}/callgrind.%p" "{tree.python}" "$@"\n'
    )
    wrapper.chmod(0o755)
    return ComfyUITree(tree.directory, wrapper)


async def requests(url: str, headers: dict[str, str], count: int) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(count):
            async with http.get(url + "/api/prompt", headers=headers) as answer:
                if answer.status != 200:
                    raise SystemExit(f"{url}: answered {answer.status} with {headers.keys()}")
                await answer.read()


def counted(pid: int, url: str, headers: dict[str, str], count: int, folder: Path) -> int:
    """Instructions process ``pid`` executes while ``count`` requests arrive."""

    def control(*args: str) -> None:
        subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)  # noqa: S603, S607

    control("--zero")
    control("--instr=on")
    asyncio.run(requests(url, headers, count))
    control("--dump")
    control("--instr=off")
    dumps = sorted(folder.glob(f"callgrind.{pid}*"), key=lambda path: path.stat().st_mtime)
    for line in dumps[-1].read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise SystemExit(f"callgrind wrote no total to {dumps[-1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("benchmark: needs valgrind (apt-get install valgrind)")
    comfyui_harness.START_TIMEOUT_S = START_UNDER_VALGRIND_S
    directory = comfyui_trees()[0]
    with tempfile.TemporaryDirectory() as work_dir:
        work = Path(work_dir)
        tree = valgrind_python(ComfyUITree(directory, tree_python(directory)), work)
        env = {"COMFYUI_API_KEY": KEY, "COMFYUI_AUTH_FILE": str(write_auth_file(work))}
        plans = [(work / "bare", {}, {}), (work / "comfyui-auth", env, None)]
        with contextlib.ExitStack() as stack:
            running = []
            for base, variables, nodes in plans:
                base.mkdir()
                started = contextlib.contextmanager(comfyui_harness.start_comfyui)
                running.append(
                    stack.enter_context(started(tree, base, variables, custom_nodes=nodes))
                )
            bare, protected = running
            cookie = asyncio.run(session_cookie(protected.url))
            variants = [
                ("bare ComfyUI", bare, {}),
                ("comfyui-auth, Authorization: Bearer", protected,
                 {"Authorization": f"Bearer {KEY}"}),
                ("comfyui-auth, X-API-Key", protected, {"X-API-Key": KEY}),
                ("comfyui-auth, session cookie", protected, {"Cookie": cookie}),
            ]  # fmt: skip
            per_request = {}
            for name, server, headers in variants:
                asyncio.run(requests(server.url, headers, WARM))
                idle = counted(server.pid, server.url, headers, 0, work)
                busy = counted(server.pid, server.url, headers, args.count, work)
                per_request[name] = (busy - idle) / args.count
    print_instructions(
        f"ComfyUI {tree.version}: user-space instructions per GET /api/prompt "
        f"({args.count} keep-alive requests, callgrind)",
        per_request,
        "bare ComfyUI",
    )


if __name__ == "__main__":
    main()
