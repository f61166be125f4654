"""Outputs, uploads and previews are per user on a real ComfyUI: bob never reaches alice's.

Alice's prompts really run (``EmptyImage`` into ``SaveImage``, ``LoadImage`` of her upload);
then bob tries to read, overwrite, load and list her files the ways an attacker would, on
every ComfyUI tree, and each attempt must fail while alice and the administrator keep their
access.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import pytest

from comfyui_auth.devhost.media import png_bytes
from comfyui_auth.tests.comfyui_harness import REPO_ROOT, RunningComfyUI
from comfyui_auth.tests.comfyui_users import TINY_IMAGE_PROMPT, Accounts, Client, folder

pytestmark = pytest.mark.comfyui
SVG_WITH_SCRIPT = (
    b'<svg xmlns="http://www.w3.org/2000/svg" onload="document.title=\'ran\'">'
    b"<script>document.title='ran'</script></svg>"
)


@pytest.fixture(scope="module")
def real_comfyui_env(accounts: Accounts) -> dict[str, str]:
    return accounts.env


@pytest.fixture(scope="module")
def real_comfyui_custom_nodes() -> dict[str, Path]:
    """This package, and a node that previews files as VideoHelperSuite does."""
    return {
        "comfyui-auth": REPO_ROOT,
        "file_preview": REPO_ROOT / "tests/custom_nodes/file_preview",
    }


@pytest.fixture
async def alices_image(client: Client) -> dict[str, str]:
    """An image alice's prompt saved (filename, subfolder, type as her history says)."""
    (image,) = await client.saved_images("alice", TINY_IMAGE_PROMPT)
    return image


def view_query(**fields: str) -> str:
    return "/api/view?" + urlencode(fields)


async def test_a_users_outputs_are_written_in_their_own_folder(
    real_comfyui: RunningComfyUI, client: Client, alices_image: dict[str, str]
) -> None:
    assert alices_image["subfolder"] == folder("alice")
    on_disk = real_comfyui.base_dir / "output" / folder("alice") / alices_image["filename"]
    assert on_disk.is_file()
    status, _ = await client.call("alice", "GET", view_query(**alices_image))
    assert status == 200
    assert (await client.call("admin", "GET", view_query(**alices_image)))[0] == 200


def stolen_views(image: dict[str, str]) -> list[tuple[str, str]]:
    """Every spelling of "alice's output" in a ``/view`` query, by id."""
    name, sub = image["filename"], image["subfolder"]
    return [
        ("as-listed", view_query(filename=name, subfolder=sub, type="output")),
        ("default-type", view_query(filename=name, subfolder=sub)),
        ("trailing-slash", view_query(filename=name, subfolder=sub + "/")),
        ("dot-segment", view_query(filename=name, subfolder="./" + sub)),
        ("via-own-folder", view_query(filename=name, subfolder=f"{folder('bob')}/../{sub}")),
        ("annotation", view_query(filename=f"{name} [output]", subfolder=sub, type="input")),
        ("temp-type-dotdot", view_query(filename=name, subfolder=f"../output/{sub}", type="temp")),
        ("percent-encoded", f"/api/view?filename={quote(name)}&subfolder={quote(sub, safe='')}"),
        ("bare-route", view_query(filename=name, subfolder=sub).replace("/api/view", "/view")),
        ("double-subfolder", f"{view_query(filename=name, subfolder=sub)}&subfolder=x"),
    ]


async def test_another_user_cannot_view_an_output_by_any_spelling(
    client: Client, alices_image: dict[str, str]
) -> None:
    for attempt, path in stolen_views(alices_image):
        status, answer = await client.call("bob", "GET", path)
        assert status == 403, (attempt, status, answer)
        head = await client.raw("bob", "HEAD", path)
        assert head.status == 403, attempt


NODE_ROUTES = ("/file_preview/view", "/file_preview/view_name")
"""The test node's routes (``tests/custom_nodes/file_preview``): whole name, last part only."""


def stolen_node_queries(image: dict[str, str], base_dir: Path) -> list[tuple[str, str]]:
    """Every spelling of "alice's output" in a custom node's ``/view``-style query, by id."""
    name, sub, bob = image["filename"], image["subfolder"], folder("bob")
    absolute = str(base_dir / "output" / sub / name)
    return [
        ("as-listed", urlencode({"filename": name, "subfolder": sub, "type": "output"})),
        ("default-type", urlencode({"filename": name, "subfolder": sub})),
        ("dotdot-in-name", urlencode({"filename": f"../{sub}/{name}", "subfolder": bob})),
        ("dotdot-from-input", urlencode({"filename": f"../output/{sub}/{name}", "type": "input"})),
        ("name-in-subfolder", urlencode({"filename": f"../{bob}/{name}", "subfolder": sub})),
        ("absolute-name", urlencode({"filename": absolute})),
        ("path-type", urlencode({"filename": absolute, "type": "path"})),
        ("quoted-path-type", urlencode({"filename": f' "{absolute}" ', "type": "path"})),
        ("annotation", urlencode({"filename": f"{name} [output]", "subfolder": sub})),
        ("percent-encoded", f"filename={quote(name)}&subfolder={quote(sub, safe='')}"),
        (
            "double-subfolder",
            urlencode([("filename", name), ("subfolder", sub), ("subfolder", bob)]),
        ),
        ("double-name", urlencode([("filename", name), ("filename", name), ("subfolder", sub)])),
    ]


