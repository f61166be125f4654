"""Each user has their own ComfyUI storage on a real ComfyUI, with and without --multi-user.

Workflows, settings and user data live in ``user/<folder>`` of the signed-in user; bob reads,
lists, writes, moves and deletes only his own, whatever ``Comfy-User`` header he sends, and
``/users`` shows him nobody else.
"""

from __future__ import annotations

import pytest

from comfyui_auth.tests.comfyui_harness import RunningComfyUI
from comfyui_auth.tests.comfyui_users import Accounts, Client, folder

pytestmark = pytest.mark.comfyui
SECRET = "workflows%2Fsecret.json"


@pytest.fixture(scope="module")
def real_comfyui_env(accounts: Accounts) -> dict[str, str]:
    return accounts.env


@pytest.fixture(scope="module", params=[[], ["--multi-user"]], ids=["single-user", "multi-user"])
def real_comfyui_args(request: pytest.FixtureRequest) -> list[str]:
    return list(request.param)


@pytest.fixture
async def alices_workflow(real_comfyui: RunningComfyUI, client: Client) -> bytes:
    content = b'{"alice": "secret workflow"}'
    status, answer = await client.call(
        "alice", "POST", f"/api/userdata/{SECRET}?overwrite=true", data=content
    )
    assert status == 200, answer
    on_disk = real_comfyui.base_dir / "user" / folder("alice") / "workflows" / "secret.json"
    assert on_disk.read_bytes() == content
    return content


SPOOFS = [{}, {"Comfy-User": folder("alice")}, {"comfy-user": "default"}]


async def test_another_user_cannot_read_or_list_a_workflow(
    client: Client, alices_workflow: bytes
) -> None:
    for spoof in SPOOFS:
        reads = [
            f"/api/userdata/{SECRET}",
            f"/userdata/{SECRET}",
            "/api/userdata?dir=workflows&recurse=true&full_info=true",
            "/api/v2/userdata?path=workflows",
        ]
        for path in reads:
            status, answer = await client.call("bob", "GET", path, headers=spoof)
            assert "secret" not in str(answer), (path, spoof, status)
    assert (await client.call("alice", "GET", f"/api/userdata/{SECRET}"))[0] == 200


async def test_another_user_cannot_overwrite_move_or_delete_a_workflow(
    real_comfyui: RunningComfyUI, client: Client, alices_workflow: bytes
) -> None:
    spoof = {"Comfy-User": folder("alice")}
    await client.call("bob", "POST", f"/api/userdata/{SECRET}?overwrite=true", data=b"{}",
                      headers=spoof)  # fmt: skip
    await client.call("bob", "POST", f"/api/userdata/{SECRET}/move/workflows%2Fgone.json",
                      headers=spoof)  # fmt: skip
    await client.call("bob", "DELETE", f"/api/userdata/{SECRET}", headers=spoof)
    on_disk = real_comfyui.base_dir / "user" / folder("alice") / "workflows" / "secret.json"
    assert on_disk.read_bytes() == alices_workflow
    assert (real_comfyui.base_dir / "user" / folder("bob") / "workflows").is_dir()


async def test_settings_are_per_user(client: Client) -> None:
    assert (await client.call("alice", "POST", "/api/settings", {"Comfy.Test": "alice"}))[0] == 200
    spoof = {"Comfy-User": folder("alice")}
    assert (await client.call("bob", "POST", "/api/settings/Comfy.Test", "bob", headers=spoof))[
        0
    ] == 200
    assert (await client.call("alice", "GET", "/api/settings/Comfy.Test")) == (200, "alice")
    status, bobs = await client.call("bob", "GET", "/api/settings")
    assert status == 200
    assert bobs.get("Comfy.Test") == "bob"


async def test_users_lists_the_caller_alone_and_only_administrators_create_users(
    real_comfyui: RunningComfyUI, client: Client
) -> None:
    await client.call("alice", "GET", "/api/settings")  # alice has been seen
    status, answer = await client.call("bob", "GET", "/api/users")
    assert status == 200
    if "--multi-user" in real_comfyui.args:
        assert answer["users"] == {folder("bob"): "bob"}
    else:
        assert "users" not in answer
    refused = await client.call("bob", "POST", "/api/users", {"username": "mallory"})
    assert refused == (403, {"error": "this route is for administrators"})
