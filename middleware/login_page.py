"""Rendering of the login and setup pages from the templates in ``web/``.

The pages work without JavaScript (plain form posts), so the server fills in the return
path, the message and the visible form. Every value is HTML-escaped here, even those the
caller already validated.
"""

from __future__ import annotations

import functools
import html
from pathlib import Path
from string import Template
from urllib.parse import quote

from ..core.password_policy import MIN_PASSWORD_LENGTH

WEB_DIR = Path(__file__).resolve().parent.parent / "web"


@functools.cache
def _template(name: str) -> Template:
    return Template((WEB_DIR / name).read_text(encoding="utf-8"))


def _escape(value: object) -> str:
    return html.escape(str(value), quote=True)


def _message(error: str | None, notice: str | None) -> tuple[str, str]:
    if error:
        return error, "error"
    if notice:
        return notice, "notice"
    return "", ""


def render_login_page(
    *,
    next_path: str,
    error: str | None = None,
    notice: str | None = None,
    retry_after: int | None = None,
    username: str = "",
    mode: str = "password",
) -> str:
    """The login page; ``mode`` "key" shows the API-key form first."""
    if retry_after and error:
        error = f"{error} Try again in {retry_after} seconds."
    message, message_class = _message(error, notice)
    key_mode = mode == "key"
    return _template("login.html").substitute(
        next_path=_escape(next_path),
        next_query=_escape(quote(next_path, safe="")),
        message=_escape(message),
        message_class=message_class,
        retry_after=_escape(retry_after or ""),
        username=_escape(username[:256]),
        password_hidden="hidden" if key_mode else "",
        key_hidden="" if key_mode else "hidden",
        use_key_hidden="hidden" if key_mode else "",
        use_password_hidden="" if key_mode else "hidden",
    )


def render_logout_page(*, user: str, csrf_token: str) -> str:
    """The same-origin confirmation a sign-out link shows when the browser cannot prove that
    the user followed it on this site: one button that posts the session's CSRF token."""
    return _template("logout.html").substitute(
        user=_escape(user[:256]), csrf_token=_escape(csrf_token)
    )


def render_setup_page(*, token: str, error: str | None = None) -> str:
    """The first-run page that creates the administrator."""
    message, message_class = _message(error, None)
    return _template("setup.html").substitute(
        token=_escape(token), message=_escape(message), message_class=message_class
    )


def render_set_password_page(*, token: str, user: str, error: str | None = None) -> str:
    """The page of a one-time set-password link; without a user, only the message shows."""
    message, message_class = _message(error, None)
    return _template("set_password.html").substitute(
        token=_escape(token),
        user=_escape(user),
        min_length=MIN_PASSWORD_LENGTH,
        message=_escape(message),
        message_class=message_class,
        form_hidden="" if user else "hidden",
    )
