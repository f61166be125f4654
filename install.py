"""Run by ComfyUI-Manager after it clones this folder: install the runtime requirements.

Uses the Python that runs ComfyUI, so the packages land where ComfyUI imports them. pip is
idempotent: requirements already satisfied are left alone. torch is never touched.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REQUIREMENTS = Path(__file__).resolve().parent / "requirements.txt"


def main() -> int:
    command = [sys.executable, "-m", "pip", "install", "-r", str(REQUIREMENTS)]
    result = subprocess.run(command, check=False)  # noqa: S603 - fixed command, our own file
    if result.returncode != 0:
        print(f"comfyui-auth: installing {REQUIREMENTS.name} failed; run: {' '.join(command)}")
        return result.returncode
    print(
        "comfyui-auth is installed. Restart ComfyUI: every route will then need credentials.\n"
        "Create the first administrator with the one-time link ComfyUI prints at start-up,\n"
        "or set COMFYUI_API_KEY (see the README)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
