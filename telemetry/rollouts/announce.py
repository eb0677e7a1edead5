"""What to push when a rollout changes: its head (status, progress, waves) on its page and its row on the
rollout list, a new rollout on top of the list, a device's row on the rollout's page.

The rollout pages' group is global (``groups.ROLLOUTS``) with one per site, as the fleet pages': a
rollout's head and rows (of every kind, firmware too) go to the global group and to the groups of the sites
it reaches (``Rollout.sites``, stored when it was made: one small read per change; its progress counts the
whole rollout, the same bytes for each), a device's row to the global group and its site's only.
``realtime.publish`` sends after commit and renders once per batch (many operations finishing at once
make one push of the head)."""

from __future__ import annotations

from functools import partial

from core.permissions import SYSTEM
from realtime import LiveEvent, groups, publish
from realtime.groups import EventType
from telemetry.models import RolloutDevice
from telemetry.rollouts import kinds, partials, selectors

DEVICE_ROWS_PUSHED = 100  # device rows one queue write pushes (a wave's claim may move thousands)


def rollout_groups(rollout_id: int) -> list[str]:
    """The groups that hear about a rollout: the global one and those of the sites it reaches (stored on it
    when it was made)."""
    _kind, sites = selectors.rollout_sites(user=SYSTEM, rollout_id=rollout_id)
    return groups.of_sites(groups.ROLLOUTS, sites)


def rollout_changed(rollout_id: int, *, created: bool = False, steered: bool = False) -> None:
    """A rollout changed: its head and list row (a new one, ``created``, on top of the list), for its
    groups; a rollout of another kind has its own pages told too (``kinds.Kind.changed``; ``steered``: its
    status changed, halted, paused, resumed or aborted)."""
    kind, sites = selectors.rollout_sites(user=SYSTEM, rollout_id=rollout_id)
    other = kinds.of(kind)
    new_row = partial(partials.render_new_row, rollout_id)
    row = partial(partials.render_row, rollout_id)
    head = partial(partials.render_head, rollout_id)
    for group in groups.of_sites(groups.ROLLOUTS, sites):
        if created:
            publish(group, LiveEvent(EventType.ROLLOUT, f"rollout-{rollout_id}-new", new_row))
        publish(group, LiveEvent(EventType.ROLLOUT, f"rollout-row-{rollout_id}", row))
        if other is None:
            publish(group, LiveEvent(EventType.ROLLOUT, f"rollout-head-{rollout_id}", head))
    if other is not None:
        other.changed(rollout_id, created, steered)


def member_changed(member_id: int) -> None:
    """A device's row on its rollout's page: the global group's, and its site's."""
    site_id = RolloutDevice.objects.filter(pk=member_id).values_list("endpoint__site_id", flat=True).first()
    row = partial(partials.render_member, member_id)
    for group in groups.of_device(groups.ROLLOUTS, site_id):
        publish(group, LiveEvent(EventType.ROLLOUT, f"rollout-device-{member_id}", row))
