"""Live updates: ``publish(group, event)`` is the only way anything is sent to the browsers.

Call it inside the transaction that made the change: it sends after the commit, and never for a rollback.
"""

from __future__ import annotations

from django.db import transaction

from realtime.publisher import LiveEvent


def publish(group: str, event: LiveEvent) -> None:
    from realtime.publisher import publisher

    transaction.on_commit(lambda: publisher.submit(group, event))


__all__ = ["LiveEvent", "publish"]
