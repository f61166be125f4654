"""Node classes for ComfyUI's graph: none.

comfyui-auth adds no graph nodes. The mappings exist because ComfyUI counts a custom node
without ``NODE_CLASS_MAPPINGS`` as a failed import.
"""

from __future__ import annotations

NODE_CLASS_MAPPINGS: dict[str, type] = {}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
