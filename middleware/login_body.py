"""Parsing of login and setup request bodies: JSON or a plain HTML form, strictly bounded.

The body is read with a hard cap (no handler ever buffers an unbounded upload), duplicated
form fields are refused rather than silently picking one, and every failure is a
``BadBody`` with a fixed message and the status it deserves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from ..core.errors import BadBody

MAX_BODY_BYTES = 16 * 1024
MAX_FIELD_LENGTH = 4096
JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"
_TRUE_WORDS = frozenset({"1", "true", "on", "yes"})


@dataclass(frozen=True)
class SubmittedFields:
    """The fields of a login or setup request, each a string (or absent)."""

    values: dict[str, str]
    from_form: bool

    def text(self, name: str) -> str:
        return self.values.get(name, "")

    def flag(self, name: str) -> bool:
        return self.values.get(name, "").strip().lower() in _TRUE_WORDS


def is_form_post(request: web.Request) -> bool:
    return request.content_type == FORM_TYPE


async def read_fields(request: web.Request) -> SubmittedFields:
    """The request's fields, from JSON or an urlencoded form; raise ``BadBody``."""
    raw = await _capped_body(request)
    if request.content_type == JSON_TYPE:
        return SubmittedFields(_json_fields(raw), from_form=False)
    if request.content_type == FORM_TYPE:
        return SubmittedFields(_form_fields(raw), from_form=True)
    raise BadBody("send the fields as JSON or as an HTML form")


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """A JSON object body (the account API takes JSON only), capped; raise ``BadBody``.

    A form post is refused too: the API's answers are JSON, and an HTML form from another
    site is exactly what the API must never act on.
    """
    if request.content_type != JSON_TYPE:
        raise BadBody("send the fields as a JSON object (Content-Type: application/json)")
    return _json_object(await _capped_body(request))


async def _capped_body(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise BadBody(f"request body larger than {MAX_BODY_BYTES} bytes", too_large=True)
    raw = await request.content.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise BadBody(f"request body larger than {MAX_BODY_BYTES} bytes", too_large=True)
    return raw


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        document: Any = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        # ValueError covers UnicodeDecodeError, JSONDecodeError and Python's limit on
        # integer digits (a 5000-digit number is not a JSON error but raises ValueError).
        raise BadBody("the body is not valid JSON") from None
    if not isinstance(document, dict):
        raise BadBody("the body must be a JSON object")
    return document


def _json_fields(raw: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in _json_object(raw).items():
        if isinstance(value, bool):
            fields[name] = "1" if value else ""
        elif isinstance(value, str):
            fields[name] = _bounded(value)
        elif value is not None:
            raise BadBody("every field must be a string (remember may be true or false)")
    return fields


def _form_fields(raw: bytes) -> dict[str, str]:
    try:
        pairs = parse_qsl(
            raw.decode("ascii"),
            keep_blank_values=True,
            strict_parsing=bool(raw),
            encoding="utf-8",
            errors="strict",
            max_num_fields=32,
        )
    except (UnicodeError, ValueError):
        raise BadBody("the form data is not valid") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            raise BadBody("a form field was sent twice")
        fields[name] = _bounded(value)
    return fields


def _bounded(value: str) -> str:
    if len(value) > MAX_FIELD_LENGTH:
        raise BadBody(f"a field is longer than {MAX_FIELD_LENGTH} characters", too_large=True)
    return value
