"""Throughput and latency of a real ComfyUI with this package, against the bare server.

Starts three real ComfyUI processes from one tree (``../shared/comfyui-0.8.0`` or
``COMFYUI_DIR``): bare, with a pass-through middleware (the floor any custom node pays), and
with comfyui-auth. ``wrk`` (Debian's, installed if missing and run as root) drives each in
turn over loopback with 32 connections on ``GET /api/prompt``, the route the frontend polls,
for several rounds; the table gives req/s, p50 and p99 per variant and the ratio to the bare
server measured just before and just after it (these machines are noisy: only same-run
ratios mean anything). A second table loads the bare server and each variant at once, side
by side on the one server CPU, so that whatever the machine does in those seconds it does to
both (``side_by_side``). Then it measures the stall rule: ``/health`` and ``/api/prompt``
latency while 20 wrong-password sign-ins arrive at once.

    .venv/bin/python benchmarks/real_comfyui_throughput.py [--rounds 3] [--seconds 5]

Bounded: every request goes to 127.0.0.1, for ``rounds x variants x seconds`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import astuple, dataclass
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import conftest  # noqa: F401 - registers the package as comfyui_auth

from comfyui_auth.core.passwords import PasswordVerifier, make_hasher
from comfyui_auth.tests.comfyui_harness import (
    ComfyUITree,
    RunningComfyUI,
    comfyui_trees,
    start_comfyui,
    tree_python,
)

KEY = "benchmark-admin-key-0123456789abcdef"
PASSWORD = "benchmark-password-123"  # noqa: S105 - a throw-away account on loopback
PASSTHROUGH_NODE = '''"""One pass-through middleware: the floor any middleware pays."""
from aiohttp import web
import server

@web.middleware
async def passthrough(request, handler):
    return await handler(request)

server.PromptServer.instance.app.middlewares.insert(0, passthrough)
NODE_CLASS_MAPPINGS = {}
'''


@dataclass(frozen=True)
class Variant:
    name: str
    server: str
    headers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Measured:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float
    """The server's CPU time (user and system, all threads) per request answered."""
    user_share: float
    """The part of that CPU time spent in user space (the rest is the kernel's: sockets)."""


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(utime, stime) of process ``pid`` (``/proc/<pid>/stat``), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def cores() -> tuple[set[int], set[int]] | None:
    """(the load generator's CPUs, the servers' CPUs), or None with fewer than two.

    Each server is pinned, all its threads, to CPUs the load generator never runs on: a
    server then spends what its requests cost on a CPU of its own, and ``wrk`` competing
    for the same core (the first source of noise on a two-core machine) is taken out.
    """
    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(available) < 2:
        return None
    half = len(available) // 2
    return set(available[:half]), set(available[half:])


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of process ``pid`` on ``cpus`` (the affinity of a process is per thread)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(task.name), cpus)


def wrk(
    loads: list[tuple[RunningComfyUI, tuple[str, ...]]], seconds: int, cpus: set[int] | None
) -> list[Measured]:
    """One ``wrk`` per (server, headers) pair, all at once, and what each server measured."""
    before = [cpu_seconds(server.pid) for server, _ in loads]
    running = []
    for server, headers in loads:
        command = ["wrk", "-t1", "-c32", f"-d{seconds}s", "--latency", "--timeout", "5s"]
        for header in headers:
            command += ["-H", header]
        running.append(
            subprocess.Popen(  # noqa: S603 - fixed command, loopback URL
                [*command, server.url + "/api/prompt"],
                stdout=subprocess.PIPE,
                text=True,
                preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
            )
        )
    outputs = [process.communicate()[0] for process in running]  # a few lines each
    if any(process.returncode for process in running):
        raise RuntimeError(f"wrk failed:\n{outputs}")
    after = [cpu_seconds(server.pid) for server, _ in loads]
    return [_measured(*found) for found in zip(outputs, before, after, strict=True)]


def _measured(output: str, before: tuple[float, float], after: tuple[float, float]) -> Measured:
    user, system = after[0] - before[0], after[1] - before[1]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    count = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    spent = user + system
    return Measured(
        rps,
        _latency(output, "50%"),
        _latency(output, "99%"),
        spent / count * 1e6,
        user / spent if spent else 0.0,
    )


