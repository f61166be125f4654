"""Run a real ComfyUI with this repository as a custom node (the ``comfyui`` suite).

ComfyUI is not on PyPI. The suite runs against every ComfyUI tree it is given, each in the
virtualenv that ``scripts/comfyui-venv`` makes for it (``.venv-comfyui-<version>``):

- by default the trees beside this checkout, ``../shared/comfyui-*`` (0.8.0 and 0.33.0);
- or one checkout named by ``COMFYUI_DIR`` (with ``COMFYUI_PYTHON``, else its venv here).

A test that uses ``real_comfyui`` runs once per tree (ids ``comfyui-0.8.0`` ...). Without a
tree or its venv the test is skipped with the command that prepares it, except under
``CI=true``, where nothing real may be skipped: it fails instead.
The fixture makes a throw-away base directory whose ``custom_nodes/comfyui-auth`` is a
symlink to this repository, starts ``main.py --cpu --listen 127.0.0.1 --port <free>
--base-directory <tmp> --database-url sqlite:///<tmp>/comfyui.db`` with a controlled
environment (the developer's own ``COMFYUI_*`` variables are dropped; a test module chooses
its own by overriding ``real_comfyui_env``), waits at most 120 s for ``/health`` to answer,
and stops the process afterwards.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 120.0
HOW_TO_RUN = "bash scripts/test (it prepares .venv-comfyui-<version> for each tree)"
SHARED_TREES = REPO_ROOT.parent / "shared"


@dataclass(frozen=True)
class ComfyUITree:
    """One ComfyUI checkout and the Python that runs it."""

    directory: Path
    python: Path

    @property
    def version(self) -> str:
        return tree_version(self.directory)

    @property
    def version_tuple(self) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", self.version)[:3])


def tree_version(directory: Path) -> str:
    """The version a ComfyUI tree declares in ``comfyui_version.py``."""
    try:
        text = (directory / "comfyui_version.py").read_text(encoding="utf-8")
    except OSError:
        return "unknown"
    match = re.search(r'__version__ = "([^"]+)"', text)
    return match.group(1) if match else "unknown"


def tree_python(directory: Path) -> Path:
    """``COMFYUI_PYTHON``, else the venv ``scripts/comfyui-venv`` made for this tree."""
    explicit = os.environ.get("COMFYUI_PYTHON")
    if explicit and os.environ.get("COMFYUI_DIR"):
        return Path(explicit)
    return REPO_ROOT / f".venv-comfyui-{tree_version(directory)}" / "bin" / "python"


def comfyui_trees() -> list[Path]:
    """``COMFYUI_DIR``, else every ``../shared/comfyui-*`` tree, oldest version first."""
    explicit = os.environ.get("COMFYUI_DIR")
    if explicit:
        return [Path(explicit)]
    found = [p for p in SHARED_TREES.glob("comfyui-*") if (p / "main.py").is_file()]
    return sorted(found, key=lambda p: [int(n) for n in re.findall(r"\d+", p.name)])


def missing(reason: str) -> None:
    """Skip a real-ComfyUI test on a developer's machine; fail it in CI (nothing skipped)."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run every real-ComfyUI test)")
    pytest.skip(f"{reason}: {HOW_TO_RUN}")


@dataclass(frozen=True)
class RunningComfyUI:
    """A started ComfyUI: where to reach it and where its console output goes."""

    url: str
    log_path: Path
    base_dir: Path
    tree: ComfyUITree
    args: tuple[str, ...] = ()
    """The extra command-line flags it was started with (``--multi-user``, say)."""
    pid: int = 0
    """The server process (the benchmark reads its CPU time)."""

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


@dataclass
class Launched:
    """A ComfyUI process started but perhaps not answering yet (see ``start_comfyuis``)."""

    process: subprocess.Popen[bytes]
    running: RunningComfyUI
    probe: str
    """The URL that answers once the server is up."""


