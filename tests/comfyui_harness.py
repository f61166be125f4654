"""Run a real ComfyUI with this repository as a custom node (the ``comfyui`` suite).

ComfyUI is not on PyPI, so the suite needs a checkout and a Python that can run it::

    COMFYUI_DIR=/path/to/ComfyUI [COMFYUI_PYTHON=/path/to/python] pytest -m comfyui

Without ``COMFYUI_DIR`` every test that uses ``real_comfyui`` is skipped with that line.
The fixture makes a throw-away base directory whose ``custom_nodes/comfyui-auth`` is a
symlink to this repository, starts ``main.py --cpu --listen 127.0.0.1 --port <free>
--base-directory <tmp>`` with a controlled environment (the developer's own ``COMFYUI_*``
variables are dropped; a test module chooses its own by overriding ``real_comfyui_env``),
waits at most 120 s for ``/health`` to answer, and stops the process afterwards.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 120.0
HOW_TO_RUN = "COMFYUI_DIR=/path/to/ComfyUI [COMFYUI_PYTHON=/path/to/python] pytest -m comfyui"


@dataclass(frozen=True)
class RunningComfyUI:
    """A started ComfyUI: where to reach it and where its console output goes."""

    url: str
    log_path: Path
    base_dir: Path

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def child_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any ``COMFYUI_*`` setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMFYUI_")}
    env.update(PYTHONUNBUFFERED="1", **extra)
    return env


def wait_until_answering(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll ``url`` until any HTTP answer comes; fail with the log if ComfyUI dies or stalls."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-4000:]
            pytest.fail(f"ComfyUI exited with {process.returncode} while starting:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - a loopback http URL
                return
        except urllib.error.HTTPError:
            return  # it answered (401/404/503 are the tests' business)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    pytest.fail(f"ComfyUI did not answer {url} within {START_TIMEOUT_S:.0f} s; log: {log}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def start_comfyui(
    comfyui_dir: Path, base_dir: Path, env: Mapping[str, str], extra_args: Sequence[str] = ()
) -> Iterator[RunningComfyUI]:
    """Start ComfyUI with this repository in ``base_dir/custom_nodes``; stop it afterwards."""
    if not (comfyui_dir / "main.py").is_file():
        pytest.fail(f"COMFYUI_DIR={comfyui_dir} has no main.py; {HOW_TO_RUN}")
    (base_dir / "custom_nodes").mkdir(parents=True, exist_ok=True)
    (base_dir / "custom_nodes" / "comfyui-auth").symlink_to(REPO_ROOT, target_is_directory=True)
    port = free_port()
    python = os.environ.get("COMFYUI_PYTHON") or sys.executable
    command = [
        python,
        "main.py",
        "--cpu",
        "--listen",
        "127.0.0.1",
        "--port",
        str(port),
        "--base-directory",
        str(base_dir),
        *extra_args,
    ]
    log_path = base_dir / "comfyui.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own command line, no shell
            command,
            cwd=comfyui_dir,
            env=child_environment(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(url + "/health", process, log_path)
        yield RunningComfyUI(url=url, log_path=log_path, base_dir=base_dir)
    finally:
        stop(process)


@pytest.fixture(scope="module")
def real_comfyui_env() -> dict[str, str]:
    """Environment for the module's ComfyUI; override this fixture in a test module."""
    return {}


@pytest.fixture(scope="module")
def real_comfyui_args() -> list[str]:
    """Extra ComfyUI command-line flags for the module's ComfyUI; override in a test module."""
    return []


@pytest.fixture(scope="module")
def real_comfyui(
    real_comfyui_env: dict[str, str],
    real_comfyui_args: list[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningComfyUI]:
    """One real ComfyUI per test module, running this package; skipped without COMFYUI_DIR."""
    comfyui_dir = os.environ.get("COMFYUI_DIR")
    if not comfyui_dir:
        pytest.skip(f"needs a ComfyUI checkout: {HOW_TO_RUN}")
    base_dir = tmp_path_factory.mktemp("comfyui-base")
    yield from start_comfyui(Path(comfyui_dir), base_dir, real_comfyui_env, real_comfyui_args)
