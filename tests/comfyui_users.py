"""Users, keys and small clients for the real-ComfyUI suites (alice, bob and an administrator).

A suite passes ``accounts.env`` as its ``real_comfyui_env`` (alice and bob with keys in
``auth.json``, and an administrator key) and talks to the server through the ``client``
fixture: every call says who makes it, and the answer comes back as
``(status, json-or-text)`` so that a refusal reads as plainly as a success.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from comfyui_auth.core.api_keys import digest_token, generate_token
from comfyui_auth.core.passwords import PasswordVerifier, make_hasher
from comfyui_auth.middleware.host_users import host_user_id
from comfyui_auth.tests.comfyui_harness import RunningComfyUI

ADMIN_KEY = "real-comfyui-admin-key-0123456789"
USERS = ("alice", "bob")
VERIFIER = PasswordVerifier(make_hasher(cheap_for_tests=True))
TINY_IMAGE_PROMPT: dict[str, Any] = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1,
                                                  "color": 0}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "iso"}},
}  # fmt: skip


def password_of(name: str) -> str:
    return f"{name}-password-123"


def auth_environment(folder: Path) -> tuple[dict[str, str], dict[str, str]]:
    """``(environment for the ComfyUI, API key of each user)``: alice, bob and an admin key."""
    keys: dict[str, str] = {}
    entries = []
    for name in USERS:
        token, key_id = generate_token()
        keys[name] = token
        entries.append(
            {
                "user": name,
                "hash": VERIFIER.hash(password_of(name)),
                "api_keys": [{"id": key_id, "name": "test", "hash": digest_token(token.encode())}],
            }
        )
    auth_file = folder / "auth.json"
    auth_file.write_text(json.dumps(entries))
    keys["admin"] = ADMIN_KEY
    env = {
        "COMFYUI_AUTH_FILE": str(auth_file),
        "COMFYUI_API_KEY": ADMIN_KEY,
        "COMFYUI_AUTH_TEST_CHEAP_HASHING": "1",
    }
    return env, keys


class Client:
    """One real ComfyUI, called as alice, bob or ``admin`` with their API keys."""

    def __init__(self, http: aiohttp.ClientSession, base: str, keys: Mapping[str, str]) -> None:
        self.http = http
        self.base = base
        self.keys = keys

    def headers(self, who: str, **extra: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[who], **extra}

    async def call(
        self,
        who: str,
        method: str,
        path: str,
        body: Any = None,
        *,
        data: bytes | aiohttp.FormData | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:
        """``(status, answer)``; the answer is JSON when it parses, else text."""
        async with self.http.request(
            method,
            self.base + path,
            json=body if data is None else None,
            data=data,
            headers=self.headers(who, **(headers or {})),
        ) as response:
            text = await response.text(errors="replace")
            try:
                return response.status, json.loads(text) if text else None
            except ValueError:
                return response.status, text

    async def raw(self, who: str, method: str, path: str) -> aiohttp.ClientResponse:
        """The whole answer (headers, bytes), read."""
        async with self.http.request(method, self.base + path, headers=self.headers(who)) as r:
            await r.read()
            return r

    async def queue(self, who: str, prompt: dict[str, Any], **fields: Any) -> str:
        status, answer = await self.call(who, "POST", "/api/prompt", {"prompt": prompt, **fields})
        assert status == 200, answer
        return str(answer["prompt_id"])

    async def finished(self, *prompt_ids: str, seconds: float = 60) -> dict[str, Any]:
        """The history entries of ``prompt_ids`` once ComfyUI has run them all."""
        for _ in range(int(seconds * 10)):
            status, history = await self.call("admin", "GET", "/api/history")
            if status == 200 and all(p in history for p in prompt_ids):
                return {p: history[p] for p in prompt_ids}
            await asyncio.sleep(0.1)
        pytest.fail(f"ComfyUI did not finish {prompt_ids} within {seconds:.0f} s")

    async def saved_images(self, who: str, prompt: dict[str, Any]) -> list[dict[str, str]]:
        """Run ``prompt`` as ``who``; the images its history lists (filename, subfolder, type)."""
        prompt_id = await self.queue(who, prompt)
        entry = (await self.finished(prompt_id))[prompt_id]
        assert entry["status"]["status_str"] == "success", entry["status"]
        return [image for output in entry["outputs"].values() for image in output["images"]]

    async def upload(
        self, who: str, name: str, content: bytes, *, content_type: str = "image/png", **fields: str
    ) -> tuple[int, Any]:
        form = aiohttp.FormData()
        form.add_field("image", content, filename=name, content_type=content_type)
        for field, value in fields.items():
            form.add_field(field, value)
        return await self.call(who, "POST", "/api/upload/image", data=form)


def folder(name: str) -> str:
    """The user's folder under ``input/``, ``output/``, ``temp/`` and ``user/``."""
    return host_user_id(name)


@dataclass(frozen=True)
class Accounts:
    """The environment that gives a ComfyUI alice, bob and the admin key, and their keys."""

    env: dict[str, str]
    keys: dict[str, str]


@pytest.fixture(scope="module")
def accounts(tmp_path_factory: pytest.TempPathFactory) -> Accounts:
    """Fresh accounts for one test module (pass ``accounts.env`` as ``real_comfyui_env``)."""
    return Accounts(*auth_environment(tmp_path_factory.mktemp("auth")))


@pytest.fixture
async def client(real_comfyui: RunningComfyUI, accounts: Accounts) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as http:
        yield Client(http, real_comfyui.url, accounts.keys)
