"""Fair sharing through HTTP on the host double: who may choose a place, the limit, positions.

The double's ``POST /prompt`` keeps ComfyUI's order (hooks, then ``number``/``front``, then
validation), so these tests prove what a caller can and cannot make the package do; the order
rule itself is proven on a real ComfyUI (``test_real_comfyui_fair_queue.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from comfyui_auth.core.errors import ConfigError
from comfyui_auth.core.identity import Identity, Role, Via
from comfyui_auth.core.settings import load_settings
from comfyui_auth.middleware.current_user import current_user_inputs
from comfyui_auth.middleware.queue_isolation import PROMPT_CALLER
from comfyui_auth.nodes import NODE_CLASS_MAPPINGS
from comfyui_auth.nodes.current_user import (
    CLASS_TYPE,
    NOT_QUEUED_BY_SERVER,
    USER_ID_INPUT,
    USER_INPUT,
)
from comfyui_auth.tests.fixtures_host import MakeHost
from comfyui_auth.tests.test_queue_isolation import SAVE, Site, open_site

LIMIT = 2


@pytest.fixture
async def site(
    make_host: MakeHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Site]:
    limited = {"COMFYUI_AUTH_MAX_PENDING": str(LIMIT)}
    async with open_site(make_host, tmp_path, monkeypatch, **limited) as opened:
        yield opened


async def numbered(site: Site, who: str, **extra: Any) -> float:
    status, answer = await site.call(who, "POST", "/api/prompt", {"prompt": SAVE, **extra})
    assert status == 200, answer
    return float(answer["number"])


JUMPS = [
    pytest.param({"front": True}, id="front"),
    pytest.param({"number": -1e9}, id="number"),
    pytest.param({"number": "-5", "front": True}, id="number-as-text-and-front"),
]


@pytest.mark.parametrize("jump", JUMPS)
async def test_a_user_cannot_choose_their_place_in_the_queue(
    site: Site, jump: dict[str, Any]
) -> None:
    earlier = await numbered(site, "alice")
    assert await numbered(site, "alice", **jump) > earlier


@pytest.mark.parametrize("jump", JUMPS[:2])
async def test_an_administrator_still_puts_a_prompt_first(site: Site, jump: dict[str, Any]) -> None:
    waiting = await numbered(site, "alice")
    assert await numbered(site, "admin", **jump) < waiting


async def test_past_the_limit_comfyui_never_sees_the_prompt_and_the_frontend_gets_its_shape(
    site: Site,
) -> None:
    for _ in range(LIMIT):
        await numbered(site, "alice")
    status, answer = await site.call("alice", "POST", "/api/prompt", {"prompt": SAVE})
    assert status == 429
    assert answer["error"]["type"] == "too_many_pending"
    assert (
        answer["error"]["message"]
        == f"you have reached the limit of {LIMIT} waiting prompts per user"
    )
    assert answer["error"]["details"]  # the frontend shows "message: details"
    assert answer["node_errors"] == {}
    assert len(await site.pending("alice")) == LIMIT
    await numbered(site, "bob")
    await numbered(site, "admin")


async def test_a_prompt_comfyui_refuses_does_not_count_against_the_limit(site: Site) -> None:
    for _ in range(LIMIT + 1):
        status, _ = await site.call("alice", "POST", "/api/prompt", {"no_prompt": True})
        assert status == 400
    for _ in range(LIMIT):
        await numbered(site, "alice")


async def test_a_user_sees_how_many_prompts_are_ahead_of_each_of_theirs_and_nothing_else(
    site: Site,
) -> None:
    await numbered(site, "bob")
    await numbered(site, "bob")
    await numbered(site, "alice")
    status, queue = await site.call("alice", "GET", "/api/queue")
    assert status == 200
    (mine,) = [item[1] for item in queue["queue_pending"]]
    assert queue["comfyui_auth_ahead"] == {mine: 1}  # bob's first; alice's turn comes next


def test_bad_limits_keep_the_server_closed(tmp_path: Path) -> None:
    for value in ("0", "-1", "lots", "1.5"):
        with pytest.raises(ConfigError, match="COMFYUI_AUTH_MAX_PENDING"):
            load_settings({"COMFYUI_AUTH_MAX_PENDING": value}, tmp_path)
    assert load_settings({}, tmp_path).max_pending is None
    assert load_settings({"COMFYUI_AUTH_MAX_PENDING": " 3 "}, tmp_path).max_pending == 3


def _graph(**inputs: Any) -> dict[str, Any]:
    return {"prompt": {"1": {"class_type": CLASS_TYPE, "inputs": inputs}, **SAVE}}


CALLERS = [
    pytest.param(Identity("bob", Role.USER, Via.API_KEY), ("bob", "auth_bob"), id="user"),
    pytest.param(
        Identity("j.smith@example.org", Role.ADMIN, Via.SESSION),
        ("j.smith@example.org", "auth-j-smith-example-org-"),
        id="admin-with-unsafe-name",
    ),
]


@pytest.mark.parametrize(("caller", "expected"), CALLERS)
def test_the_current_user_node_gets_the_caller_whatever_the_graph_claims(
    caller: Identity, expected: tuple[str, str]
) -> None:
    claimed = _graph(**{USER_INPUT: "alice", USER_ID_INPUT: "auth_alice"})
    token = PROMPT_CALLER.set(caller)
    try:
        inputs = current_user_inputs(claimed)["prompt"]["1"]["inputs"]
    finally:
        PROMPT_CALLER.reset(token)
    user, user_id = NODE_CLASS_MAPPINGS[CLASS_TYPE]().current_user(**inputs)
    assert user == expected[0]
    assert user_id.startswith(expected[1])


def test_without_a_caller_the_current_user_node_refuses_to_run() -> None:
    inputs = current_user_inputs(_graph(**{USER_INPUT: "alice", USER_ID_INPUT: "auth_alice"}))
    with pytest.raises(ValueError, match=NOT_QUEUED_BY_SERVER):
        NODE_CLASS_MAPPINGS[CLASS_TYPE]().current_user(**inputs["prompt"]["1"]["inputs"])
