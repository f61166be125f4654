"""Instructions per request of a real ComfyUI, bare and with this package, counted by valgrind.

Wall-clock throughput on a shared two-core machine moves by a third between runs (see
``real_comfyui_throughput.py``); the number of instructions a server executes per request
moves far less. This starts two real ComfyUI processes from one tree
(``../shared/comfyui-0.8.0`` or ``COMFYUI_DIR``) under ``valgrind --tool=callgrind`` with
counting off, a bare one and one with comfyui-auth, both with the same hash seed
(``PYTHONHASHSEED=0``: dict and set layouts then repeat). Once both answer, for each variant
it counts (``callgrind_control``) what the server executes while ``COUNT`` keep-alive
``GET /api/prompt`` requests arrive on 32 connections at once (``CONNECTIONS``), minus
what it executes while none do for as long (timers and pollers run either way): HTTP
parsing, ComfyUI's own middlewares, the handler and the response, everything in user space.
It does so ``ROUNDS`` times, the variants in turn, and prints every round and, per variant,
the median of what it executes over the bare server in the same round: a round moves every
variant alike by a few thousand instructions (the allocator, the collector), so differences
are taken within a round.
System calls (the socket) are not counted; ``real_comfyui_throughput.py`` prints what share
of the bare server's CPU time is user time, which turns the ratio here into the throughput a
CPU-bound server can reach.

    .venv/bin/python benchmarks/real_comfyui_instructions.py [--count 2000] [--rounds 3]

Needs ``valgrind`` (Debian's); a start under valgrind takes about two minutes. Bounded:
every request goes to 127.0.0.1, ``COUNT x ROUNDS`` per variant.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
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
        "export PYTHONHASHSEED=0\n"
        f"exec valgrind --tool=callgrind --instr-atstart=no --cache-sim=no \\\n"
        f'  --callgrind-out-file="{folder}/callgrind.%p" "{tree.python}" "$@"\n'
    )
    wrapper.chmod(0o755)
    return ComfyUITree(tree.directory, wrapper)


CONNECTIONS = 32
"""As ``real_comfyui_throughput.py``'s ``wrk``: a server with requests waiting on many
connections handles several per turn of its event loop, and a turn's own cost (the selector,
the callbacks) is shared among them. Counted one request at a time, that cost would be paid
per request and make the package's share look smaller than it is under load."""


async def requests(url: str, headers: dict[str, str], count: int) -> None:
    """``count`` keep-alive requests, ``CONNECTIONS`` in flight at once."""
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def one_connection(share: int) -> None:
            for _ in range(share):
                async with http.get(url + "/api/prompt", headers=headers) as answer:
                    if answer.status != 200:
                        raise SystemExit(f"{url}: answered {answer.status} with {headers.keys()}")
                    await answer.read()

        shares = [count // CONNECTIONS + (i < count % CONNECTIONS) for i in range(CONNECTIONS)]
        await asyncio.gather(*(one_connection(share) for share in shares))


def counted(pid: int, folder: Path, load: Callable[[], None]) -> tuple[int, float]:
    """Instructions process ``pid`` executes while ``load`` runs, and for how many seconds."""

    def control(*args: str) -> None:
        subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)  # noqa: S603, S607

    control("--zero")
    control("--instr=on")
    start = time.monotonic()
    load()
    seconds = time.monotonic() - start
    control("--dump")
    control("--instr=off")
    dumps = sorted(folder.glob(f"callgrind.{pid}*"), key=lambda path: path.stat().st_mtime)
    for line in dumps[-1].read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1]), seconds
    raise SystemExit(f"callgrind wrote no total to {dumps[-1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
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
            rounds: dict[str, list[float]] = {name: [] for name, _, _ in variants}
            for _, server, headers in variants:
                requests_now(server.url, headers, WARM)
            for _ in range(args.rounds):
                for name, server, headers in variants:
                    load = functools.partial(requests_now, server.url, headers, args.count)
                    busy, seconds = counted(server.pid, work, load)
                    idle, _ = counted(server.pid, work, functools.partial(time.sleep, seconds))
                    rounds[name].append((busy - idle) / args.count)
    bare = rounds["bare ComfyUI"]
    added = {
        name: [v - b for v, b in zip(found, bare, strict=True)] for name, found in rounds.items()
    }
    print_instructions(
        f"ComfyUI {tree.version}: user-space instructions per GET /api/prompt ({args.rounds} "
        f"rounds of {args.count} keep-alive requests, callgrind; the bare server's median, and "
        "each variant's median cost over the bare server in the same round)",
        {name: statistics.median(bare) + statistics.median(more) for name, more in added.items()},
        "bare ComfyUI",
    )
    print("each round (a round moves every variant alike by a few thousand: compare within one):")
    for name, found in rounds.items():
        print(f"  {name}: " + ", ".join(f"{cost:,.0f}" for cost in found))


def requests_now(url: str, headers: dict[str, str], count: int) -> None:
    asyncio.run(requests(url, headers, count))


if __name__ == "__main__":
    main()