def launch_comfyui(
    tree: ComfyUITree,
    base_dir: Path,
    env: Mapping[str, str],
    extra_args: Sequence[str] = (),
    *,
    custom_nodes: Mapping[str, Path] | None = None,
) -> Launched:
    """Start ComfyUI with ``custom_nodes`` (default: this repository) linked into
    ``base_dir/custom_nodes``, without waiting for it."""
    (base_dir / "custom_nodes").mkdir(parents=True, exist_ok=True)
    nodes = {"comfyui-auth": REPO_ROOT} if custom_nodes is None else custom_nodes
    for name, folder in nodes.items():
        (base_dir / "custom_nodes" / name).symlink_to(folder, target_is_directory=True)
    port = free_port()
    command = [
        str(tree.python),
        "main.py",
        "--cpu",
        "--listen",
        "127.0.0.1",
        "--port",
        str(port),
        "--base-directory",
        str(base_dir),
        "--database-url",
        f"sqlite:///{base_dir}/comfyui.db",
        *extra_args,
    ]
    log_path = base_dir / "comfyui.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own command line, no shell
            command,
            cwd=tree.directory,
            env=child_environment(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}"
    running = RunningComfyUI(
        url=url,
        log_path=log_path,
        base_dir=base_dir,
        tree=tree,
        args=tuple(extra_args),
        pid=process.pid,
    )
    return Launched(process, running, url + ("/health" if nodes else "/"))


def start_comfyui(
    tree: ComfyUITree,
    base_dir: Path,
    env: Mapping[str, str],
    extra_args: Sequence[str] = (),
    *,
    custom_nodes: Mapping[str, Path] | None = None,
) -> Iterator[RunningComfyUI]:
    """Start one ComfyUI (``launch_comfyui``), wait until it answers; stop it afterwards."""
    launched = launch_comfyui(tree, base_dir, env, extra_args, custom_nodes=custom_nodes)
    try:
        wait_until_answering(launched.probe, launched.process, launched.running.log_path)
        yield launched.running
    finally:
        stop(launched.process)


def start_comfyuis(
    tree: ComfyUITree,
    instances: Sequence[tuple[Path, Mapping[str, str]]],
    extra_args: Sequence[str] = (),
) -> Iterator[tuple[RunningComfyUI, ...]]:
    """Start one ComfyUI per ``(base_dir, env)`` at once and wait for all: a start is seconds
    of imports on one core, so on a machine with several, two cost little more than one."""
    launched: list[Launched] = []
    try:
        for base_dir, env in instances:
            launched.append(launch_comfyui(tree, base_dir, env, extra_args))
        for each in launched:
            wait_until_answering(each.probe, each.process, each.running.log_path)
        yield tuple(each.running for each in launched)
    finally:
        for each in launched:
            stop(each.process)


@pytest.fixture(scope="module")
def real_comfyui_env() -> dict[str, str]:
    """Environment for the module's ComfyUI; override this fixture in a test module."""
    return {}


@pytest.fixture(scope="module")
def real_comfyui_args() -> list[str]:
    """Extra ComfyUI command-line flags for the module's ComfyUI; override in a test module."""
    return []


@pytest.fixture(scope="module")
def real_comfyui_custom_nodes() -> dict[str, Path]:
    """What the module's ComfyUI loads from ``custom_nodes/`` (name: folder); override in a
    test module to load another node beside this package."""
    return {"comfyui-auth": REPO_ROOT}


@pytest.fixture(
    scope="module",
    params=comfyui_trees() or [SHARED_TREES / "comfyui-not-found"],
    ids=lambda p: p.name,
)
def comfyui_tree(request: pytest.FixtureRequest) -> ComfyUITree:
    """Each ComfyUI tree in turn (module scope: one start per tree and test module)."""
    directory: Path = request.param
    if not (directory / "main.py").is_file():
        missing(f"{directory} has no main.py")
    python = tree_python(directory)
    if not python.is_file():
        missing(f"no Python for {directory} ({python})")
    return ComfyUITree(directory, python)


@pytest.fixture(scope="module")
def real_comfyui(
    comfyui_tree: ComfyUITree,
    real_comfyui_env: dict[str, str],
    real_comfyui_args: list[str],
    real_comfyui_custom_nodes: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningComfyUI]:
    """One real ComfyUI per test module and tree, running this package."""
    base_dir = tmp_path_factory.mktemp("comfyui-base")
    yield from start_comfyui(
        comfyui_tree,
        base_dir,
        real_comfyui_env,
        real_comfyui_args,
        custom_nodes=real_comfyui_custom_nodes,
    )
