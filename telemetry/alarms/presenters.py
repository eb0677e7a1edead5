"""What the alarm pages show (``/alarms/``, ``/alarms/<id>/``, the dashboard's alarms panel, a device's
alarms, the navigation's badge): the contexts their templates render, read through
``telemetry.alarms.selectors``. The live fragments (``partials``) render the same contexts as ``SYSTEM``
for a group (its members were checked when they joined)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import QueryDict

from core import pages
from core.errors import FieldhubError
from core.models import Endpoint, Site
from core.permissions import Principal, has_role_on, scope_of
from core.roles import Role
from core.sites import selectors as sites
from telemetry.alarms import selectors
from telemetry.alarms.models import SEVERITY_RANK, Alarm, Severity

ALARMS_SHOWN = 50  # per page of /alarms/
PANEL_NEWEST = 5  # open alarms the dashboard's panel lists
DEVICE_ALARMS = 20  # alarms a device's page lists
SEVERITIES = sorted(Severity.values, key=lambda s: SEVERITY_RANK[Severity(s)], reverse=True)
# The filters a new alarm (ACTIVE) still matches, so that the first page takes it on top live.
TAKES_NEW_STATES = ("", selectors.OPEN, Alarm.State.ACTIVE)


@dataclass(frozen=True)
class ListQuery:
    """The list's filters as given in the URL (for the form and the links) and as the selector takes them."""

    raw: dict[str, str]
    filters: selectors.AlarmFilter
    page: int


def _whole(raw: str, name: str, what: str) -> int | None:
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18 or int(raw) < 1:
        raise FieldhubError(f"{name} must be {what} (a whole number, 1 or more), not {raw[:40]!r}", path=name)
    return int(raw)


FILTER_NAMES = ("state", "severity", "site", "endpoint", "rule")


def list_query(params: QueryDict) -> ListQuery:
    """The list's filters from a query string: ``state``, ``severity``, ``site`` (an id), ``endpoint`` (a
    device's name), ``rule`` (an id), ``page``. A malformed one is a 422 naming it."""
    raw = {name: params.get(name, "").strip() for name in FILTER_NAMES}
    raw["state"], raw["severity"] = raw["state"].lower(), raw["severity"].lower()
    filters = selectors.AlarmFilter(
        state=raw["state"] or None,
        severity=raw["severity"] or None,
        site_id=_whole(raw["site"], "site", "a site's id"),
        endpoint=raw["endpoint"] or None,
        rule_id=_whole(raw["rule"], "rule", "a rule's id"),
    )
    filters.check()
    page_raw = params.get("page", "").strip()
    page = _whole(page_raw, "page", "a page number") or 1
    return ListQuery(raw=raw, filters=filters, page=page)


def list_link(raw: dict[str, str], **changed: Any) -> str:
    return pages.link("/alarms/", **{**raw, **changed})


def _form(user: Principal, raw: dict[str, str]) -> dict[str, Any]:
    """What the filter form offers: the states, the severities, the user's sites, the rule filtered by."""
    rule_id = raw.get("rule", "")
    rule = selectors.rule_find(user=user, pk=int(rule_id)) if rule_id.isdigit() and len(rule_id) < 19 else None
    return {
        "f": raw,
        "states": selectors.STATE_FILTERS,
        "severities": SEVERITIES,
        "sites": sites.site_choices(user=user),
        "rule_name": rule.name if rule is not None else (f"rule {rule_id}" if rule_id else ""),
        "without_rule": list_link(raw, rule=None, page=None),
    }