@pytest.mark.parametrize("route", NODE_ROUTES)
@pytest.mark.parametrize("twin", ["", "/api"])
async def test_a_custom_nodes_file_preview_is_cut_to_the_callers_files(
    real_comfyui: RunningComfyUI,
    client: Client,
    alices_image: dict[str, str],
    route: str,
    twin: str,
) -> None:
    """A node that previews files with ``/view``'s query and checks nothing itself: bob
    never gets alice's output through it, by any spelling or method, and alice and the
    administrator still get it. Alice's settings file (under ``user/``) is refused too."""
    path = f"{twin}{route}"
    for attempt, query in stolen_node_queries(alices_image, real_comfyui.base_dir):
        for method in ("GET", "HEAD"):
            answer = await client.raw("bob", method, f"{path}?{query}")
            assert answer.status == 403, (attempt, method, answer.status)
    settings = urlencode({"filename": f"../user/{folder('alice')}/comfy.settings.json"})
    assert (await client.raw("bob", "GET", f"{path}?{settings}")).status == 403
    own = urlencode(alices_image)
    for who in ("alice", "admin"):
        answer = await client.raw(who, "GET", f"{path}?{own}")
        assert answer.status == 200, (who, answer.status)
        assert answer.headers["Content-Type"] == "image/png"
    assert (await client.raw("bob", "GET", f"{path}?filename=nothing.png")).status == 404


async def test_a_custom_nodes_folder_listing_is_cut_to_the_callers_folders(
    real_comfyui: RunningComfyUI, client: Client, alices_image: dict[str, str]
) -> None:
    """A node that lists the folder in ``path`` (as VideoHelperSuite's ``/vhs/getpath``
    does): bob lists neither alice's outputs nor anything of ``user/`` but his own."""
    base = real_comfyui.base_dir
    alices = base / "output" / folder("alice")
    for attempt in (alices, f"{alices}/", f"{base}/output/{folder('bob')}/../{folder('alice')}"):
        answer = await client.call(
            "bob", "GET", "/file_preview/list?" + urlencode({"path": attempt})
        )
        assert answer[0] == 403, (attempt, answer)
    for closed in (base / "user", base / "user" / folder("alice")):
        assert (await client.call("bob", "GET", f"/file_preview/list?path={closed}"))[0] == 403
    status, listed = await client.call("alice", "GET", f"/file_preview/list?path={alices}")
    assert (status, alices_image["filename"] in listed) == (200, True)
    bobs = base / "output" / folder("bob")
    assert (await client.call("bob", "GET", f"/file_preview/list?path={bobs}"))[0] == 200
    for spelling in (folder("alice"), f"{folder('bob')}/../{folder('alice')}", f' "{alices.name}"'):
        answer = await client.call(
            "bob", "GET", "/file_preview/outputs?" + urlencode({"dir": spelling})
        )
        assert answer[0] == 403, (spelling, answer)
    status, listed = await client.call("alice", "GET", f"/file_preview/outputs?dir={alices.name}")
    assert (status, alices_image["filename"] in listed) == (200, True)


async def test_a_custom_nodes_websocket_never_sends_another_users_file(
    real_comfyui: RunningComfyUI, client: Client, alices_image: dict[str, str]
) -> None:
    """The same rule holds for a WebSocket handshake: bob's is refused before the node's
    handler runs; alice's gets her file's bytes."""
    url = real_comfyui.url.replace("http", "ws", 1) + "/file_preview/socket?"
    url += urlencode(alices_image)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.http.ws_connect(url, headers=client.headers("bob"))
    assert refused.value.status == 403
    async with client.http.ws_connect(url, headers=client.headers("alice")) as socket:
        sent = await socket.receive_bytes()
    on_disk = (
        real_comfyui.base_dir / "output" / alices_image["subfolder"] / alices_image["filename"]
    )
    assert sent == on_disk.read_bytes()


