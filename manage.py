"""Administer comfyui-auth from a shell: users, passwords, roles and API keys in auth.json.

Run it with the Python that runs ComfyUI, from any directory::

    python custom_nodes/comfyui-auth/manage.py add-user alice --role admin

This file only parses arguments and prints; the work is in ``core/admin_commands.py``.
Passwords are read with ``getpass`` (twice) or, for scripts, as one line of standard input
with ``--password-stdin``, never from the command line, where the process list and the
shell history would keep them. Errors are one line on stderr and exit status 1 (2 for a
command line that does not parse), never a traceback.
"""

from __future__ import annotations

import argparse
import getpass
import importlib.util
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

PACKAGE_ROOT = Path(os.path.abspath(__file__)).parent  # not resolve(): keep a symlinked folder
PRIVATE_PACKAGE_NAME = "_comfyui_auth_manage"


def _register_package() -> None:
    """Make this folder importable as a package when the file is run as a script.

    The folder is named by whoever cloned it, usually with a hyphen, so it cannot be
    imported by its name. It is registered under a private name from its location, without
    running its ``__init__.py`` (which installs the middleware on a live ComfyUI).
    """
    if PRIVATE_PACKAGE_NAME in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(
        PRIVATE_PACKAGE_NAME,
        PACKAGE_ROOT / "__init__.py",
        submodule_search_locations=[str(PACKAGE_ROOT)],
    )
    if spec is None:
        sys.exit(f"manage.py: error: cannot load the package from {PACKAGE_ROOT}")
    sys.modules[PRIVATE_PACKAGE_NAME] = importlib.util.module_from_spec(spec)


if not __package__:  # run as a script; imported (tests, mypy), the package is known
    _register_package()
    __package__ = PRIVATE_PACKAGE_NAME

try:
    from .core import admin_commands as commands
    from .core.errors import AuthError
    from .core.identity import Role
    from .core.set_password_links import PATH as SET_PASSWORD_PATH
    from .core.settings import Settings
except ImportError as missing:  # argon2-cffi absent from this Python
    sys.exit(
        f"manage.py: error: {missing}. Fix: run this with the Python that runs ComfyUI, or "
        f"install the requirements: {sys.executable} -m pip install -r "
        f"{PACKAGE_ROOT / 'requirements.txt'}"
    )

ROLES = [role.value for role in Role]
Run = Callable[[Settings, argparse.Namespace], None]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; the exit status is 0, 1 (refused or failed) or 2 (usage)."""
    args = build_parser().parse_args(argv)
    try:
        auth_file: Path | None = getattr(args, "auth_file", None)  # absent when not given
        settings = commands.resolve_settings(os.environ, PACKAGE_ROOT, auth_file)
        args.run(settings, args)
    except AuthError as error:
        return fail(str(error))
    except OSError as error:
        return fail(f"{error.strerror or error}: {error.filename or ''}".rstrip(": "))
    except (KeyboardInterrupt, EOFError):
        return fail("cancelled; nothing was changed")
    return 0


def fail(message: str) -> int:
    print(f"manage.py: error: {message}", file=sys.stderr)
    return 1


def new_password(settings: Settings, args: argparse.Namespace) -> str:
    """Ask for a password (twice) or read it from stdin, and hash it as the server would."""
    password = commands.read_new_password(
        args.name, from_stdin=args.password_stdin, stdin=sys.stdin, ask=ask_hidden
    )
    if settings.cheap_hashing_for_tests:
        print("warning: COMFYUI_AUTH_TEST_CHEAP_HASHING gives weak hashes", file=sys.stderr)
    return commands.hash_password(settings, password)


def ask_hidden(prompt: str) -> str:
    """``getpass``, refusing to fall back to a prompt that would show what is typed."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", getpass.GetPassWarning)
        try:
            return getpass.getpass(prompt)
        except getpass.GetPassWarning:
            raise commands.Refused(
                "there is no terminal to type the password in unseen; "
                "pipe it in with --password-stdin"
            ) from None


def add_user(settings: Settings, args: argparse.Namespace) -> None:
    role = Role(args.role)
    commands.ensure_user_can_be_added(settings, args.name, role)
    print(commands.add_user(settings, args.name, new_password(settings, args), role))


def passwd(settings: Settings, args: argparse.Namespace) -> None:
    commands.ensure_user_exists(settings, args.name)
    print(commands.change_password(settings, args.name, new_password(settings, args)))


