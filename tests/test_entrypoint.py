"""The package's ``__init__.py`` as ComfyUI runs it: installs itself first, or closes the host."""

from __future__ import annotations

import importlib.util
import logging
import sys
import types
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from comfyui_auth.tests.conftest import REPO_ROOT
from comfyui_auth.tests.minimal_host import FakeQueue


class FakePromptServer:
    instance: FakePromptServer

    def __init__(self, base: Path) -> None:
        async def comfy_middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
            return await handler(request)

        self.app = web.Application(middlewares=[web.middleware(comfy_middleware)])
        self.web_root = base / "web"
        self.web_root.mkdir(parents=True, exist_ok=True)
        (self.web_root / "index.html").write_text("<html><head></head></html>")
        self.prompt_queue = FakeQueue()
        FakePromptServer.instance = self


@pytest.fixture
def host_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakePromptServer:
    """Register ``server`` and ``folder_paths`` like ComfyUI has them when nodes load."""
    server_module = types.ModuleType("server")
    server_module.PromptServer = FakePromptServer  # type: ignore[attr-defined]
    folder_paths = types.ModuleType("folder_paths")
    folder_paths.get_user_directory = lambda: str(tmp_path / "user")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "server", server_module)
    monkeypatch.setitem(sys.modules, "folder_paths", folder_paths)
    monkeypatch.setenv("COMFYUI_AUTH_TEST_CHEAP_HASHING", "1")
    return FakePromptServer(tmp_path)


COMFYUI_MODULE_NAME = str(REPO_ROOT).replace(".", "_x_")
"""``nodes.load_custom_node`` names the module after the folder's path, dots replaced."""


def load_like_comfyui() -> types.ModuleType:
    """``nodes.load_custom_node``: the module is named after the folder's path."""
    name = COMFYUI_MODULE_NAME
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "__init__.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


async def get(app: web.Application, path: str) -> tuple[int, dict[str, object]]:
    async with TestClient(TestServer(app)) as client:
        response = await client.get(path)
        return response.status, await response.json()


async def test_the_middleware_goes_in_front_of_comfyuis_own(
    host_modules: FakePromptServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMFYUI_API_KEY", "entrypoint-key-0123456789")
    module = load_like_comfyui()
    assert list(module.NODE_CLASS_MAPPINGS) == ["ComfyUIAuthCurrentUser"]
    assert module.WEB_DIRECTORY == "./js"
    assert host_modules.app.middlewares[0].__name__ == "comfyui_auth"
    assert len(host_modules.app.middlewares) == 2
    status, body = await get(host_modules.app, "/anything")
    assert (status, body["error"]) == (401, "authentication required")


async def test_a_broken_setting_closes_the_server_with_a_503_that_names_the_fix(
    host_modules: FakePromptServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("COMFYUI_API_KEY", "short")
    with caplog.at_level(logging.CRITICAL):
        load_like_comfyui()
    status, body = await get(host_modules.app, "/api/prompt")
    assert status == 503
    assert "COMFYUI_API_KEY is shorter than 16 characters" in str(body["problem"])
    assert "secrets.token_urlsafe" in str(body["problem"])
    assert "short" not in caplog.text.replace("shorter", "")
    assert "answers every request with 503" in caplog.text
    health_status, health = await get(host_modules.app, "/health")
    assert (health_status, health["status"]) == (503, "error")


async def test_a_missing_dependency_closes_the_server(
    host_modules: FakePromptServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "argon2", None)  # makes "import argon2" fail
    # The name as loaded, not the raw path: they differ when the path has a dot in it.
    for name in [n for n in sys.modules if n.startswith(COMFYUI_MODULE_NAME)]:
        monkeypatch.delitem(sys.modules, name)
    load_like_comfyui()
    status, body = await get(host_modules.app, "/")
    assert status == 503
    assert "a dependency of comfyui-auth is missing (argon2)" in str(body["problem"])
    assert "requirements.txt" in str(body["problem"])


async def test_no_credentials_at_all_keeps_every_route_closed_and_prints_a_setup_link(
    host_modules: FakePromptServer, capsys: pytest.CaptureFixture[str]
) -> None:
    load_like_comfyui()
    printed = capsys.readouterr().err
    assert "/auth/setup?token=" in printed
    status, _ = await get(host_modules.app, "/api/prompt")
    assert status == 401


async def test_disabling_is_explicit_and_loud(
    host_modules: FakePromptServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("COMFYUI_AUTH_DISABLED", "1")
    load_like_comfyui()
    assert len(host_modules.app.middlewares) == 1
    assert "comfyui-auth is DISABLED" in caplog.text
