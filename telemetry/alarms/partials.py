"""The live fragments of the alarm pages and of the alarms on the fleet pages, rendered once per group as
``SYSTEM`` from the contexts ``telemetry.alarms.presenters`` builds for the pages; "" for what is gone, or
(``site_id``: a site's group) for an alarm whose device is no longer in that site."""

from __future__ import annotations

from core.models import Endpoint, Site
from core.permissions import SYSTEM
from realtime import render
from telemetry.alarms import presenters, selectors
from telemetry.alarms.models import Alarm


def _alarm(alarm_id: int, site_id: int | None) -> Alarm | None:
    alarm = selectors.alarm_find(user=SYSTEM, pk=alarm_id)
    if alarm is None or (site_id is not None and alarm.endpoint.site_id != site_id):
        return None
    return alarm


def render_row(alarm_id: int, *, site_id: int | None = None) -> str:
    alarm = _alarm(alarm_id, site_id)
    if alarm is None:
        return ""
    return render("telemetry/alarms.html#alarm-row", {"a": alarm, "oob": True})


def render_new_row(alarm_id: int, *, site_id: int | None = None) -> str:
    """A raised alarm on top of a list that takes new rows (the first page, unfiltered or of open alarms)."""
    alarm = _alarm(alarm_id, site_id)
    if alarm is None:
        return ""
    html = render("telemetry/alarms.html#alarm-row", {"a": alarm, "oob": False})
    return f'<tbody hx-swap-oob="afterbegin:#alarm-rows[data-new-rows]">{html}</tbody>'


def render_detail(alarm_id: int, *, site_id: int | None = None) -> str:
    alarm = _alarm(alarm_id, site_id)
    if alarm is None:
        return ""
    return render("telemetry/alarm.html#alarm-detail", {**presenters.detail_fragment_context(alarm), "oob": True})


def render_panel(*, site_id: int | None = None) -> str:
    """The dashboard's alarms panel: of every device, or (``site_id``) of one site's."""
    site = None
    if site_id is not None:
        site = Site.objects.filter(pk=site_id).first()
        if site is None:
            return ""
    context = {"panel": presenters.panel(user=SYSTEM, site=site), "oob": True}
    return render("telemetry/dashboard.html#alarm-panel", context)


def render_badge(*, site_id: int | None = None) -> str:
    """The navigation's count of open critical and major alarms (of one site's, for its group)."""
    badge = {
        "id": presenters.badge_id(site_id),
        "count": selectors.urgent_open_count(user=SYSTEM, site_id=site_id),
    }
    return render("telemetry/_alarm_badge.html", {"badge": badge, "oob": True})


def render_endpoint_alarms(endpoint_id: int) -> str:
    """A device's alarms on its page."""
    endpoint = Endpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        return ""
    context = {**presenters.endpoint_alarms_context(user=SYSTEM, endpoint=endpoint), "oob": True}
    return render("telemetry/endpoint.html#endpoint-alarms", context)