def set_role(settings: Settings, args: argparse.Namespace) -> None:
    print(commands.set_role(settings, args.name, Role(args.role)))


def remove_user(settings: Settings, args: argparse.Namespace) -> None:
    print(commands.remove_user(settings, args.name))


def disable(settings: Settings, args: argparse.Namespace) -> None:
    print(commands.set_disabled(settings, args.name, True))


def enable(settings: Settings, args: argparse.Namespace) -> None:
    print(commands.set_disabled(settings, args.name, False))


def link(settings: Settings, args: argparse.Namespace) -> None:
    """The link's path alone goes to stdout (the tool does not know the server's address)."""
    commands.ensure_user_exists(settings, args.name)
    new_link = commands.create_set_password_link(settings, args.name)
    print(f"{SET_PASSWORD_PATH}?token={new_link.token}")
    print(new_link.message + " Prefix the path with the server's address.", file=sys.stderr)


def list_users(settings: Settings, args: argparse.Namespace) -> None:
    print(commands.list_users(settings))


def key_create(settings: Settings, args: argparse.Namespace) -> None:
    """The key alone goes to stdout (``KEY=$(manage.py key-create ...)``), the rest to stderr."""
    new_key = commands.create_key(settings, args.name, args.label, args.expires_days)
    print(new_key.token)
    print(new_key.message, file=sys.stderr)


def key_list(settings: Settings, args: argparse.Namespace) -> None:
    print(commands.list_keys(settings, args.name))


def key_revoke(settings: Settings, args: argparse.Namespace) -> None:
    print(commands.revoke_key(settings, args.key_id))


def check(settings: Settings, args: argparse.Namespace) -> None:
    print(commands.check(settings))


def build_parser() -> argparse.ArgumentParser:
    # --auth-file is accepted before and after the subcommand; SUPPRESS keeps a subcommand
    # that did not get it from overwriting the value given before it (the parsers share this
    # action, so it has no other default).
    auth_file = argparse.ArgumentParser(add_help=False)
    auth_file.add_argument(
        "--auth-file",
        type=Path,
        default=argparse.SUPPRESS,
        metavar="PATH",
        help="auth.json to edit (default: COMFYUI_AUTH_FILE, else "
        "<ComfyUI>/user/__auth/auth.json, two folders above this one)",
    )
    parser = argparse.ArgumentParser(
        prog="manage.py",
        description="Manage comfyui-auth users and API keys in auth.json. A running ComfyUI "
        "picks up every change within two seconds.",
        parents=[auth_file],
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run: Run, help_text: str) -> argparse.ArgumentParser:
        subparser = sub.add_parser(name, help=help_text, description=help_text, parents=[auth_file])
        subparser.set_defaults(run=run)
        return subparser

    def password_stdin(subparser: argparse.ArgumentParser) -> None:
        subparser.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from one line of standard input instead of prompting",
        )

    add = command("add-user", add_user, "add a user (the password is asked twice)")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, default=Role.USER.value)
    password_stdin(add)
    change = command("passwd", passwd, "set a user's password (asked twice)")
    change.add_argument("name")
    password_stdin(change)
    role = command("set-role", set_role, "make a user an admin or a plain user")
    role.add_argument("name")
    role.add_argument("--role", choices=ROLES, required=True)
    command("remove-user", remove_user, "remove a user and their API keys").add_argument("name")
    command("disable", disable, "disable a user: sessions end, keys stop").add_argument("name")
    command("enable", enable, "enable a disabled user again").add_argument("name")
    command("link", link, "print a one-time link that lets a user set their password").add_argument(
        "name"
    )
    command("list-users", list_users, "list users, roles, password forms and states")
    create = command("key-create", key_create, "create an API key for a user (shown once)")
    create.add_argument("name")
    create.add_argument("--label", required=True, help="what the key is for, e.g. laptop")
    create.add_argument("--expires-days", type=int, metavar="N", help="expire after N days")
    keys = command("key-list", key_list, "list API keys (never the keys themselves)")
    keys.add_argument("name", nargs="?", help="only this user's keys")
    command("key-revoke", key_revoke, "revoke an API key by its id").add_argument("key_id")
    command("check", check, "check the configuration as the server would read it")
    return parser


if __name__ == "__main__":
    sys.exit(main())
