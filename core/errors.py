"""The exceptions the credential and session code raises instead of HTTP answers.

Only ``middleware/responses.py`` turns them into status codes. No message here ever carries
attacker input or a secret: reasons are fixed strings chosen by this package.
"""

from __future__ import annotations

from pathlib import Path


class AuthError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(AuthError):
    """The configuration cannot be used; the server must stay closed until it is fixed."""

    def __init__(self, problem: str, *, fix: str, path: Path | None = None) -> None:
        self.problem = problem
        self.fix = fix
        self.path = path
        super().__init__(self.explanation)

    @property
    def explanation(self) -> str:
        """One sentence for the console and the 503 body: what, where, how to fix it."""
        where = f" in {self.path}" if self.path is not None else ""
        return f"{self.problem}{where}. Fix: {self.fix}"


class SharedStateUnavailable(AuthError):
    """The Redis store shared by several instances did not answer: refuse, never guess (503).

    The message names the variable and the kind of failure, never the URL or the client's own
    message: the URL can hold a password.
    """

    def __init__(self, cause: BaseException) -> None:
        self.cause = type(cause).__name__
        super().__init__(
            f"the Redis server named by COMFYUI_AUTH_REDIS_URL did not answer ({self.cause})"
        )


class MalformedCredentials(AuthError):
    """A credential was sent in a shape no client should produce (400, never 500)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class BadBody(AuthError):
    """A request body the server will not use: 413 when ``too_large``, else 400.

    The message is the package's own fixed wording, never a fragment of the body.
    """

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        self.message = message
        self.too_large = too_large
        super().__init__(message)
