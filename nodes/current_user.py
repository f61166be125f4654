"""The "Current User" node: who queued the prompt, for filename prefixes and per-user paths.

The values cannot be typed into the graph: they are hidden inputs (the frontend shows no
widget for them), and the package's ``on_prompt`` hook (``middleware/current_user.py``)
overwrites them in every node of this class with the caller that the server authenticated,
whatever the graph said. A prompt that did not pass that hook has no such values, and the
node refuses to run rather than output a name nobody vouched for.
"""

from __future__ import annotations

from typing import Any

CLASS_TYPE = "ComfyUIAuthCurrentUser"
USER_INPUT = "comfyui_auth_user"
USER_ID_INPUT = "comfyui_auth_user_id"
NOT_QUEUED_BY_SERVER = "Current User: this prompt was not queued through comfyui-auth"


class CurrentUser:
    """Outputs the signed-in user's name and a filesystem-safe id of that user."""

    CATEGORY = "comfyui-auth"
    DESCRIPTION = (
        "The user who queued this prompt, as the server signed them in: their name, and an "
        "id safe in file and folder names (letters, digits, _ and -). Use the id in a "
        "filename_prefix such as users/<id>/image to keep each user's outputs apart. "
        "Editing the workflow cannot change either value."
    )
    RETURN_TYPES = ("STRING", "STRING")
    RETURN_NAMES = ("user", "user_id")
    OUTPUT_TOOLTIPS = ("the user's name", "the user's id, safe in file names")
    FUNCTION = "current_user"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:  # noqa: N802 - ComfyUI's name
        return {"required": {}, "hidden": {USER_INPUT: "STRING", USER_ID_INPUT: "STRING"}}

    def current_user(self, **hidden: str | None) -> tuple[str, str]:
        user, user_id = hidden.get(USER_INPUT), hidden.get(USER_ID_INPUT)
        if not user or not user_id:
            raise ValueError(NOT_QUEUED_BY_SERVER)
        return user, user_id
