"""Where the host double keeps its files: ComfyUI's directory layout under one base directory.

ComfyUI's ``--base-directory DIR`` gives an instance its own ``user/``, ``input/``,
``output/``, ``temp/`` and ``models/``; the double does the same, so a custom node that asks
``folder_paths`` for a directory gets one inside the test's temporary folder, never the
developer's real data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SYSTEM_USER_PREFIX = "__"
MODEL_FOLDERS = ("checkpoints", "loras", "vae", "embeddings", "upscale_models")
MODEL_EXTENSIONS = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
DIRECTORY_TYPES = ("output", "input", "temp")


@dataclass(frozen=True)
class Folders:
    """The directories of one host, all under ``base``."""

    base: Path

    @property
    def user(self) -> Path:
        return self.base / "user"

    @property
    def output(self) -> Path:
        return self.base / "output"

    @property
    def input(self) -> Path:
        return self.base / "input"

    @property
    def temp(self) -> Path:
        return self.base / "temp"

    @property
    def models(self) -> Path:
        return self.base / "models"

    def create(self) -> None:
        """Make every directory, as ComfyUI does at start-up."""
        for folder in (self.user, self.output, self.input, self.temp):
            folder.mkdir(parents=True, exist_ok=True)
        for name in MODEL_FOLDERS:
            (self.models / name).mkdir(parents=True, exist_ok=True)

    def by_type(self, type_name: str) -> Path | None:
        """``folder_paths.get_directory_by_type``: only the three served over HTTP."""
        return {"output": self.output, "input": self.input, "temp": self.temp}.get(type_name)

    def annotated(self, name: str) -> tuple[str, Path | None]:
        """``folder_paths.annotated_filepath``: ``"x.png [input]"`` names its directory."""
        for type_name in DIRECTORY_TYPES:
            suffix = f"[{type_name}]"
            if name.endswith(suffix):
                return name[: -len(suffix) - 1], self.by_type(type_name)
        return name, None

    def system_user(self, name: str = "system") -> Path:
        """``folder_paths.get_system_user_directory``: ``user/__<name>``, never served."""
        if not name or not name.replace("_", "").isalnum() or name.startswith("_"):
            raise ValueError(f"invalid system user name: {name!r}")
        return self.user / f"{SYSTEM_USER_PREFIX}{name}"

    def public_user(self, user_id: str) -> Path | None:
        """``folder_paths.get_public_user_directory``: None for a system (``__``) user."""
        if not user_id or user_id.startswith(SYSTEM_USER_PREFIX):
            return None
        return self.user / user_id

    def model_folders(self) -> dict[str, list[Path]]:
        return {name: [self.models / name] for name in MODEL_FOLDERS}

    def model_files(self, folder: str) -> list[str] | None:
        """``folder_paths.get_filename_list``; None for an unknown folder (a 404)."""
        if folder not in MODEL_FOLDERS:
            return None
        root = self.models / folder
        return sorted(
            path.relative_to(root).as_posix()
            for path in root.rglob("*")
            if path.is_file() and path.suffix in MODEL_EXTENSIONS
        )
