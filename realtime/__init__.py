"""Live updates: ``publish(group, event)`` is the only way anything is sent to the browsers.

Call it inside the transaction that made the change: it sends after the commit, and never for a rollback.
Render what it sends with ``render(template, context)``: a fragment rendered so posts from the page that
receives it (realtime.tokens).
"""

from __future__ import annotations

from django.db import transaction

from realtime.publisher import LiveEvent
from realtime.tokens import render


def publish(group: str, event: LiveEvent) -> None:
    from realtime.publisher import publisher

    transaction.on_commit(lambda: publisher.submit(group, event))


__all__ = ["LiveEvent", "publish", "render"]
