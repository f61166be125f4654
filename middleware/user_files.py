"""Per-user files on a shared ComfyUI: outputs, previews and uploads in each user's folder.

Layout: under each of ComfyUI's ``input/``, ``output/`` and ``temp/`` every user has a folder
named like their ComfyUI user id (``host_users.host_user_id``: ``auth_alice``). What lies
there is theirs; ``input/`` outside every user folder is shared (ComfyUI's example images,
what an administrator puts there); everything else in ``output/`` and ``temp/`` (files from
before this package, nodes that write without ComfyUI's naming helper) is for administrators.
Administrators reach every file.

- Writes: ComfyUI's nodes name their files through ``folder_paths.get_save_image_path``;
  the package wraps it so that the files of a prompt land in its owner's folder, and the
  ``subfolder`` in history and on the socket says so. Uploads (``/upload/image``,
  ``/upload/mask``) get the caller's folder in front of their ``subfolder``.
- Reads: ``/view`` and ``/upload/mask``'s ``original_ref`` are resolved exactly as ComfyUI's
  handlers resolve them, and a user may reach only their own and shared files; a prompt may
  name no other file (``LoadImage`` of ``../output/auth_bob/x.png`` or ``x.png [output]``).
- Lists: ``/object_info``'s file choices keep the shared and the caller's own files.
- Other custom nodes' routes: a query that any reading of it (``node_readings``) would take
  into another user's folder, or into ``user/`` outside the caller's own, is refused
  (``custom_node_file_refusal``); ComfyUI's own routes never get this check.

Files stay where ComfyUI put them, so ownership survives a restart.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from ..core.identity import Identity
from . import responses
from .host_users import host_user_id, is_user_folder, only_the_caller
from .isolated_call import Call, RuleTable, rewrite
from .runtime import AuthRuntime

NOT_YOUR_FILE = "this file belongs to another user"
ADMIN_ONLY = "this route is for administrators"
UPLOAD_TYPES = ("input", "temp", "output")
UPLOAD_FLAGS = {"image_upload": "image", "video_upload": "video", "audio_upload": "audio"}
MAX_LISTED = 5000
"""At most this many of a user's own files are added to one file choice of ``/object_info``."""

REQUEST_CALLER: ContextVar[Identity | None] = ContextVar("comfyui_auth_caller", default=None)
"""The signed-in caller of the request being handled (set by the middleware)."""


@dataclass(frozen=True)
class FileRoots:
    """ComfyUI's data folders, absolute, as its ``folder_paths`` names them."""

    input: str
    output: str
    temp: str
    user: str

    @classmethod
    def of(cls, folder_paths: Any) -> FileRoots:
        return cls(
            *(
                os.path.abspath(getter())
                for getter in (
                    folder_paths.get_input_directory,
                    folder_paths.get_output_directory,
                    folder_paths.get_temp_directory,
                    folder_paths.get_user_directory,
                )
            )
        )

    def may_use(self, path: str, folder: str) -> bool:
        """May the user whose folder is ``folder`` read (or load) the file at ``path``?"""
        path = os.path.abspath(path)
        if _inside(self.user, path):  # workflows of others, the package's own secrets
            return False
        for root in (self.input, self.output, self.temp):
            if _inside(root, path):
                first = _top_folder(root, path)
                if first == folder:
                    return True
                if first and is_user_folder(first):
                    return False
                return root == self.input  # input/ outside user folders is shared
        return True  # models and the like: no user's data

    def is_off_limits(self, path: str, folder: str) -> bool:
        """Is the file at ``path`` closed to the user whose folder is ``folder``: in another
        user's folder under ``input/``, ``output/`` or ``temp/`` (one that exists: a value
        such as ``auth_token`` names no folder until a user ``token`` has files), or
        anywhere under ``user/`` but their own folder there (other users' workflows, the
        package's secrets)? Files outside every user folder are nobody's in particular."""
        path = os.path.abspath(path)
        if _inside(self.user, path):
            return _top_folder(self.user, path) != folder
        for root in (self.input, self.output, self.temp):
            if _inside(root, path):
                first = _top_folder(root, path)
                return (
                    first != folder
                    and is_user_folder(first)
                    and os.path.isdir(os.path.join(root, first))
                )
        return False


