"""How much does authentication cost per request? Ratios against a baseline in the same run.

Serves one trivial route on loopback twice - bare, and behind comfyui-auth - and times the
same number of sequential requests against each: anonymous (401), API key, session cookie,
and /health. These machines are noisy, so only ratios against the bare baseline measured in
the same run are printed, never absolute targets. Bounded: a few thousand requests to
127.0.0.1.

    .venv/bin/python benchmarks/middleware_overhead.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from aiohttp import ClientSession, web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import conftest  # noqa: F401 - registers the package as comfyui_auth

from comfyui_auth.core.passwords import PasswordVerifier, make_hasher
from comfyui_auth.tests.minimal_host import build_minimal_host

KEY = "benchmark-key-0123456789abcdef"


async def bare_app() -> web.Application:
    app = web.Application()

    async def prompt(request: web.Request) -> web.Response:
        return web.json_response({"exec_info": {"queue_remaining": 0}})

    app.router.add_get("/api/prompt", prompt)
    return app


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


async def timed(session: ClientSession, url: str, count: int, **kwargs: object) -> float:
    start = time.perf_counter()
    for _ in range(count):
        async with session.get(url, **kwargs) as response:  # type: ignore[arg-type]
            await response.read()
    return (time.perf_counter() - start) / count


async def main(count: int) -> None:
    bare_runner, bare_url = await serve(await bare_app())
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        verifier = PasswordVerifier(make_hasher(cheap_for_tests=True))
        auth_file = base / "auth.json"
        auth_file.write_text(
            json.dumps([{"user": "bench", "hash": verifier.hash("bench-pass-123")}])
        )
        tracemalloc.start()
        host = build_minimal_host(
            base,
            {
                "COMFYUI_API_KEY": KEY,
                "COMFYUI_AUTH_FILE": str(auth_file),
                "COMFYUI_AUTH_FAILURE_LIMIT": "1000",
            },
        )
        auth_runner, auth_url = await serve(host.app)
        async with ClientSession() as session:
            await timed(session, bare_url + "/api/prompt", 50)  # warm up
            await timed(session, auth_url + "/health", 5)  # first probe imports torch
            baseline = await timed(session, bare_url + "/api/prompt", count)
            rows = {
                "api key (Bearer)": await timed(
                    session,
                    auth_url + "/api/prompt",
                    count,
                    headers={"Authorization": f"Bearer {KEY}"},
                ),
                "anonymous (401)": await timed(session, auth_url + "/api/prompt", count),
                "/health": await timed(session, auth_url + "/health", count // 4),
            }
            async with session.post(
                auth_url + "/auth/login", json={"username": "bench", "password": "bench-pass-123"}
            ) as response:
                if response.status != 200:
                    raise SystemExit("benchmark sign-in failed")
            rows["session cookie"] = await timed(session, auth_url + "/api/prompt", count)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        await auth_runner.cleanup()
    await bare_runner.cleanup()
    print(f"baseline: bare aiohttp route, {baseline * 1e6:.0f} us/request ({count} requests)")
    for name, seconds in rows.items():
        print(f"{name:>20}: {seconds / baseline:5.2f}x baseline")
    print(f"peak traced memory while serving: {peak / 1e6:.1f} MB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    asyncio.run(main(parser.parse_args().requests))
