"""What to push when a rollout changes: its head (status, progress, waves) on its page and its row on the
rollout list, a new rollout on top of the list, a device's row on the rollout's page.

The rollout pages' group is global (``groups.ROLLOUTS``) with one per site, as the fleet pages': a
rollout's head and rows go to the global group and to the groups of the sites its devices are in (one
query per change; its progress counts the whole rollout, the same bytes for each), a device's row to the
global group and its site's only. A firmware campaign's row on the list goes to the global group only.
``realtime.publish`` sends after commit and renders once per batch (many operations finishing at once
make one push of the head)."""

from __future__ import annotations

from functools import partial

from realtime import LiveEvent, groups, publish
from realtime.groups import EventType
from telemetry.models import RolloutDevice
from telemetry.rollouts import partials

DEVICE_ROWS_PUSHED = 100  # device rows one queue write pushes (a wave's claim may move thousands)


def rollout_groups(rollout_id: int) -> list[str]:
    """The groups that hear about a rollout: the global one and those of its devices' sites."""
    sites = RolloutDevice.objects.filter(rollout_id=rollout_id).values_list("endpoint__site_id", flat=True)
    return groups.of_sites(groups.ROLLOUTS, sites.distinct().order_by())


def rollout_changed(rollout_id: int, *, created: bool = False) -> None:
    heard = rollout_groups(rollout_id)
    new_row = partial(partials.render_new_row, str(rollout_id))
    row = partial(partials.render_row, str(rollout_id))
    head = partial(partials.render_head, rollout_id)
    for group in heard:
        if created:
            publish(group, LiveEvent(EventType.ROLLOUT, f"rollout-{rollout_id}-new", new_row))
        publish(group, LiveEvent(EventType.ROLLOUT, f"rollout-row-{rollout_id}", row))
        publish(group, LiveEvent(EventType.ROLLOUT, f"rollout-head-{rollout_id}", head))


def summary_changed(rollout_id: str) -> None:
    """A firmware campaign's row on the rollout list ("fw-7"; firmware calls it): the global group's."""
    row = partial(partials.render_row, rollout_id)
    publish(groups.ROLLOUTS, LiveEvent(EventType.ROLLOUT, f"rollout-row-{rollout_id}", row))


def member_changed(member_id: int) -> None:
    """A device's row on its rollout's page: the global group's, and its site's."""
    site_id = RolloutDevice.objects.filter(pk=member_id).values_list("endpoint__site_id", flat=True).first()
    row = partial(partials.render_member, member_id)
    for group in groups.of_device(groups.ROLLOUTS, site_id):
        publish(group, LiveEvent(EventType.ROLLOUT, f"rollout-device-{member_id}", row))
