"""Users who share one ComfyUI see and change only their own prompts; administrators all.

Runs in the host double, whose queue, history and jobs routes answer as ComfyUI 0.8.0's do,
with three callers using API keys: alice and bob (users) and the administrator key.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSServerHandshakeError
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comfyui_auth.core.api_keys import digest_token, generate_token
from comfyui_auth.core.passwords import PasswordVerifier, make_hasher
from comfyui_auth.devhost import execute_pending
from comfyui_auth.devhost.host_double import HostDouble
from comfyui_auth.tests.conftest import REPO_ROOT
from comfyui_auth.tests.fixtures_host import MakeHost

ADMIN_KEY = "isolation-admin-key-0123456789"
SAVE = {"9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "t"}}}
VERIFIER = PasswordVerifier(make_hasher(cheap_for_tests=True))
NOT_YOURS = {"error": "this prompt belongs to another user"}


class Site:
    """The double, served, and one API key per caller."""

    def __init__(self, host: HostDouble, client: TestClient, keys: dict[str, str]) -> None:
        self.host, self.client, self.keys = host, client, keys

    async def call(self, who: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body)
        response = await self.client.request(
            method, path, data=data, headers={"X-API-Key": self.keys[who]}
        )
        text = await response.text()
        return response.status, json.loads(text) if text else None

    async def queue_prompt(self, who: str, **extra: Any) -> str:
        status, answer = await self.call(who, "POST", "/api/prompt", {"prompt": SAVE, **extra})
        assert status == 200, answer
        return str(answer["prompt_id"])

    async def pending(self, who: str) -> list[str]:
        status, queue = await self.call(who, "GET", "/api/queue")
        assert status == 200
        return sorted(item[1] for item in queue["queue_pending"])

    async def history(self, who: str) -> list[str]:
        status, history = await self.call(who, "GET", "/api/history")
        assert status == 200
        return sorted(history)


def user_with_key(name: str) -> tuple[dict[str, Any], str]:
    token, key_id = generate_token()
    entry = {
        "user": name,
        "hash": VERIFIER.hash(f"{name}-password-123"),
        "api_keys": [{"id": key_id, "name": "test", "hash": digest_token(token.encode())}],
    }
    return entry, token


@contextlib.asynccontextmanager
async def open_site(
    make_host: MakeHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **env: str
) -> AsyncIterator[Site]:
    """alice and bob with a key each, and the administrator's key; ``env`` adds settings."""
    (alice, alice_key), (bob, bob_key) = user_with_key("alice"), user_with_key("bob")
    auth_file = tmp_path / "auth.json"
    auth_file.write_text(json.dumps([alice, bob]))
    settings = {
        "COMFYUI_AUTH_FILE": str(auth_file),
        "COMFYUI_API_KEY": ADMIN_KEY,
        "COMFYUI_AUTH_TEST_CHEAP_HASHING": "1",
        **env,
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    host = make_host([REPO_ROOT])
    async with TestClient(TestServer(host.app, host="127.0.0.1")) as client:
        yield Site(host, client, {"alice": alice_key, "bob": bob_key, "admin": ADMIN_KEY})


@pytest.fixture
async def site(
    make_host: MakeHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Site]:
    async with open_site(make_host, tmp_path, monkeypatch) as opened:
        yield opened


async def test_each_user_sees_only_their_own_queue_and_history(site: Site) -> None:
    mine, theirs = await site.queue_prompt("alice"), await site.queue_prompt("bob")
    assert await site.pending("alice") == [mine]
    assert await site.pending("bob") == [theirs]
    assert await site.pending("admin") == sorted([mine, theirs])

    await execute_pending(site.host)
    assert await site.history("alice") == [mine]
    assert await site.history("bob") == [theirs]
    assert await site.history("admin") == sorted([mine, theirs])
    assert await site.call("alice", "GET", f"/api/history/{theirs}") == (200, {})
    status, own = await site.call("alice", "GET", f"/history/{mine}")
    assert (status, list(own)) == (200, [mine])


async def test_jobs_are_listed_and_paged_per_user(site: Site) -> None:
    alices = [await site.queue_prompt("alice") for _ in range(3)]
    bobs = await site.queue_prompt("bob")
    status, page = await site.call("alice", "GET", "/api/jobs?limit=2")
    assert status == 200
    assert len(page["jobs"]) == 2
    assert {job["id"] for job in page["jobs"]} <= set(alices)
    assert page["pagination"] == {"offset": 0, "limit": 2, "total": 3, "has_more": True}
    status, rest = await site.call("alice", "GET", "/api/jobs?limit=2&offset=2")
    assert [job["id"] for job in rest["jobs"]] != []
    assert rest["pagination"]["has_more"] is False
    assert await site.call("alice", "GET", f"/api/jobs/{bobs}") == (
        404,
        {"error": "Job not found"},
    )
    assert (await site.call("bob", "GET", f"/api/jobs/{bobs}"))[0] == 200
    status, everything = await site.call("admin", "GET", "/api/jobs")
    assert everything["pagination"]["total"] == 4
    assert (await site.call("alice", "GET", "/api/jobs?limit=0"))[0] == 400  # ComfyUI's own


async def test_a_user_cannot_delete_anothers_prompt_and_clear_removes_only_their_own(
    site: Site,
) -> None:
    mine, theirs = await site.queue_prompt("alice"), await site.queue_prompt("bob")
    assert await site.call("bob", "POST", "/api/queue", {"delete": [mine]}) == (403, NOT_YOURS)
    assert await site.call("bob", "POST", "/queue", {"clear": True}) == (200, None)
    assert await site.pending("admin") == [mine]

    await execute_pending(site.host)
    theirs = await site.queue_prompt("bob")
    await execute_pending(site.host)
    assert await site.call("bob", "POST", "/api/history", {"delete": [mine]}) == (
        403,
        NOT_YOURS,
    )
    assert await site.call("bob", "POST", "/api/history", {"clear": True}) == (200, None)
    assert await site.history("admin") == [mine]
    assert await site.call("alice", "POST", "/api/history", {"delete": [mine]}) == (200, None)
    assert await site.history("admin") == []
    assert theirs not in await site.history("bob")


async def test_only_the_owner_or_an_administrator_may_interrupt_a_running_prompt(
    site: Site,
) -> None:
    running = await site.queue_prompt("bob")
    assert site.host.prompt_queue.get(timeout=0) is not None  # bob's prompt starts running
    for body in ({"prompt_id": running}, {}):
        assert await site.call("alice", "POST", "/api/interrupt", body) == (403, NOT_YOURS)
    assert await site.call("bob", "POST", "/api/interrupt", {}) == (200, None)
    assert await site.call("admin", "POST", "/interrupt", {}) == (200, None)


async def test_a_prompt_cannot_take_another_users_prompt_id_or_client_id(site: Site) -> None:
    status, _ = await site.call("alice", "GET", "/api/queue")  # alice is known to the host
    assert status == 200
    theirs = await site.queue_prompt("bob", client_id="bobs-tab")
    assert await site.call(
        "alice", "POST", "/api/prompt", {"prompt": SAVE, "prompt_id": theirs}
    ) == (403, NOT_YOURS)
    assert await site.call(
        "alice", "POST", "/api/prompt", {"prompt": SAVE, "client_id": "bobs-tab"}
    ) == (403, {"error": "this clientId belongs to another user"})
    assert await site.pending("admin") == [theirs]


@pytest.mark.parametrize(
    "path",
    ["/queue", "/api/queue", "/API/queue", "/api//queue", "/api/%71ueue", "/api/api/queue"],
    ids=["plain", "api-twin", "upper-case", "double-slash", "encoded", "api-api"],
)
async def test_every_spelling_of_the_queue_route_is_filtered(site: Site, path: str) -> None:
    await site.queue_prompt("bob")
    status, queue = await site.call("alice", "GET", path)
    if status == 200:  # spellings aiohttp does not route answer 404 before any handler
        assert queue["queue_pending"] == []
    else:
        assert status == 404


async def test_a_users_prompt_without_client_id_gets_a_private_one(site: Site) -> None:
    """Otherwise ComfyUI sends its progress and previews to every open socket."""
    mine = await site.queue_prompt("alice")
    admins = await site.queue_prompt("admin")
    _, pending = site.host.prompt_queue.get_current_queue_volatile()
    client_ids = {item[1]: item[3].get("client_id") for item in pending}
    private = client_ids[mine]
    assert isinstance(private, str)
    assert private.startswith("comfyui-auth-")
    assert client_ids[admins] is None  # administrators keep ComfyUI's behaviour
    with pytest.raises(WSServerHandshakeError) as refused:
        await site.client.ws_connect(
            f"/ws?clientId={private}", headers={"X-API-Key": site.keys["bob"]}
        )
    assert refused.value.status == 403
    alice = await site.call("alice", "POST", "/api/prompt", {"prompt": SAVE, "client_id": private})
    assert alice[0] == 200  # the id is alice's own


@pytest.mark.parametrize("route", ["/api/queue", "/api/history"])
@pytest.mark.parametrize(
    "shape",
    [
        pytest.param(lambda prompt_id: {prompt_id: True}, id="dict-of-ids"),
        pytest.param(lambda prompt_id: prompt_id, id="bare-string"),
        pytest.param(lambda prompt_id: {"ids": [prompt_id]}, id="nested-object"),
    ],
)
async def test_a_delete_that_is_not_a_list_is_refused_before_comfyui_sees_it(
    site: Site, route: str, shape: Any
) -> None:
    theirs = await site.queue_prompt("bob")
    if route == "/api/history":
        await execute_pending(site.host)
    answer = await site.call("alice", "POST", route, {"delete": shape(theirs)})
    assert answer == (400, {"error": '"delete" must be a list of prompt ids'})
    listing = await (site.pending("bob") if route == "/api/queue" else site.history("bob"))
    assert listing == [theirs]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    route=st.sampled_from(["/api/queue", "/api/history", "/api/interrupt", "/queue"]),
    body=st.dictionaries(
        st.sampled_from(["delete", "clear", "prompt_id", "client_id"]), JSON, max_size=3
    ),
    aim_at_bob=st.booleans(),
)
async def test_no_body_lets_a_user_remove_or_interrupt_anothers_prompt(
    site: Site, route: str, body: dict[str, Any], aim_at_bob: bool
) -> None:
    if not await site.pending("bob"):
        await site.queue_prompt("bob")
    (theirs,) = await site.pending("bob")
    if aim_at_bob:  # put bob's id wherever the body has room for one
        body = {k: [theirs] if k == "delete" else theirs for k in body} or {"delete": [theirs]}
    status, _ = await site.call("alice", "POST", route, body)
    assert status in (200, 400, 403)
    assert await site.pending("bob") == [theirs]
