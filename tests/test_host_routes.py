"""The route table: known core routes keep their class, an unknown core route is closed.

A fake ComfyUI source folder holds a module whose handler is "core"; a handler defined
elsewhere stands for another custom node's route. The real trees are checked by
``test_real_comfyui_files`` (its start-up log must say every core route is classified).
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiohttp import web

from comfyui_auth.middleware.host_routes import CORE_ROUTES, HostRoutes, RouteClass, route_key

CORE_MODULE = """
from aiohttp import web

async def brand_new(request):
    return web.Response(text="a route a newer ComfyUI added")

async def view(request):
    return web.Response(text="view")

async def websocket(request):
    return web.Response(text="ComfyUI's /ws")
"""


def core_handlers(core_dir: Path) -> object:
    source = core_dir / "server_like.py"
    source.write_text(CORE_MODULE)
    spec = importlib.util.spec_from_file_location("server_like_for_test", source)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def custom_node_route(request: web.Request) -> web.Response:
    return web.Response(text="another custom node")


def app_with_routes(core_dir: Path) -> web.Application:
    core = core_handlers(core_dir)
    app = web.Application()
    app.router.add_get("/api/brand_new", core.brand_new)  # type: ignore[attr-defined]
    app.router.add_get("/view", core.view)  # type: ignore[attr-defined]
    app.router.add_get("/api/view", core.view)  # type: ignore[attr-defined]
    app.router.add_post("/my_node/run", custom_node_route)
    internal = web.Application()
    internal.router.add_get("/logs", core.brand_new)  # type: ignore[attr-defined]
    app.add_subapp("/internal", internal)
    return app


def classes(routes: HostRoutes, app: web.Application) -> dict[tuple[str, str], RouteClass]:
    found: dict[tuple[str, str], RouteClass] = {}
    for resource in app.router.resources():
        sub = resource.get_info().get("app")
        for route in sub.router.routes() if isinstance(sub, web.Application) else resource:
            found[route_key(route)] = routes._info[route].route_class
    return found


def test_an_unknown_core_route_is_for_administrators_and_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = app_with_routes(tmp_path)
    routes = HostRoutes(tmp_path)
    with caplog.at_level(logging.INFO, logger="comfyui_auth"):
        routes.classify(app)
    found = classes(routes, app)
    assert found[("GET", "/brand_new")] is RouteClass.ADMIN
    assert found[("GET", "/view")] is RouteClass.OWNED
    assert found[("GET", "/internal/logs")] is RouteClass.ADMIN
    assert found[("POST", "/my_node/run")] is RouteClass.USER
    assert routes.closed == ["GET /brand_new"]
    assert "GET /brand_new" in caplog.text


def test_only_comfyuis_ws_and_other_nodes_routes_look_at_an_upgrade(tmp_path: Path) -> None:
    """ComfyUI's handlers other than ``/ws`` never answer with a WebSocket, so only there is
    a handshake's origin and ``clientId`` checked; a custom node's route always is."""
    app = app_with_routes(tmp_path)
    app.router.add_get("/ws", core_handlers(tmp_path).websocket)  # type: ignore[attr-defined]
    routes = HostRoutes(tmp_path)
    routes.classify(app)
    upgrades = {
        route_key(route): routes._info[route].may_upgrade
        for route in app.router.routes()
        if route in routes._info
    }
    assert upgrades == {
        ("GET", "/ws"): True,
        ("GET", "/view"): False,
        ("GET", "/brand_new"): False,
        ("GET", "/internal/logs"): False,
        ("POST", "/my_node/run"): True,
    }


def test_a_custom_nodes_own_folder_is_not_core(tmp_path: Path) -> None:
    custom = tmp_path / "custom_nodes" / "some-node"
    custom.mkdir(parents=True)
    app = web.Application()
    app.router.add_get("/api/brand_new", core_handlers(custom).brand_new)  # type: ignore[attr-defined]
    routes = HostRoutes(tmp_path)
    routes.classify(app)
    assert routes.closed == []


def test_head_is_classified_as_get() -> None:
    app = web.Application()
    app.router.add_get("/queue", custom_node_route)  # GET and its automatic HEAD
    keys = {route_key(route) for route in app.router.routes()}
    assert keys == {("GET", "/queue")}


@pytest.mark.parametrize(
    ("template", "expected"),
    [("/api/api/jobs/{job_id}", "/jobs/{job_id}"), ("/api/queue", "/queue"), ("/ws", "/ws")],
)
def test_the_api_twin_prefix_is_dropped(template: str, expected: str) -> None:
    app = web.Application()
    app.router.add_get(template, custom_node_route)
    assert {route_key(route)[1] for route in app.router.routes()} == {expected}


def test_every_listed_route_has_a_method_and_a_template() -> None:
    for method, template in CORE_ROUTES:
        assert method in {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"}
        assert template.startswith("/")
        assert not template.startswith("/api/")


def test_only_the_frontends_static_files_and_comfyuis_routes_skip_the_file_names_check(
    tmp_path: Path,
) -> None:
    """aiohttp serves a static route's files from its folder alone: the frontend's holds no
    data folder, so checking what a request names there would only cost time; a static
    route over ``input/`` serves users' files, sandboxed and checked."""
    frontend, data = tmp_path / "frontend", tmp_path / "base"
    for folder in (frontend, *(data / name for name in ("input", "output", "temp", "user"))):
        folder.mkdir(parents=True)
    folder_paths = SimpleNamespace(
        **{
            f"get_{name}_directory": (lambda name=name: str(data / name))
            for name in ("input", "output", "temp", "user")
        }
    )
    app = app_with_routes(tmp_path)
    app.router.add_static("/assets", frontend)
    app.router.add_static("/node_inputs", data / "input")
    routes = HostRoutes(tmp_path, folder_paths)
    routes.classify(app)
    found = {
        route_key(route): (
            routes._info[route].serves_frontend,
            routes._info[route].checks_file_names,
        )
        for route in app.router.routes()
        if route in routes._info
    }
    assert found[("GET", "/assets")] == (True, False)
    assert found[("GET", "/node_inputs")] == (False, True)
    assert found[("POST", "/my_node/run")] == (False, True)
    assert found[("GET", "/view")] == (False, False)  # ComfyUI's own: FILE_RULES
