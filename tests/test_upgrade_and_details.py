"""Details existing login layers get wrong: rehash-on-login, late routes, old aiohttp."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from comfyui_auth.middleware import install as install_module
from comfyui_auth.tests.minimal_host import build_minimal_host


async def test_a_fooocus_password_becomes_argon2id_after_a_good_login(tmp_path: Path) -> None:
    auth_file = tmp_path / "auth.json"
    legacy = [
        {"user": "ivan", "hash": hashlib.sha256(b"ivan-password").hexdigest(), "note": "kept"},
        {"user": "judy", "pass": "judy-password"},
    ]
    auth_file.write_text(json.dumps(legacy))
    host = build_minimal_host(tmp_path, {"COMFYUI_AUTH_FILE": str(auth_file)})
    async with TestClient(TestServer(host.app, host="127.0.0.1")) as client:
        for name in ("ivan", "judy"):
            response = await client.post(
                "/auth/login", json={"username": name, "password": f"{name}-password"}
            )
            assert response.status == 200
        entries = json.loads(auth_file.read_text())
        assert [sorted(entry) for entry in entries] == [["hash", "note", "user"], ["hash", "user"]]
        assert all(entry["hash"].startswith("$argon2id$") for entry in entries)
        assert "judy-password" not in auth_file.read_text()
        client.session.cookie_jar.clear()
        again = await client.post(
            "/auth/login", json={"username": "judy", "password": "judy-password"}
        )
        assert again.status == 200


async def test_a_route_added_after_the_package_loaded_is_still_closed(tmp_path: Path) -> None:
    host = build_minimal_host(tmp_path, {"COMFYUI_API_KEY": "late-route-key-0123456789"})

    async def late(request: web.Request) -> web.Response:
        return web.Response(text="secret from another custom node")

    host.app.router.add_get("/another_node/secret", late)
    async with TestClient(TestServer(host.app, host="127.0.0.1")) as client:
        assert (await client.get("/another_node/secret")).status == 401
        allowed = await client.get(
            "/another_node/secret", headers={"X-API-Key": "late-route-key-0123456789"}
        )
        assert await allowed.text() == "secret from another custom node"


def test_an_aiohttp_older_than_3_14_1_is_reported_at_start_up(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(install_module, "version", lambda name: "3.11.8")
    with caplog.at_level(logging.WARNING):
        install_module.warn_if_old_aiohttp()
    assert "needs aiohttp 3.14.1 or newer" in caplog.text
    assert "has 3.11.8" in caplog.text
    caplog.clear()
    monkeypatch.setattr(install_module, "version", lambda name: "3.14.5")
    install_module.warn_if_old_aiohttp()
    assert caplog.text == ""
