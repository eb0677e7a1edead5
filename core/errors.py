"""The one exception type that services and API helpers raise for a client's mistake.

It carries the HTTP status the mistake deserves, a message naming the problem, and the field or LwM2M path
it concerns. ``core.api`` maps it to ``{"detail": "<path>: <problem>", "path": "<path>"}`` once, for
every API; the pages show the same text to the user.
"""

from __future__ import annotations

from typing import Any


class FieldhubError(Exception):
    status = 422

    def __init__(self, detail: str, *, path: str | None = None, status: int | None = None) -> None:
        super().__init__(f"{path}: {detail}" if path else detail)
        self.detail = detail
        self.path = path
        if status is not None:
            self.status = status

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"detail": str(self)}
        if self.path:
            body["path"] = self.path
        return body


class NotFound(FieldhubError):
    status = 404


class PermissionDenied(FieldhubError):
    status = 403


class Conflict(FieldhubError):
    status = 409


class LockedOut(FieldhubError):
    """Too many failed logins for a user name or from an address: refused until ``until``."""

    status = 429

    def __init__(self, detail: str, *, until: Any) -> None:
        super().__init__(detail)
        self.until = until


class Unavailable(FieldhubError):
    """A dependency is down or busy (the database unreachable, SQLite locked too long): retry later."""

    status = 503


def unavailable_from(exc: Exception) -> Unavailable | None:
    """The 503 that a database error deserves when it means "unavailable", not "bug" (which stays a 500)."""
    from django.db import InterfaceError, OperationalError

    if isinstance(exc, OperationalError | InterfaceError):
        return Unavailable("the database is unavailable or busy; retry in a few seconds")
    return None
