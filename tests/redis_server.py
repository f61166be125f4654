"""A real ``redis-server`` on loopback for the tests marked ``redis`` (loaded from conftest).

Each test gets its own server on a free port, with no persistence, in its own directory, so
nothing is shared between tests and a test may stop it (and start it again) to show what an
outage does. Without the binary the tests are skipped, saying how to get it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

START_SECONDS = 10.0


def free_port() -> int:
    """A loopback port nobody listens on (the kernel's choice, released at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RedisServer:
    """One ``redis-server`` process; ``url`` names it with database 0."""

    binary: str
    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers PING; fail the test if it never does."""
        log = (self.directory / "redis.log").open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - fixed arguments, no shell
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.directory),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + START_SECONDS
        with redis.Redis(port=self.port, socket_timeout=1.0) as client:
            while True:
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    pass
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"redis-server did not start; see {self.directory / 'redis.log'}")
                time.sleep(0.02)

    def stop(self) -> None:
        """Kill the server (an outage, as abrupt as a crash)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


def running_redis_server(directory: Path) -> Iterator[RedisServer]:
    """A running ``redis-server`` keeping its files in ``directory``, killed afterwards.

    A generator, so that a fixture of any scope can ``yield from`` it (a module's real
    ComfyUIs share one server).
    """
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (Debian/Ubuntu: apt-get install redis-server)")
    directory.mkdir(exist_ok=True)
    server = RedisServer(binary, directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A running ``redis-server`` on 127.0.0.1 for one test, killed after it."""
    yield from running_redis_server(tmp_path / "redis")
