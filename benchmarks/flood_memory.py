"""Memory under a flood: one million distinct bad keys, each from its own client address.

Every request goes through the package's real identification path, as the middleware takes
it (``warm_identity``, then ``identify``), behind a trusted proxy whose ``X-Forwarded-For``
names a new address each time, with a wrong key (``Authorization: Bearer`` or ``X-API-Key``)
or a forged session cookie in turn, so every table a stranger can fill is exercised: the
throttle's records, the audit flood limiter, the header parses kept by
``request_credentials``, the verified-cookie and session caches. The resident size is read
before and after; the growth must stay bounded (issue: under 50 MB), however many distinct
strangers come.

    .venv/bin/python benchmarks/flood_memory.py [--requests 1000000]

Nothing leaves the process: requests are built in memory as the server would parse them.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import HttpVersion11, web
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import EMPTY_PAYLOAD
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import conftest  # noqa: F401 - registers the package as comfyui_auth

from comfyui_auth.middleware.identity_provider import identify, warm_identity
from comfyui_auth.tests.minimal_host import build_minimal_host

KEY = "flood-benchmark-admin-key-0123456789"
PATH = URL("/api/prompt")


CARRIERS = (
    lambda i: {"Authorization": f"Bearer cak_{i:032x}"},
    lambda i: {"X-API-Key": f"cak_{i:032x}"},
    lambda i: {"Cookie": f"comfyui_auth_session=forged{i}.signature"},
)
"""What request ``i`` carries: a wrong key in either header, or a forged session cookie."""


def resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class Protocol:
    """What ``web.Request`` reads of its protocol (aiohttp's mocked requests build ``Mock``
    objects instead, at milliseconds each: too slow for a million)."""

    max_field_size = max_line_length = 8190
    max_headers = 128
    ssl_context = None
    peername = ("127.0.0.1", 40000)  # the trusted proxy
    sockname = ("127.0.0.1", 8188)

    transport = writer = None


def bad_request(protocol: Protocol, headers: dict[str, str]) -> web.Request:
    """A ``GET /api/prompt`` as the server would have parsed it."""
    parsed = CIMultiDictProxy(CIMultiDict(headers))
    message = RawRequestMessage(
        "GET", "/api/prompt", HttpVersion11, parsed, (), False, None, False, False, PATH
    )
    return web.Request(message, EMPTY_PAYLOAD, protocol, None, None, asyncio.get_running_loop())  # type: ignore[arg-type]


async def flood(count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        (base / "auth.json").write_text(json.dumps([]))
        host = build_minimal_host(
            base,
            {
                "COMFYUI_API_KEY": KEY,
                "COMFYUI_AUTH_FILE": str(base / "auth.json"),
                "COMFYUI_AUTH_TRUSTED_PROXIES": "127.0.0.1",
            },
        )
        runtime = host.runtime
        protocol = Protocol()
        first = int(ipaddress.IPv4Address("11.0.0.0"))
        before = resident_mb()
        start = time.perf_counter()
        refused = 0
        for i in range(count):
            headers = {"X-Forwarded-For": str(ipaddress.IPv4Address(first + i))}
            headers.update(CARRIERS[i % len(CARRIERS)](i))
            request = bad_request(protocol, headers)
            if warm_identity(runtime, request) is not None:
                raise SystemExit(f"request {i} was let in: {headers}")
            answer = await identify(runtime, request)
            refused += answer is None or getattr(answer, "status", 0) in (401, 429)
            if i and i % 200_000 == 0:
                print(f"  {i:>9,} requests: resident {resident_mb() - before:+.1f} MB", flush=True)
        seconds = time.perf_counter() - start
        growth = resident_mb() - before
    print(
        f"{count:,} distinct bad keys from {count:,} distinct addresses in {seconds:.0f} s: "
        f"{refused:,} refused (401/429, or nobody for a forged cookie); resident growth "
        f"{growth:+.1f} MB"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    asyncio.run(flood(parser.parse_args().requests))
