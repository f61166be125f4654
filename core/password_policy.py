"""The rule a new password must meet, shared by the first-run setup page and ``manage.py``.

One rule in one place: an administrator created from the browser and one created from the
command line get the same minimum, and changing it here changes it for both.
"""

from __future__ import annotations

from .passwords import MAX_PASSWORD_LENGTH

MIN_PASSWORD_LENGTH = 12
"""Twelve characters: long enough that throttled online guessing gets nowhere."""


def password_problem(password: str) -> str | None:
    """Why ``password`` may not be set (one sentence, never quoting it), or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"The password needs at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"The password may have at most {MAX_PASSWORD_LENGTH} characters."
    return None
