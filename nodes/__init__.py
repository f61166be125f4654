"""Node classes for ComfyUI's graph: the "Current User" node.

Imports nothing of ComfyUI's or of the rest of the package, so tests import it as it is.
"""

from __future__ import annotations

from .current_user import CLASS_TYPE, CurrentUser

NODE_CLASS_MAPPINGS: dict[str, type] = {CLASS_TYPE: CurrentUser}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {CLASS_TYPE: "Current User"}