async def test_a_file_named_in_a_custom_nodes_path_is_cut_to_the_callers_files(
    client: Client, alices_image: dict[str, str]
) -> None:
    """A node route with the file in its path (``/file_preview/files/{subfolder}/{name}``):
    the router's decoded values are read like a query's, so no spelling of alice's folder
    in the path reaches her file for bob."""
    name, sub = alices_image["filename"], alices_image["subfolder"]
    for path in (
        f"/file_preview/files/{sub}/{name}",
        f"/api/file_preview/files/{sub}/{name}",
        f"/file_preview/files/{quote(sub)}/{quote(name)}",
        f"/file_preview/files/%2E%2E%2F{sub}/{name}",
        f"/file_preview/files/..%2F{sub}/{name}",
    ):
        answer = await client.raw("bob", "GET", path)
        assert answer.status in (403, 404), (path, answer.status)
        assert answer.content_type != "image/png", path
    assert (await client.raw("bob", "GET", f"/file_preview/files/{sub}/{name}")).status == 403
    for who in ("alice", "admin"):
        answer = await client.raw(who, "GET", f"/file_preview/files/{sub}/{name}")
        assert (answer.status, answer.content_type) == (200, "image/png"), who


async def test_a_pre_existing_output_at_the_top_is_for_administrators(
    real_comfyui: RunningComfyUI, client: Client
) -> None:
    (real_comfyui.base_dir / "output" / "legacy.png").write_bytes(png_bytes())
    assert (await client.call("bob", "GET", view_query(filename="legacy.png")))[0] == 403
    assert (await client.call("admin", "GET", view_query(filename="legacy.png")))[0] == 200


async def test_uploads_land_in_the_uploaders_folder_and_load_in_their_prompt(
    real_comfyui: RunningComfyUI, client: Client
) -> None:
    status, answer = await client.upload("alice", "mine.png", png_bytes())
    assert status == 200, answer
    assert answer["subfolder"] == folder("alice")
    assert (real_comfyui.base_dir / "input" / folder("alice") / "mine.png").is_file()
    value = f"{answer['subfolder']}/{answer['name']}"
    load = {
        "1": {"class_type": "LoadImage", "inputs": {"image": value}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "l"}},
    }
    images = await client.saved_images("alice", load)
    assert images[0]["subfolder"] == folder("alice")

    status, info = await client.call("alice", "GET", "/api/object_info/LoadImage")
    assert value in info["LoadImage"]["input"]["required"]["image"][0]
    status, info = await client.call("bob", "GET", "/api/object_info/LoadImage")
    assert status == 200
    assert not any(
        folder("alice") in str(c) for c in info["LoadImage"]["input"]["required"]["image"][0]
    )
    status, full = await client.call("bob", "GET", "/api/object_info")
    assert folder("alice") not in json.dumps(full)

    alices_upload = view_query(filename="mine.png", subfolder=folder("alice"), type="input")
    status, answer = await client.call("bob", "GET", alices_upload)
    assert status == 403


@pytest.mark.parametrize(
    "fields",
    [
        {"subfolder": "../" + folder("alice"), "overwrite": "1"},
        {"subfolder": "x/../../" + folder("alice"), "overwrite": "1"},
        {"type": "output", "subfolder": "../" + folder("alice"), "overwrite": "true"},
        {"type": "bogus"},
    ],
    ids=["dotdot-input", "nested-dotdot", "output-dotdot", "unknown-type"],
)
async def test_an_upload_cannot_leave_the_uploaders_folder(
    real_comfyui: RunningComfyUI, client: Client, fields: dict[str, str]
) -> None:
    kind = fields.get("type", "input")
    target = real_comfyui.base_dir / (kind if kind != "bogus" else "input") / folder("alice")
    target.mkdir(parents=True, exist_ok=True)
    (target / "victim.png").write_bytes(png_bytes(3, 3))
    before = (target / "victim.png").read_bytes()
    status, answer = await client.upload("bob", "victim.png", png_bytes(), **fields)
    assert status in (400, 403), (status, answer)
    assert (target / "victim.png").read_bytes() == before


def raw_multipart(filename: bytes, content: bytes) -> tuple[bytes, str]:
    """A multipart body written by hand: clients percent-encode a ``/`` in a file name."""
    boundary = "comfyui-auth-test-boundary"
    body = (
        f"--{boundary}\r\n".encode()
        + b'Content-Disposition: form-data; name="image"; filename="' + filename + b'"\r\n'
        + b"Content-Type: image/png\r\n\r\n" + content + b"\r\n"
        + f"--{boundary}--\r\n".encode()
    )  # fmt: skip
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        (b"../%s/named.png", 403),
        (b"sub/../../%s/named.png", 403),
        (b"..\\%s\\named.png", 200),  # one odd file name in bob's folder, on POSIX
    ],
    ids=["dotdot", "nested", "backslashes"],
)
async def test_an_upload_named_with_a_path_cannot_reach_another_folder(
    real_comfyui: RunningComfyUI, client: Client, filename: bytes, expected: int
) -> None:
    target = real_comfyui.base_dir / "input" / folder("alice")
    target.mkdir(parents=True, exist_ok=True)
    (target / "named.png").write_bytes(png_bytes(5, 5))
    before = (target / "named.png").read_bytes()
    body, content_type = raw_multipart(filename % folder("alice").encode(), png_bytes())
    status, _ = await client.call(
        "bob", "POST", "/api/upload/image", data=body, headers={"Content-Type": content_type}
    )
    assert status == expected
    assert (target / "named.png").read_bytes() == before


