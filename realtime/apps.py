from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.apps import AppConfig

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.http import HttpRequest


class RealtimeConfig(AppConfig):
    name = "realtime"

    def ready(self) -> None:
        """A user's open sockets are checked again when the user's access changes, and a logged-out
        session's sockets are closed (realtime.access_changed); any other path (the Django admin,
        ``changepassword``, expiry) is caught by the periodic check (realtime.sockets)."""
        from django.contrib.auth.signals import user_logged_out

        from core.signals import user_access_changed

        user_access_changed.connect(_access_changed, dispatch_uid="realtime.access_changed")
        user_logged_out.connect(_logged_out, dispatch_uid="realtime.logged_out")


def _access_changed(sender: type[User], user_id: int, **kwargs: Any) -> None:
    from realtime import access_changed

    access_changed(user_id=user_id)


def _logged_out(sender: type[User] | type[None], request: HttpRequest, user: User | None, **kwargs: Any) -> None:
    from realtime import access_changed

    session = getattr(request, "session", None)
    if user is not None and session is not None and session.session_key:
        access_changed(user_id=user.pk, session_key=session.session_key)
