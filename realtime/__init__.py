"""Live updates: ``publish(group, event)`` is the only way anything is sent to the browsers.

Call it inside the transaction that made the change: it sends after the commit, and never for a rollback.
Render what it sends with ``render(template, context)``: a fragment rendered so posts from the page that
receives it (realtime.tokens). ``access_changed(user_id=...)`` likewise makes the user's open sockets check
their access again.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from realtime.publisher import LiveEvent
from realtime.tokens import render


def publish(group: str, event: LiveEvent) -> None:
    from realtime.publisher import publisher

    transaction.on_commit(lambda: publisher.submit(group, event))


def access_changed(*, user_id: int, session_key: str | None = None) -> None:
    """After the commit: every open socket of the user checks its session again (realtime.sockets), and the
    sockets of ``session_key`` (a session that just ended: logout) close at once."""
    from realtime import groups
    from realtime.access import session_digest
    from realtime.publisher import publisher

    message: dict[str, Any] = {"type": groups.ACCESS_CHECK}
    if session_key:
        message["session"] = session_digest(session_key)
    transaction.on_commit(lambda: publisher.signal(groups.user(user_id), message))


__all__ = ["LiveEvent", "access_changed", "publish", "render"]
