"""Rendering of the package's pages (sign-in, sign-out, setup, set-password) from ``web/``.

Each page is its own fragment (``web/<page>.html``) inside one frame (``web/page.html``: the
head, the card and the ComfyUI mark), so the pages look alike and change together. The
pages work without JavaScript (plain form posts), so the server fills in the return path,
the message and the visible form. Every value is HTML-escaped here, even those the caller
already validated.
"""

from __future__ import annotations

import functools
import html
from pathlib import Path
from string import Template
from typing import NamedTuple
from urllib.parse import quote

from ..core.password_policy import MIN_PASSWORD_LENGTH

WEB_DIR = Path(__file__).resolve().parent.parent / "web"


class Page(NamedTuple):
    """What the frame needs from a page besides its fragment."""

    title: str
    heading: str
    head: str = ""
    scripts: str = ""


PAGES = {
    "login.html": Page(
        "Sign in",
        "Sign in to ComfyUI",
        head='<script src="/auth/static/login.js" defer></script>\n',
    ),
    "logout.html": Page("Sign out", "Sign out of ComfyUI?"),
    "setup.html": Page("Create the administrator", "Create the first administrator"),
    "set_password.html": Page(
        "Choose your password",
        "Choose your password",
        scripts='<script src="/auth/static/set_password.js"></script>\n',
    ),
}


@functools.cache
def _template(name: str) -> Template:
    return Template((WEB_DIR / name).read_text(encoding="utf-8"))


def _render(name: str, **values: object) -> str:
    """The fragment ``name`` filled with ``values``, inside the frame."""
    page = PAGES[name]
    return _template("page.html").substitute(
        title=page.title,
        heading=page.heading,
        head=page.head,
        scripts=page.scripts,
        content=_template(name).substitute(**values),
    )


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
    return _render(
        "login.html",
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
    return _render("logout.html", user=_escape(user[:256]), csrf_token=_escape(csrf_token))


def render_setup_page(*, token: str, error: str | None = None) -> str:
    """The first-run page that creates the administrator."""
    message, message_class = _message(error, None)
    return _render(
        "setup.html", token=_escape(token), message=_escape(message), message_class=message_class
    )


def render_set_password_page(*, token: str, user: str, error: str | None = None) -> str:
    """The page of a one-time set-password link; without a user, only the message shows."""
    message, message_class = _message(error, None)
    return _render(
        "set_password.html",
        token=_escape(token),
        user=_escape(user),
        min_length=MIN_PASSWORD_LENGTH,
        message=_escape(message),
        message_class=message_class,
        form_hidden="" if user else "hidden",
    )