def list_context(*, user: Principal, params: QueryDict) -> tuple[dict[str, Any], int]:
    """``/alarms/``: the filter form, one page of alarms, the pager; and the status to answer (422 for a
    malformed filter, shown above the empty list)."""
    raw = {name: params.get(name, "").strip() for name in FILTER_NAMES}
    context: dict[str, Any] = {"nav": "alarms"}
    try:
        query = list_query(params)
    except FieldhubError as exc:
        empty = {"alarms": [], "total": 0, "page": 1, "pages": 1, "takes_new": False, "filtered": True}
        return {**context, **_form(user, raw), **empty, "filter_error": str(exc)}, exc.status
    found = selectors.alarm_page(user=user, filters=query.filters, page=query.page, per_page=ALARMS_SHOWN)
    pages_total = max(1, -(-found.count // ALARMS_SHOWN))
    number = found.offset // ALARMS_SHOWN + 1
    raw = query.raw
    only_new_states = raw["state"] in TAKES_NEW_STATES and not any(raw[n] for n in FILTER_NAMES if n != "state")
    context.update(
        {
            **_form(user, raw),
            "alarms": found.items,
            "total": found.count,
            "page": number,
            "pages": pages_total,
            "previous": list_link(raw, page=number - 1 if number > 2 else None) if number > 1 else None,
            "next": list_link(raw, page=number + 1) if number < pages_total else None,
            "takes_new": number == 1 and only_new_states,
            "filtered": any(raw.values()),
            "filter_error": "",
        }
    )
    return context, 200


def detail_context(*, user: Principal, pk: int) -> dict[str, Any]:
    """``/alarms/<id>/``: the alarm (404 when the user may not see it) and its history; its controls for an
    operator of its device's site."""
    alarm = selectors.alarm_get(user=user, pk=pk)
    return {
        "nav": "alarms",
        **detail_fragment_context(alarm),
        "can_operate": has_role_on(user, Role.OPERATOR, alarm.endpoint.site_id),  # its controls (base.html)
    }


def detail_fragment_context(alarm: Alarm) -> dict[str, Any]:
    """The alarm's head and history (the part of its page that is pushed)."""
    return {"alarm": alarm, "history": list(selectors.alarm_history(alarm=alarm))}


@dataclass(frozen=True)
class Panel:
    """The dashboard's alarms of one scope: every device the user sees (``site`` None), or one site's."""

    site: Site | None
    counts: dict[str, int]
    newest: list[Alarm]

    @property
    def element_id(self) -> str:
        return panel_id(self.site.pk if self.site else None)

    @property
    def open_total(self) -> int:
        return sum(self.counts.values())

    @property
    def link(self) -> str:
        return pages.link("/alarms/", state=selectors.OPEN, site=self.site.pk if self.site else None)


def panel_id(site_id: int | None) -> str:
    return "alarm-panel" if site_id is None else f"alarm-panel-site-{site_id}"


def panel(*, user: Principal, site: Site | None) -> Panel:
    """One panel: open alarms by severity and the newest few (two queries)."""
    site_id = site.pk if site else None
    return Panel(
        site=site,
        counts=selectors.open_counts(user=user, site_id=site_id),
        newest=selectors.newest_open_of_site(user=user, site_id=site_id, limit=PANEL_NEWEST),
    )


def panels(*, user: Principal) -> list[Panel]:
    """The dashboard's alarm panels: one for a global role, else one per site where the user holds one
    (each is pushed to its site's group, as the fleet counts are)."""
    scope = scope_of(user, Role.VIEWER)
    if not scope:
        return []
    if scope.everywhere:
        return [panel(user=user, site=None)]
    return [panel(user=user, site=site) for site in sites.site_choices(user=user)]


def endpoint_alarms_context(*, user: Principal, endpoint: Endpoint) -> dict[str, Any]:
    """A device's page: its alarms, open ones first."""
    return {
        "endpoint": endpoint,
        "device_alarms": selectors.alarms_of(user=user, endpoint=endpoint, limit=DEVICE_ALARMS),
    }


def badge_id(site_id: int | None) -> str:
    return "nav-alarms-badge" if site_id is None else f"nav-alarms-badge-site-{site_id}"


def badges(*, user: Principal) -> list[dict[str, Any]]:
    """The navigation's badges of open critical and major alarms: one for a global role, else one per site
    (each is pushed to its site's group). One query."""
    return [
        {"id": badge_id(site), "count": count, "site_id": site}
        for site, count in selectors.urgent_open_by_site(user=user).items()
    ]
