"""What to push when a rollout changes: its head (status, progress, waves) on its page and its row on the
rollout list (``groups.ROLLOUTS``), a new rollout on top of the list, a device's row on the rollout's page.
``realtime.publish`` sends after commit and renders once per batch (many operations finishing at once
make one push of the head)."""

from __future__ import annotations

from functools import partial

from realtime import LiveEvent, groups, publish
from realtime.groups import EventType
from telemetry.rollouts import partials

DEVICE_ROWS_PUSHED = 100  # device rows one queue write pushes (a wave's claim may move thousands)


def rollout_changed(rollout_id: int, *, created: bool = False) -> None:
    if created:
        row = partial(partials.render_new_row, str(rollout_id))
        publish(groups.ROLLOUTS, LiveEvent(EventType.ROLLOUT, f"rollout-{rollout_id}-new", row))
    summary_changed(str(rollout_id))
    head = partial(partials.render_head, rollout_id)
    publish(groups.ROLLOUTS, LiveEvent(EventType.ROLLOUT, f"rollout-head-{rollout_id}", head))


def summary_changed(rollout_id: str) -> None:
    """A rollout's row on the rollout list, of any kind (firmware calls it for its campaigns: "fw-7")."""
    row = partial(partials.render_row, rollout_id)
    publish(groups.ROLLOUTS, LiveEvent(EventType.ROLLOUT, f"rollout-row-{rollout_id}", row))


def member_changed(member_id: int) -> None:
    row = partial(partials.render_member, member_id)
    publish(groups.ROLLOUTS, LiveEvent(EventType.ROLLOUT, f"rollout-device-{member_id}", row))
