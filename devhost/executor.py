"""A pretend ``prompt_worker``: runs queued prompts without a model.

ComfyUI's worker thread takes each queued prompt, sends progress over the WebSocket to the
client that queued it (``execution_start``, ``executing``, ``executed``,
``execution_success``), stores the outputs in the history without the ``sensitive`` part of
the tuple, and tells every client the new queue length. The double does the same, with a
copy of the demo image as every ``SaveImage`` output, so the frontend shows a result.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .media import DEMO_IMAGE

if TYPE_CHECKING:
    from .host_double import HostDouble


def _now_ms() -> int:
    return int(time.time() * 1000)


def _save_image(host: HostDouble, inputs: dict[str, Any]) -> dict[str, Any]:
    """Write the demo image as ``<prefix>_00001_.png``, named as ComfyUI's ``SaveImage``
    names it: through ``folder_paths.get_save_image_path`` (looked up at call time, so a
    custom node that wraps it, as this package does, decides the folder)."""
    folder_paths = sys.modules["folder_paths"]
    prefix = str(inputs.get("filename_prefix") or "ComfyUI")
    folder, filename, counter, subfolder, _ = folder_paths.get_save_image_path(
        prefix, str(host.output_dir)
    )
    name = f"{filename}_{counter:05}_.png"
    shutil.copyfile(host.output_dir / DEMO_IMAGE, Path(folder) / name)
    return {"images": [{"filename": name, "subfolder": subfolder, "type": "output"}]}


async def execute_next(host: HostDouble) -> str | None:
    """Run the next queued prompt; its prompt id, or None when the queue is empty."""
    taken = host.prompt_queue.get(timeout=0)
    if taken is None:
        return None
    item, task_id = taken
    prompt_id, prompt, extra_data = item[1], item[2], item[3]
    client = extra_data.get("client_id")
    host.client_id = client
    host.last_prompt_id = prompt_id
    messages: list[tuple[str, dict[str, Any]]] = []
    start = {"prompt_id": prompt_id, "timestamp": _now_ms()}
    messages.append(("execution_start", start))
    await host.send_json("execution_start", start, client)
    await host.send_json("execution_cached", {"nodes": [], **start}, client)
    results: dict[str, Any] = {}
    for node_id, node in prompt.items():
        host.last_node_id = node_id
        await host.send_json(
            "executing", {"node": node_id, "display_node": node_id, "prompt_id": prompt_id}, client
        )
        if node.get("class_type") == "SaveImage":
            results[node_id] = _save_image(host, node.get("inputs", {}))
            await host.send_json(
                "executed",
                {
                    "node": node_id,
                    "display_node": node_id,
                    "output": results[node_id],
                    "prompt_id": prompt_id,
                },
                client,
            )
    success = {"prompt_id": prompt_id, "timestamp": _now_ms()}
    messages.append(("execution_success", success))
    await host.send_json("execution_success", success, client)
    host.last_node_id = None
    host.prompt_queue.task_done(
        task_id,
        {"outputs": results, "meta": {}},
        {"status_str": "success", "completed": True, "messages": messages},
        process_item=lambda item: item[:5] + item[6:],
    )
    await host.send_json("executing", {"node": None, "prompt_id": prompt_id}, client)
    return str(prompt_id)


async def execute_pending(host: HostDouble) -> list[str]:
    """Run every queued prompt now (what a test calls instead of waiting for a worker)."""
    done = []
    while (prompt_id := await execute_next(host)) is not None:
        done.append(prompt_id)
    return done


def worker_context(host: HostDouble) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` that runs queued prompts in the background while the app serves."""

    async def run_prompts(app: web.Application) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                await execute_pending(host)
                await asyncio.sleep(0.1)

        task = asyncio.create_task(loop())
        yield
        task.cancel()

    return run_prompts
