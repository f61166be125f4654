"""Files the package keeps in ``user/__auth/``: private directory, signing key, atomic writes.

ComfyUI refuses every HTTP request for directories starting with ``__``, which makes that
directory the place for secrets. Everything here is created owner-only (0700/0600).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

from .errors import ConfigError

SIGNING_KEY_BYTES = 32


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (mode 0700) if needed; raise ``ConfigError`` when that is impossible."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(
            f"cannot create the state directory ({error.strerror})",
            fix="make the ComfyUI user directory writable, or set COMFYUI_AUTH_STATE_DIR",
            path=path,
        ) from None
    return path


def write_private_file(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``, mode 0600: temp file, fsync, rename.

    A reader (or a crash) sees either the old file or the new one, never half of either.
    """
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            os.fchmod(stream.fileno(), 0o600)
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(path: Path) -> None:
    with contextlib.suppress(OSError):
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def read_or_create_signing_key(path: Path) -> bytes:
    """The server's signing key, generated once (0600) and kept across restarts."""
    try:
        text = path.read_text("ascii").strip()
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(
            f"cannot read the signing key ({error})",
            fix="delete the file to have a new key generated (this signs everyone out)",
            path=path,
        ) from None
    if text:
        try:
            key = bytes.fromhex(text)
        except ValueError:
            key = b""
        if len(key) < SIGNING_KEY_BYTES:
            raise ConfigError(
                "the signing key file is damaged",
                fix="delete the file to have a new key generated (this signs everyone out)",
                path=path,
            )
        return key
    key = secrets.token_bytes(SIGNING_KEY_BYTES)
    ensure_private_dir(path.parent)
    write_private_file(path, key.hex().encode("ascii") + b"\n")
    return key
