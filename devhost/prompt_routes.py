"""``/prompt``, ``/queue``, ``/history``, ``/interrupt``, ``/free`` and ``/api/jobs``.

``POST /prompt`` keeps ComfyUI's order, which an auth layer relies on: the on-prompt
handlers run first, inside the request's task (so a context variable set by a middleware is
visible), then the number is chosen (``number`` in the body wins, ``front`` negates it),
the graph is validated, ``client_id`` moves into ``extra_data``, the ``sensitive`` keys move
out of it, and the six-element tuple is queued.
"""

from __future__ import annotations

import time
import uuid
from functools import partial
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from .host_double import HostDouble

SENSITIVE_EXTRA_DATA_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")


def _has_id(prompt_id: str, item: tuple[Any, ...]) -> bool:
    return bool(item[1] == prompt_id)


def _error(kind: str, message: str, details: str = "") -> dict[str, Any]:
    return {"type": kind, "message": message, "details": details, "extra_info": {}}


def validate_prompt(prompt: dict[str, Any], known: dict[str, Any]) -> dict[str, Any] | None:
    """ComfyUI's first checks: every node has a known ``class_type``, one is an output."""
    for node_id, node in prompt.items():
        class_type = node.get("class_type") if isinstance(node, dict) else None
        if class_type is None:
            return _error(
                "invalid_prompt",
                "Cannot execute because a node is missing the class_type property.",
                f"Node ID '#{node_id}'",
            )
        if class_type not in known:
            return _error(
                "invalid_prompt",
                f"Cannot execute because node {class_type} does not exist.",
                f"Node ID '#{node_id}'",
            )
    if not any(known[node["class_type"]]["output_node"] for node in prompt.values()):
        return _error("prompt_no_outputs", "Prompt has no outputs")
    return None


def add_prompt_routes(routes: web.RouteTableDef, host: HostDouble) -> None:
    """Register the queue routes of ``host`` on ``routes``."""
    queue = host.prompt_queue

    @routes.get("/prompt")
    async def get_prompt(request: web.Request) -> web.StreamResponse:
        return web.json_response(host.get_queue_info())

    @routes.post("/prompt")
    async def post_prompt(request: web.Request) -> web.StreamResponse:
        json_data = host.trigger_on_prompt(await request.json())
        if "number" in json_data:
            number: float = float(json_data["number"])
        else:
            number = -host.number if json_data.get("front") else host.number
            host.number += 1
        if "prompt" not in json_data:
            error = _error("no_prompt", "No prompt provided", "No prompt provided")
            return web.json_response({"error": error, "node_errors": {}}, status=400)
        prompt = json_data["prompt"]
        prompt_id = str(json_data.get("prompt_id", uuid.uuid4()))
        invalid = validate_prompt(prompt, host.node_definitions())
        if invalid is not None:
            return web.json_response({"error": invalid, "node_errors": {}}, status=400)
        extra_data = dict(json_data.get("extra_data", {}))
        if "client_id" in json_data:
            extra_data["client_id"] = json_data["client_id"]
        sensitive = {k: extra_data.pop(k) for k in SENSITIVE_EXTRA_DATA_KEYS if k in extra_data}
        extra_data["create_time"] = int(time.time() * 1000)
        outputs = [k for k, v in prompt.items() if v["class_type"] == "SaveImage"]
        queue.put((number, prompt_id, prompt, extra_data, outputs, sensitive))
        return web.json_response({"prompt_id": prompt_id, "number": number, "node_errors": {}})

    @routes.get("/queue")
    async def get_queue(request: web.Request) -> web.StreamResponse:
        running, pending = queue.get_current_queue_volatile()
        return web.json_response(
            {
                "queue_running": [item[:5] for item in running],
                "queue_pending": [item[:5] for item in pending],
            }
        )

    @routes.post("/queue")
    async def post_queue(request: web.Request) -> web.StreamResponse:
        json_data = await request.json()
        if json_data.get("clear"):
            queue.wipe_queue()
        for prompt_id in json_data.get("delete", []):
            queue.delete_queue_item(partial(_has_id, prompt_id))
        return web.Response(status=200)

    @routes.get("/history")
    async def get_history(request: web.Request) -> web.StreamResponse:
        query = request.rel_url.query
        max_items = int(query["max_items"]) if "max_items" in query else None
        offset = int(query["offset"]) if "offset" in query else -1
        return web.json_response(queue.get_history(max_items=max_items, offset=offset))

    @routes.get("/history/{prompt_id}")
    async def get_history_item(request: web.Request) -> web.StreamResponse:
        return web.json_response(queue.get_history(prompt_id=request.match_info["prompt_id"]))

    @routes.post("/history")
    async def post_history(request: web.Request) -> web.StreamResponse:
        json_data = await request.json()
        if json_data.get("clear"):
            queue.wipe_history()
        for prompt_id in json_data.get("delete", []):
            queue.delete_history_item(prompt_id)
        return web.Response(status=200)

    @routes.post("/interrupt")
    async def post_interrupt(request: web.Request) -> web.StreamResponse:
        """Nothing runs for long here; ComfyUI answers 200 whether or not it interrupted."""
        host.interrupts += 1
        return web.Response(status=200)

    @routes.post("/free")
    async def post_free(request: web.Request) -> web.StreamResponse:
        json_data = await request.json()
        for flag in ("unload_models", "free_memory"):
            if json_data.get(flag):
                queue.set_flag(flag, json_data[flag])
        return web.Response(status=200)

    _add_jobs_routes(routes, host)