def _latency(output: str, percentile: str) -> float:
    match = re.search(rf"^\s+{percentile}\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk printed no {percentile} latency:\n{output}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
    return float(match.group(1)) * scale


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    if os.geteuid() != 0:
        sys.exit("benchmark: needs wrk (apt-get install wrk)")
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)  # noqa: S607


def write_auth_file(folder: Path) -> Path:
    verifier = PasswordVerifier(make_hasher(cheap_for_tests=False))  # the real cost
    path = folder / "auth.json"
    path.write_text(json.dumps([{"user": "bench", "hash": verifier.hash(PASSWORD)}]))
    return path


@contextlib.contextmanager
def three_servers(tree: ComfyUITree, work: Path) -> Iterator[dict[str, RunningComfyUI]]:
    passthrough = work / "passthrough-node"
    passthrough.mkdir()
    (passthrough / "__init__.py").write_text(PASSTHROUGH_NODE)
    env = {"COMFYUI_API_KEY": KEY, "COMFYUI_AUTH_FILE": str(write_auth_file(work))}
    plans = {
        "bare": ({}, {}),
        "passthrough": ({}, {"passthrough": passthrough}),
        "comfyui-auth": (env, None),
    }
    with contextlib.ExitStack() as stack:
        running = {}
        for name, (variables, nodes) in plans.items():
            base = work / name
            base.mkdir()
            started = contextlib.contextmanager(start_comfyui)
            running[name] = stack.enter_context(started(tree, base, variables, custom_nodes=nodes))
        yield running


async def session_cookie(base: str) -> str:
    async with aiohttp.ClientSession() as http:
        login = {"username": "bench", "password": PASSWORD}
        async with http.post(base + "/auth/login", json=login) as answer:
            answer.raise_for_status()
            return f"comfyui_auth_session={answer.cookies['comfyui_auth_session'].value}"


async def stall_check(base: str) -> dict[str, float]:
    """p99 of /health and /api/prompt (ms) while 20 wrong-password sign-ins run at once."""
    async with aiohttp.ClientSession() as http:

        async def wrong_login(i: int) -> None:
            body = {"username": "bench", "password": f"wrong-{i}"}  # a real argon2id check
            async with http.post(base + "/auth/login", json=body) as answer:
                await answer.read()

        async def probe(path: str, headers: dict[str, str], count: int) -> list[float]:
            times = []
            for _ in range(count):
                start = time.perf_counter()
                async with http.get(base + path, headers=headers) as answer:
                    await answer.read()
                times.append((time.perf_counter() - start) * 1000)
            return times

        logins = asyncio.gather(*(wrong_login(i) for i in range(20)))
        health, prompt = await asyncio.gather(
            probe("/health", {}, 100), probe("/api/prompt", {"X-API-Key": KEY}, 100)
        )
        await logins
    return {"/health": _p99(health), "/api/prompt": _p99(prompt)}


def _between(before: Measured, after: Measured) -> Measured:
    """The bare server's figures around a variant's run (geometric means of the runs just
    before and just after it): a machine that slows down or speeds up during a round then
    moves the baseline along with the variant, instead of showing up as its cost."""
    return Measured(
        *(math.sqrt(b * a) for b, a in zip(astuple(before), astuple(after), strict=True))
    )


def _spread(ratios: list[float]) -> str:
    """The median of same-round ratios, with their range."""
    return f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"


def _p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