def _inside(root: str, path: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _top_folder(root: str, path: str) -> str:
    """The first part of ``path`` under ``root`` (which holds it); empty for ``root`` itself."""
    parts = Path(os.path.relpath(path, root)).parts
    return parts[0] if parts else ""


def _roots(call: Call) -> FileRoots | None:
    folder_paths = call.runtime.host.folder_paths
    return None if folder_paths is None else FileRoots.of(folder_paths)


# Writes: the prompt's owner decides where its files go.


def install_save_path_hook(runtime: AuthRuntime) -> None:
    """Wrap ``folder_paths.get_save_image_path`` so each prompt writes in its owner's folder.

    The owner is the signed-in caller when a request handler saves a file, else the owner
    of the prompt ComfyUI's worker runs (``PromptServer.last_prompt_id``, recorded before the
    prompt was queued). A prefix that would leave that folder (``../auth_bob/x``) fails the
    node with an error instead of writing elsewhere.
    """
    folder_paths = runtime.host.folder_paths
    original = getattr(folder_paths, "get_save_image_path", None)
    if folder_paths is None or original is None:
        return
    server = runtime.host.prompt_server

    def owner_folder() -> str | None:
        caller = REQUEST_CALLER.get()
        if caller is not None:
            return host_user_id(caller.name)
        owner = runtime.prompt_owners.owner(str(getattr(server, "last_prompt_id", "")))
        return host_user_id(owner) if owner is not None else None

    def get_save_image_path(
        filename_prefix: str, output_dir: str, image_width: int = 0, image_height: int = 0
    ) -> Any:
        folder = owner_folder()
        roots = FileRoots.of(folder_paths)
        if folder is not None and os.path.abspath(output_dir) in (roots.output, roots.temp):
            prefixed = os.path.normpath(os.path.join(folder, str(filename_prefix).lstrip("/\\")))
            if not (prefixed == folder or prefixed.startswith(folder + os.sep)):
                raise ValueError("filename_prefix must stay inside your own output folder")
            filename_prefix = prefixed
        return original(filename_prefix, output_dir, image_width, image_height)

    get_save_image_path.__wrapped__ = original  # type: ignore[attr-defined]
    folder_paths.get_save_image_path = get_save_image_path


# Reads and uploads: the rules for non-administrators.


def resolve_stored_file(
    folder_paths: Any, name: str, kind: str, subfolder: str | None, *, basename: bool
) -> str | None:
    """The path ComfyUI's ``/view`` (``basename``) or mask upload resolves, None if refused.

    The same steps as its handlers: the ``[output]``-style annotation picks the folder, else
    the ``type``; ``..`` and absolute names are refused (ComfyUI answers 400 to them).
    """
    filename, directory = folder_paths.annotated_filepath(name)
    if not filename or filename[0] == "/" or ".." in filename:
        return None
    if directory is None:
        directory = folder_paths.get_directory_by_type(kind)
    if directory is None:
        return None
    if subfolder:
        directory = os.path.join(directory, subfolder)
    return str(os.path.join(directory, os.path.basename(filename) if basename else filename))


async def _view(call: Call) -> web.StreamResponse:
    query = call.request.rel_url.query
    name = query.get("filename")
    roots = _roots(call)
    if name is None or roots is None:
        return await call.forward()
    if name.startswith("blake3:"):  # ComfyUI's asset table cannot say whose the file is
        return responses.forbidden("files by hash are for administrators")
    path = resolve_stored_file(
        call.runtime.host.folder_paths,
        name,
        query.get("type", "output"),
        query.get("subfolder"),
        basename=True,
    )
    if path is not None and not roots.may_use(path, call.folder):
        return responses.forbidden(NOT_YOUR_FILE)
    return await call.forward()


FILE_QUERY = ("filename", "subfolder", "type")
"""How ComfyUI's ``/view`` addresses a file in the query, and custom nodes imitating it."""


def custom_node_file_refusal(
    folder_paths: Any, query: MultiDictProxy[str], folder: str, path_values: Iterable[str] = ()
) -> str | None:
    """Why a custom node's route may not get this request, when it names a file or folder
    closed to the caller in its query or its path parameters (``path_values``).

    Custom nodes read the files a request names in their own ways, often with no check for
    ``..`` (``node_readings``); none of those readings may be off limits
    (``FileRoots.is_off_limits``). A ``/view``-style query that names a part twice is
    refused as well, since nodes differ in which value they read.
    """
    if "filename" in query and any(len(query.getall(name, ())) > 1 for name in FILE_QUERY):
        return "the query names filename, subfolder or type more than once"
    roots = FileRoots.of(folder_paths)
    readings = node_readings(roots, folder_paths, query, path_values)
    if any(roots.is_off_limits(path, folder) for path in readings):
        return NOT_YOUR_FILE
    return None


def node_readings(
    roots: FileRoots, folder_paths: Any, query: MultiDictProxy[str], path_values: Iterable[str]
) -> Iterator[str]:
    """Every path a custom node may read for a request.

    - Every value of the query and of the path, quotes and spaces around it dropped, under
      ``input/``, ``output/`` and ``temp/`` (a node's own ``?dir=auth_bob``) and, when it
      holds a separator, as a path of its own (VideoHelperSuite's ``/vhs/getpath`` lists the
      folder in ``path``): a plain word such as ``?role=user`` is no path, though ComfyUI
      usually runs in the folder that holds ``user/``.
    - ``/view``'s way (VideoHelperSuite's ``/vhs/viewvideo``, say): ``type`` (``output`` when
      absent) or an ``[output]``-style annotation picks the folder, or the name's own folder
      (``type=path``); then ``subfolder`` and the name, whole or its last part alone.
    """
    for value in (*query.values(), *path_values):
        each = _unquoted(value)
        if each:
            if "/" in each or os.sep in each:
                yield each
            yield from (
                os.path.join(root, each) for root in (roots.input, roots.output, roots.temp)
            )
    if "filename" not in query:
        return
    raw = query["filename"]
    names: set[str] = set()
    folders = {folder_paths.get_directory_by_type(query.get("type", "output"))}
    for sent in (raw, _unquoted(raw)):
        name, annotated = folder_paths.annotated_filepath(sent)
        names |= {sent, name, os.path.basename(name), os.path.basename(sent)}
        folders |= {annotated, os.path.dirname(name)}
    subfolder = query.get("subfolder", "")
    for directory in folders - {None}:
        for each in names:
            yield os.path.join(directory, subfolder, each)


def _unquoted(value: str) -> str:
    return value.strip().strip("\"'").strip()


async def custom_node_route(call: Call) -> web.StreamResponse:
    """Every route of another custom node (``RouteInfo.checks_file_names``), for
    non-administrators: see ``custom_node_file_refusal``. What a node serves in other ways
    is up to the node."""
    folder_paths = call.runtime.host.folder_paths
    request = call.request
    path_values = request.match_info.values()
    if folder_paths is not None and ("?" in request.raw_path or path_values):
        refused = custom_node_file_refusal(
            folder_paths, request.rel_url.query, call.folder, path_values
        )
        if refused is not None:
            return responses.forbidden(refused)
    return await call.forward()


async def _upload(call: Call) -> web.StreamResponse:
    """``/upload/image`` and ``/upload/mask``: the upload lands in the caller's own folder.

    The multipart body is parsed once, here; ComfyUI's handler gets the same parsed form
    (aiohttp keeps it on the request) with the caller's folder in front of ``subfolder``.
    """
    roots = _roots(call)
    if roots is None:
        return await call.forward()
    form = await call.request.post()
    kind = form.get("type") or "input"
    subfolder = form.get("subfolder", "")
    if not isinstance(kind, str) or kind not in UPLOAD_TYPES or not isinstance(subfolder, str):
        return responses.bad_request('"type" must be input, temp or output; "subfolder" text')
    filename = getattr(form.get("image"), "filename", None) or ""
    own_subfolder = _own_upload_folder(getattr(roots, kind), call.folder, subfolder, filename)
    if own_subfolder is None:
        return responses.forbidden("an upload must stay inside your own folder")
    refusal = _mask_source_refusal(call, roots, form)
    if refusal is not None:
        return refusal
    changed: MultiDict[Any] = MultiDict(form)
    changed["subfolder"] = own_subfolder
    call.request._post = MultiDictProxy(changed)
    if await call.request.post() is not call.request._post:
        return responses.cannot_isolate()  # never pass the unchanged form on
    return await call.forward()


def _own_upload_folder(root: str, folder: str, subfolder: str, filename: str) -> str | None:
    """``subfolder`` moved into the caller's folder, or None if the file would land outside.

    ComfyUI joins ``root``, ``normpath(subfolder)`` and the file name and checks only that
    the result stays in ``root``; here it must stay in the caller's own folder.
    """
    own = os.path.normpath(os.path.join(folder, subfolder.lstrip("/\\")))
    target = os.path.abspath(os.path.join(root, own, filename))
    return own if _inside(os.path.join(root, folder), target) else None


def _mask_source_refusal(
    call: Call, roots: FileRoots, form: MultiDictProxy[Any]
) -> web.StreamResponse | None:
    """``/upload/mask`` reads ``original_ref``'s image: it must be one the caller may read."""
    raw = form.get("original_ref")
    if raw is None:
        return None
    try:
        reference = json.loads(raw) if isinstance(raw, str) else None
    except (ValueError, RecursionError):
        reference = None
    if not isinstance(reference, dict) or not isinstance(reference.get("filename"), str):
        return responses.bad_request('"original_ref" must be a JSON object with a filename')
    kind, subfolder = reference.get("type", "output"), reference.get("subfolder", "")
    if not isinstance(kind, str) or not isinstance(subfolder, str):
        return responses.bad_request('"original_ref" has a type or subfolder that is not text')
    path = resolve_stored_file(
        call.runtime.host.folder_paths, reference["filename"], kind, subfolder, basename=False
    )
    if path is not None and not roots.may_use(path, call.folder):
        return responses.forbidden(NOT_YOUR_FILE)
    return None


def refused_file_reference(call: Call, graph: object) -> str | None:
    """Why a user's graph may not run, when one of its inputs names another user's file.

    Every text input that names a path (a separator, or an ``[output]``-style annotation) is
    resolved as ComfyUI's loaders resolve it (the annotation picks the folder, else
    ``input/``); a bare name lies at the top of ``input/``, which is shared (a user's own
    name, as the Current User node carries it, is no file), and text that is no file name
    resolves to a shared or non-existent path and passes.
    """
    folder_paths = call.runtime.host.folder_paths
    if folder_paths is None or not isinstance(graph, dict):
        return None
    roots = FileRoots.of(folder_paths)
    for node in graph.values():
        inputs = node.get("inputs") if isinstance(node, dict) else None
        if not isinstance(inputs, dict):
            continue
        for value in inputs.values():
            if not isinstance(value, str) or "\x00" in value:
                continue
            name, directory = folder_paths.annotated_filepath(value)
            if directory is None and "/" not in name and "\\" not in name:
                continue  # the top of input/ is shared; a bare user folder name is no file
            path = os.path.join(directory or roots.input, name)
            if not roots.may_use(path, call.folder):
                return "the workflow names a file of another user"
    return None


async def _object_info(call: Call) -> web.StreamResponse:
    """File choices keep shared and own files; the caller's uploads are offered too."""
    roots = _roots(call)
    if roots is None:
        return await call.forward()
    folder_paths = call.runtime.host.folder_paths
    assert folder_paths is not None  # noqa: S101 - _roots found it
    own_files = _own_uploads(roots, call.folder)

    def cut(choices: list[Any], spec: dict[str, Any]) -> list[Any]:
        kept = [
            choice
            for choice in choices
            if not isinstance(choice, str) or _choice_allowed(folder_paths, roots, choice, call)
        ]
        content = next((UPLOAD_FLAGS[flag] for flag in UPLOAD_FLAGS if spec.get(flag)), None)
        if content is not None and own_files:
            kept += folder_paths.filter_files_content_types(own_files, [content])
        return kept

    def filter_nodes(info: Any) -> Any:
        if not isinstance(info, dict):
            return info
        for node in info.values():
            sections = node.get("input", {}) if isinstance(node, dict) else {}
            for section in sections.values() if isinstance(sections, dict) else ():
                for name, spec in section.items() if isinstance(section, dict) else ():
                    section[name] = _cut_spec(spec, cut)
        return info

    return rewrite(await call.forward(), filter_nodes)


def _cut_spec(spec: Any, cut: Callable[[list[Any], dict[str, Any]], list[Any]]) -> Any:
    """An input spec with its file choices cut: ``[[...], {...}]`` or ``["COMBO", {options}]``."""
    if not isinstance(spec, list) or not spec:
        return spec
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if isinstance(spec[0], list):
        return [cut(spec[0], options), *spec[1:]]
    if spec[0] == "COMBO" and isinstance(options.get("options"), list):
        return [spec[0], {**options, "options": cut(options["options"], options)}, *spec[2:]]
    return spec


def _choice_allowed(folder_paths: Any, roots: FileRoots, choice: str, call: Call) -> bool:
    name, directory = folder_paths.annotated_filepath(choice)
    return roots.may_use(os.path.join(directory or roots.input, name), call.folder)


def _own_uploads(roots: FileRoots, folder: str) -> list[str]:
    """``auth_alice/x.png``-style names of the caller's files in ``input/`` (bounded)."""
    base = Path(roots.input) / folder
    found: list[str] = []
    for directory, _, files in os.walk(base):
        for name in sorted(files):
            if not name.startswith("."):
                found.append(Path(directory, name).relative_to(roots.input).as_posix())
            if len(found) >= MAX_LISTED:
                return found
    return found


async def own_users(call: Call) -> web.StreamResponse:
    """``GET /users`` for everyone: in multi-user mode the caller alone, never the others.

    The frontend then takes the one listed id as its user (``inject.js``), so it opens
    straight into the caller's workspace instead of a user-selection screen.
    """
    return rewrite(await call.forward(), lambda a: only_the_caller(a, call.folder, call.user))


async def _listing(call: Call) -> web.StreamResponse:
    """``/internal/files/{type}`` lists the top of a folder: ``input/``'s files are shared,
    those at the top of ``output/`` and ``temp/`` are administrators' (the frontend lists
    only ``input/``). The type is the router's own decoded value, as the handler reads it."""
    if call.request.match_info.get("directory_type") in ("output", "temp"):
        return responses.forbidden(ADMIN_ONLY)
    return await call.forward()


FILE_RULES: RuleTable = {
    ("GET", "/internal/files/{directory_type}"): _listing,
    ("GET", "/view"): _view,
    ("POST", "/upload/image"): _upload,
    ("POST", "/upload/mask"): _upload,
    ("GET", "/object_info"): _object_info,
    ("GET", "/object_info/{node_class}"): _object_info,
}
"""What non-administrators get on the file routes."""