def _job(item: tuple[Any, ...], status: str) -> dict[str, Any]:
    return {
        "id": item[1],
        "status": status,
        "priority": item[0],
        "create_time": item[3].get("create_time"),
        "outputs_count": 0,
    }


def _history_job(prompt_id: str, entry: dict[str, Any]) -> dict[str, Any]:
    failed = (entry.get("status") or {}).get("status_str") == "error"
    outputs = [
        dict(image, nodeId=node_id, mediaType="images")
        for node_id, node in entry.get("outputs", {}).items()
        for image in node.get("images", [])
    ]
    job = _job(entry["prompt"], "failed" if failed else "completed")
    job.update(id=prompt_id, outputs_count=len(outputs))
    if outputs:
        job["preview_output"] = outputs[0]
    return job


def _add_jobs_routes(routes: web.RouteTableDef, host: HostDouble) -> None:
    """``/api/jobs``: registered with its prefix, so ComfyUI also serves ``/api/api/jobs``."""

    def all_jobs() -> list[dict[str, Any]]:
        running, pending = host.prompt_queue.get_current_queue_volatile()
        jobs = [_job(item, "in_progress") for item in running]
        jobs += [_job(item, "pending") for item in pending]
        jobs += [_history_job(k, v) for k, v in host.prompt_queue.get_history().items()]
        return sorted(jobs, key=lambda job: job.get("create_time") or 0, reverse=True)

    @routes.get("/api/jobs")
    async def get_jobs(request: web.Request) -> web.StreamResponse:
        query = request.rel_url.query
        statuses = [s for s in query.get("status", "").split(",") if s]
        jobs = [job for job in all_jobs() if not statuses or job["status"] in statuses]
        try:  # ComfyUI's checks and words
            limit = int(query["limit"]) if "limit" in query else None
        except ValueError:
            return web.json_response({"error": "limit must be an integer"}, status=400)
        if limit is not None and limit <= 0:
            return web.json_response({"error": "limit must be a positive integer"}, status=400)
        try:
            offset = max(int(query.get("offset", 0)), 0)
        except ValueError:
            return web.json_response({"error": "offset must be an integer"}, status=400)
        page = jobs[offset:][:limit] if limit is not None else jobs[offset:]
        return web.json_response(
            {
                "jobs": page,
                "pagination": {
                    "offset": offset,
                    "limit": limit,
                    "total": len(jobs),
                    "has_more": offset + len(page) < len(jobs),
                },
            }
        )

    @routes.get("/api/jobs/{job_id}")
    async def get_job(request: web.Request) -> web.StreamResponse:
        wanted = request.match_info["job_id"]
        for job in all_jobs():
            if job["id"] == wanted:
                return web.json_response(job)
        return web.json_response({"error": "Job not found"}, status=404)
