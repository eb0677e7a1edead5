"""What to push when an alarm changes (raised, acknowledged, cleared): told by ``alarm_changed`` inside the
change's transaction, it hands the fragments to ``realtime.publish``, which sends them after the commit
(nothing for a rollback) and renders each once per group, lazily (a group nobody watches renders nothing).

- the alarm pages' groups (``groups.ALARMS``, the global one and the device's site's): the alarm's row on
  ``/alarms/`` (a raised one on top of a first page that takes new rows), its page's head and history,
  and the navigation's badge;
- the dashboard's groups (the same two): the alarms panel (of every device, or of that site), the
  device's row (its alarm mark), the badge;
- the device's own group: its page's alarms.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from realtime import LiveEvent, groups, publish
from realtime.groups import EventType
from telemetry import announce as telemetry_announce
from telemetry.alarms import partials
from telemetry.alarms.models import Alarm, AlarmChange


def alarm_changed(alarm: Alarm, change: AlarmChange) -> None:
    site_id = telemetry_announce.site_of_device(alarm)
    raised = change.state == Alarm.State.ACTIVE  # only a raise records an ACTIVE change
    for group in groups.of_device(groups.ALARMS, site_id):
        site = groups.site_of(group)
        if raised:
            new_row = partial(partials.render_new_row, alarm.pk, site_id=site)
            publish(group, LiveEvent(EventType.ALARM, f"alarm-new-{alarm.pk}", new_row))
        else:
            row = partial(partials.render_row, alarm.pk, site_id=site)
            publish(group, LiveEvent(EventType.ALARM, f"alarm-row-{alarm.pk}", row))
        detail = partial(partials.render_detail, alarm.pk, site_id=site)
        publish(group, LiveEvent(EventType.ALARM, f"alarm-detail-{alarm.pk}", detail))
        publish(group, LiveEvent(EventType.ALARM, "alarm-badge", partial(partials.render_badge, site_id=site)))
    for group in groups.of_device(groups.DASHBOARD, site_id):
        site = groups.site_of(group)
        publish(group, LiveEvent(EventType.ALARM, "alarm-panel", partial(partials.render_panel, site_id=site)))
        publish(group, LiveEvent(EventType.ALARM, "alarm-badge", partial(partials.render_badge, site_id=site)))
    telemetry_announce.endpoint_row_changed(alarm.endpoint_id, site_id)
    device_alarms = partial(partials.render_endpoint_alarms, alarm.endpoint_id)
    publish(groups.endpoint(alarm.endpoint_id), LiveEvent(EventType.ALARM, "endpoint-alarms", device_alarms))


def on_alarm_changed(sender: Any, alarm: Alarm, change: AlarmChange, **kwargs: Any) -> None:
    """``telemetry.alarms.signals.alarm_changed``'s receiver (telemetry.apps)."""
    alarm_changed(alarm, change)
