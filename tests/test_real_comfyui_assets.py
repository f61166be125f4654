"""ComfyUI's Assets API (0.33+, ``--enable-assets``) is for administrators on a shared server.

Its table has no reliable owner (a scanned file belongs to nobody, so to everyone), so bob
may not list, read or change assets, nor fetch a file by its ``blake3:`` hash; the
administrator keeps the whole API. On 0.8.0 the API does not exist and stays closed.
"""

from __future__ import annotations

import pytest

from comfyui_auth.tests.comfyui_harness import ComfyUITree, RunningComfyUI
from comfyui_auth.tests.comfyui_users import TINY_IMAGE_PROMPT, Accounts, Client

pytestmark = pytest.mark.comfyui
ASSET_READS = ["/api/assets", "/api/tags", "/api/assets/seed/status", "/api/assets/tags/refine"]


@pytest.fixture(scope="module")
def real_comfyui_env(accounts: Accounts) -> dict[str, str]:
    return accounts.env


@pytest.fixture(scope="module")
def real_comfyui_args(comfyui_tree: ComfyUITree) -> list[str]:
    return ["--enable-assets"] if comfyui_tree.version_tuple >= (0, 33) else []


async def test_the_assets_api_is_for_administrators(
    real_comfyui: RunningComfyUI, client: Client
) -> None:
    await client.saved_images("alice", TINY_IMAGE_PROMPT)  # an output the scanner may list
    has_assets = real_comfyui.tree.version_tuple >= (0, 33)
    refused = 403 if has_assets else 404  # 0.8.0 has no such routes at all
    for path in ASSET_READS:
        status, answer = await client.call("bob", "GET", path)
        assert status == refused, (path, status, answer)
    for method, path, body in [
        ("POST", "/api/assets/seed", {}),
        ("POST", "/api/assets/prune", {}),
        ("POST", "/api/assets/from-hash", {"hash": "blake3:" + "0" * 64}),
    ]:
        status, answer = await client.call("bob", method, path, body)
        assert status == refused if has_assets else status in (404, 405), (path, status, answer)
    head = await client.raw("bob", "HEAD", "/api/assets/hash/blake3:" + "0" * 64)
    assert head.status == refused
    status, _ = await client.call("admin", "GET", "/api/assets")
    assert status == (200 if has_assets else 404)
