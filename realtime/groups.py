"""Every websocket group name, live event type, control message and close code, in one place.

Group names follow Channels' rules (ASCII letters, digits, ``-``, ``_``, ``.``; under 100 characters), so
devices are named by their database id, never by their endpoint name.

The fleet pages' groups (``DASHBOARD``, ``FIRMWARE``, ``OPERATIONS``, ``EVENTS``, ``ROLLOUTS``, ``ALARMS``)
are for global roles: they hear about every device. A user whose role is on some sites only joins that
page's group of each of those sites instead (``on_site``: ``dashboard.site.3``), which hears about that
site's devices only; a device in no site is announced to the global group alone (``of_device``). A
fragment is rendered once per group, for that group's scope (``site_of``), so no socket is ever sent a
device it may not see.
"""

from __future__ import annotations

from collections.abc import Iterable

DASHBOARD = "dashboard"
FIRMWARE = "firmware"
OPERATIONS = "operations"
EVENTS = "events"
ROLLOUTS = "rollouts"
ALARMS = "alarms"


SITE = ".site."


def on_site(group: str, site_id: int) -> str:
    """A fleet page's group for the users of one site: ``on_site(DASHBOARD, 3) == "dashboard.site.3"``."""
    return f"{group}{SITE}{site_id}"


def site_of(group: str) -> int | None:
    """The site a fleet page's group is for (``on_site``), or None for the global group (or another)."""
    _, found, site = group.rpartition(SITE)
    return int(site) if found and site.isdigit() else None


def of_device(group: str, site_id: int | None) -> list[str]:
    """The groups of a fleet page that may hear about a device of site ``site_id`` (None: in no site, for
    global roles only): the global group, and that site's."""
    return [group] if site_id is None else [group, on_site(group, site_id)]


def of_sites(group: str, site_ids: Iterable[int | None]) -> list[str]:
    """The groups of a fleet page that may hear about something of these sites (a campaign's devices'):
    the global group and each site's, once each (None, a device in no site, adds none)."""
    sites = sorted({site for site in site_ids if site is not None})
    return [group, *(on_site(group, site) for site in sites)]


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
CLOSE_NOT_FOUND = 4404  # no such device (or one the user may not see), or no such websocket path
CLOSE_SCOPE_CHANGED = 4409  # the user's sites changed: the page reloads (fieldhub.js) and asks again


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
    ALARM = "alarm.changed"
    HEARTBEAT = "realtime.heartbeat"