def side_by_side(
    servers: dict[str, RunningComfyUI],
    variants: list[Variant],
    rounds: int,
    seconds: int,
    load_cpus: set[int],
) -> None:
    """The bare server and one variant loaded at once, both on the one server CPU.

    The scheduler gives the two busy servers equal shares of that CPU, so the ratio of their
    request rates is the ratio of what a request costs each, kernel included, measured over
    the same seconds: a machine that speeds up or slows down moves both alike. Meaningful
    only while the servers use that CPU up (printed: the load generators must not be what
    limits them).
    """
    bare_load = (servers["bare"], ())
    ratios: dict[str, list[float]] = {variant.name: [] for variant in variants}
    busy = []
    for _ in range(rounds):
        for variant in variants:
            bare, measured = wrk(
                [bare_load, (servers[variant.server], variant.headers)], seconds, load_cpus
            )
            ratios[variant.name].append(measured.rps / bare.rps)
            busy.append(sum(m.cpu_us * m.rps for m in (bare, measured)) / 1e6)
    print(f"\nSide by side: the bare server and one variant loaded at once ({rounds} rounds"
          f" of {seconds} s), sharing one CPU, which they kept {statistics.median(busy):.0%}"
          " busy (median)")  # fmt: skip
    print("| variant | req/s / bare's over the same seconds (median, range) |")
    print("|---|---|")
    for name, found in ratios.items():
        print(f"| {name} | {_spread(found)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=2)
    args = parser.parse_args()
    ensure_wrk()
    directory = comfyui_trees()[0]
    tree = ComfyUITree(directory, tree_python(directory))
    with tempfile.TemporaryDirectory() as work, three_servers(tree, Path(work)) as servers:
        cookie = asyncio.run(session_cookie(servers["comfyui-auth"].url))
        variants = [
            Variant("bare", "bare"),
            Variant("pass-through middleware", "passthrough"),
            Variant("comfyui-auth, Authorization: Bearer", "comfyui-auth",
                    (f"Authorization: Bearer {KEY}",)),
            Variant("comfyui-auth, X-API-Key", "comfyui-auth", (f"X-API-Key: {KEY}",)),
            Variant("comfyui-auth, session cookie", "comfyui-auth", (f"Cookie: {cookie}",)),
        ]  # fmt: skip
        split = cores()
        if split is not None:
            for running in servers.values():
                pin(running.pid, split[1])
        load_cpus = split[0] if split else None
        results: dict[str, list[tuple[Measured, Measured]]] = {v.name: [] for v in variants}
        bare_load = (servers["bare"], ())
        for _ in range(args.rounds):
            [before] = wrk([bare_load], args.seconds, load_cpus)
            for variant in variants[1:]:  # bare just before and just after each
                load = (servers[variant.server], variant.headers)
                [measured] = wrk([load], args.seconds, load_cpus)
                [after] = wrk([bare_load], args.seconds, load_cpus)
                results["bare"].append((before, before))
                results[variant.name].append((measured, _between(before, after)))
                before = after
        pinned = f"servers on CPU {sorted(split[1])}, wrk on {sorted(split[0])}" if split else ""
        print(f"ComfyUI {tree.version}, {args.rounds} rounds of {args.seconds} s, 32 connections,"
              f" GET /api/prompt, {pinned or 'unpinned'}; ratios to the bare server measured"
              " just before and after (geometric mean)")  # fmt: skip
        print("| variant | req/s | p50 ms | p99 ms | req/s / bare (median, range) | p99 / bare "
              "| server CPU us/request | bare CPU / CPU |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|")
        for name, rounds in results.items():
            rps = statistics.median(m.rps for m, _ in rounds)
            p50 = statistics.median(m.p50_ms for m, _ in rounds)
            p99 = statistics.median(m.p99_ms for m, _ in rounds)
            cpu = statistics.median(m.cpu_us for m, _ in rounds)
            cpu_ratio = _spread([b.cpu_us / m.cpu_us for m, b in rounds])
            print(f"| {name} | {rps:.0f} | {p50:.2f} | {p99:.2f} "
                  f"| {_spread([m.rps / b.rps for m, b in rounds])} "
                  f"| {_spread([m.p99_ms / b.p99_ms for m, b in rounds])} "
                  f"| {cpu:.0f} | {cpu_ratio} |")  # fmt: skip
        if split is not None:
            side_by_side(servers, variants[1:], args.rounds, args.seconds, split[0])
        share = statistics.median(m.user_share for m, _ in results["bare"])
        print(f"bare server: {share:.0%} of its CPU time in user space (the rest in the kernel),"
              " the part benchmarks/real_comfyui_instructions.py counts")  # fmt: skip
        stalls = asyncio.run(stall_check(servers["comfyui-auth"].url))
        print("p99 while 20 wrong-password sign-ins arrive at once: "
              + ", ".join(f"{path} {ms:.1f} ms" for path, ms in stalls.items()))  # fmt: skip


if __name__ == "__main__":
    main()
