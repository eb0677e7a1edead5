"""Every websocket group name, live event type, control message and close code, in one place.

Group names follow Channels' rules (ASCII letters, digits, ``-``, ``_``, ``.``; under 100 characters), so
devices are named by their database id, never by their endpoint name.
"""

from __future__ import annotations

DASHBOARD = "dashboard"
FIRMWARE = "firmware"
OPERATIONS = "operations"
EVENTS = "events"
ROLLOUTS = "rollouts"


def endpoint(endpoint_id: int) -> str:
    """Everything about one device."""
    return f"endpoint.{endpoint_id}"


def user(user_id: int) -> str:
    """Every socket of one user, whatever page: told to re-check its access when the user's access changes."""
    return f"user.{user_id}"


# Control messages to a socket (never shown in the browser): re-check the access of this socket now; the
# message may name (by its digest, realtime.access.session_digest) a session that was just revoked.
ACCESS_CHECK = "access.check"

# Close codes, sent after accepting so that the browser sees them. htmx's ws extension reconnects only
# after 1006, 1011, 1012 and 1013, so none of these makes a page reconnect by itself.
# (A server may close with 1000 or 3000-4999 only; daphne itself closes with 1009 a frame over its limit.)
CLOSE_FLOOD = 4429  # the client sent more than a listening page ever would
CLOSE_TOO_BIG = 4413  # one message larger than MAX_MESSAGE_BYTES (realtime.sockets)
CLOSE_NOT_AUTHENTICATED = 4401  # not logged in, or the session ended: logout, expiry, deactivated, new password
CLOSE_FORBIDDEN = 4403  # the user's role does not allow this socket (any more)
CLOSE_NOT_FOUND = 4404  # no such device, or no such websocket path


class EventType:
    """What a live event says happened (namespaced by the app that sends it)."""

    READING = "telemetry.reading"
    EVENT = "telemetry.event"
    STATUS = "endpoint.status"
    FLEET = "endpoint.fleet"
    OPERATION = "operation.status"
    FIRMWARE = "firmware.progress"
    CAMPAIGN = "firmware.campaign"
    ROLLOUT = "rollout.progress"
    HEARTBEAT = "realtime.heartbeat"