async def test_a_user_overwriting_by_name_writes_only_their_own_copy(
    real_comfyui: RunningComfyUI, client: Client, alices_image: dict[str, str]
) -> None:
    alices = real_comfyui.base_dir / "output" / folder("alice") / alices_image["filename"]
    before = alices.read_bytes()
    status, answer = await client.upload(
        "bob", alices_image["filename"], png_bytes(), type="output", overwrite="1"
    )
    assert status == 200, answer
    assert answer["subfolder"] == folder("bob")
    assert alices.read_bytes() == before


def loading(value: str) -> dict[str, Any]:
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": value}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
    }


async def test_a_prompt_cannot_load_another_users_file(
    client: Client, alices_image: dict[str, str]
) -> None:
    name, sub = alices_image["filename"], alices_image["subfolder"]
    attempts = [
        f"{sub}/{name} [output]",
        f"../output/{sub}/{name}",
        f"{folder('bob')}/../../output/{sub}/{name}",
        f"../user/{folder('alice')}/comfy.settings.json",
        "../user/__auth/secret_key",
    ]
    for value in attempts:
        status, answer = await client.call("bob", "POST", "/api/prompt", {"prompt": loading(value)})
        assert status == 403, (value, status, answer)
    status, _ = await client.call(
        "alice", "POST", "/api/prompt", {"prompt": loading(f"{sub}/{name} [output]")}
    )
    assert status == 200


async def test_a_mask_cannot_be_painted_on_another_users_image(
    client: Client, alices_image: dict[str, str]
) -> None:
    form = aiohttp.FormData()
    form.add_field("image", png_bytes(), filename="mask.png", content_type="image/png")
    form.add_field("original_ref", json.dumps(alices_image))
    status, answer = await client.call("bob", "POST", "/api/upload/mask", data=form)
    assert status == 403, answer


async def test_files_by_hash_are_for_administrators(client: Client) -> None:
    status, _ = await client.call("bob", "GET", view_query(filename="blake3:" + "0" * 64))
    assert status == 403


async def test_user_content_is_never_an_active_document(client: Client) -> None:
    status, answer = await client.upload(
        "bob", "p.svg", SVG_WITH_SCRIPT, content_type="image/svg+xml"
    )
    assert status == 200, answer
    svg = view_query(filename="p.svg", type="input", subfolder=answer["subfolder"])
    served = await client.raw("admin", "GET", svg)
    assert served.status == 200
    assert served.headers["Content-Security-Policy"] == "sandbox"
    html = b"<html><script>document.title='ran'</script></html>"
    status, _ = await client.call("admin", "POST", "/api/userdata/x.html", data=html)
    assert status == 200
    page = await client.raw("admin", "GET", "/api/userdata/x.html")
    assert page.status == 200
    assert page.headers["Content-Security-Policy"] == "sandbox"
    index = await client.raw("admin", "GET", "/")
    assert "sandbox" not in index.headers.get("Content-Security-Policy", "")


async def test_a_custom_nodes_static_route_to_user_files_serves_them_sandboxed(
    client: Client,
) -> None:
    """A node that serves ``input/`` as static files (``web.static``) serves what users
    uploaded: an SVG with a script gets the sandbox there as on ``/view``, and bob cannot
    fetch alice's through it."""
    status, answer = await client.upload(
        "alice", "q.svg", SVG_WITH_SCRIPT, content_type="image/svg+xml"
    )
    assert status == 200, answer
    path = f"/file_preview/inputs/{answer['subfolder']}/q.svg"
    for who in ("alice", "admin"):
        served = await client.raw(who, "GET", path)
        assert served.status == 200, who
        assert served.headers["Content-Security-Policy"] == "sandbox", who
    assert (await client.raw("bob", "GET", path)).status == 403


async def test_every_core_route_of_this_comfyui_is_classified(
    real_comfyui: RunningComfyUI,
) -> None:
    log = real_comfyui.log_path.read_text(errors="replace")
    assert "every core route of this ComfyUI is classified" in log, real_comfyui.log_tail(80)
    assert "are not known to it" not in log
