"""Fill the "Current User" node (``nodes/current_user.py``) with who queues the prompt.

An ``on_prompt`` hook, so it runs inside ``POST /prompt`` after the middleware authenticated
the caller (``PROMPT_CALLER``) and before ComfyUI validates and queues the graph: whatever
the graph says in that node's hidden inputs is replaced. Without a caller (a prompt queued
from inside the server) the values are removed, and the node refuses to run.
"""

from __future__ import annotations

from typing import Any

from ..nodes.current_user import CLASS_TYPE, USER_ID_INPUT, USER_INPUT
from .host_users import host_user_id
from .queue_isolation import PROMPT_CALLER


def current_user_inputs(json_data: Any) -> Any:
    """An ``on_prompt`` hook: every Current User node gets the caller's name and id."""
    graph = json_data.get("prompt") if isinstance(json_data, dict) else None
    if not isinstance(graph, dict):
        return json_data
    caller = PROMPT_CALLER.get()
    for node in graph.values():
        if not isinstance(node, dict) or node.get("class_type") != CLASS_TYPE:
            continue
        inputs = node.get("inputs")
        inputs = dict(inputs) if isinstance(inputs, dict) else {}
        inputs.pop(USER_INPUT, None)
        inputs.pop(USER_ID_INPUT, None)
        if caller is not None:
            inputs[USER_INPUT] = caller.name
            inputs[USER_ID_INPUT] = host_user_id(caller.name)
        node["inputs"] = inputs
    return json_data
