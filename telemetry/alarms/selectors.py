"""Reading alarms, as the user may see them: the alarms of the devices they view (a site viewer: its
sites' devices only; a foreign alarm is a 404, as a foreign device is)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from core.errors import FieldhubError, NotFound
from core.models import Endpoint
from core.paging import OffsetPage, offset_window
from core.permissions import Principal, require_scope, scope_of
from core.roles import Role
from telemetry.alarms.models import SEVERITY_RANK, Alarm, AlarmChange, AlarmRule, Severity

OPEN = "open"  # a state filter: active or acknowledged
STATE_FILTERS = (OPEN, *Alarm.State.values)


def _visible(user: Principal) -> QuerySet[Alarm]:
    scope = require_scope(user, Role.VIEWER)
    return scope.filter(Alarm.objects.all(), "endpoint__site")


@dataclass(frozen=True)
class AlarmFilter:
    """What a list of alarms is narrowed to; every field optional. Bad values are a 422 naming the field."""

    state: str | None = None  # "open", "active", "acknowledged", "cleared"
    severity: str | None = None
    site_id: int | None = None
    endpoint: str | None = None  # a device's name
    rule_id: int | None = None

    def check(self) -> None:
        if self.state is not None and self.state not in STATE_FILTERS:
            raise FieldhubError(f"state must be one of {', '.join(STATE_FILTERS)}", path="state")
        if self.severity is not None and self.severity not in Severity.values:
            raise FieldhubError(f"severity must be one of {', '.join(Severity.values)}", path="severity")


def alarm_list(*, user: Principal, filters: AlarmFilter | None = None) -> QuerySet[Alarm]:
    """The alarms the user may see, newest raised first, with their rule and device."""
    filters = filters or AlarmFilter()
    filters.check()
    alarms = _visible(user).select_related("rule", "endpoint", "endpoint__site", "acknowledged_by", "cleared_by")
    if filters.state == OPEN:
        alarms = alarms.filter(state__in=Alarm.OPEN)
    elif filters.state is not None:
        alarms = alarms.filter(state=filters.state)
    if filters.severity is not None:
        alarms = alarms.filter(severity=filters.severity)
    if filters.site_id is not None:
        alarms = alarms.filter(endpoint__site_id=filters.site_id)
    if filters.endpoint is not None:
        alarms = alarms.filter(endpoint__name=filters.endpoint)
    if filters.rule_id is not None:
        alarms = alarms.filter(rule_id=filters.rule_id)
    return alarms.order_by("-raised_at", "-id")


def alarm_find(*, user: Principal, pk: int) -> Alarm | None:
    return alarm_list(user=user).filter(pk=pk).first()


def alarm_get(*, user: Principal, pk: int) -> Alarm:
    """One alarm the user may see; else (none, or another site's) a 404."""
    alarm = alarm_find(user=user, pk=pk)
    if alarm is None:
        raise NotFound(f"no alarm {pk}", path="alarm")
    return alarm


def alarm_history(*, alarm: Alarm) -> QuerySet[AlarmChange]:
    """An alarm's changes, oldest first (the alarm as read by ``alarm_get``: already checked)."""
    return alarm.changes.select_related("user").order_by("at", "id")


def open_counts(*, user: Principal, site_id: int | None = None) -> dict[str, int]:
    """Open alarms by severity (every severity, zero when none), most severe first."""
    alarms = _visible(user).filter(state__in=Alarm.OPEN)
    if site_id is not None:
        alarms = alarms.filter(endpoint__site_id=site_id)
    counted = dict(alarms.values_list("severity").annotate(n=Count("id")).values_list("severity", "n"))
    return {severity: counted.get(severity, 0) for severity in sorted(Severity.values, key=_rank, reverse=True)}


def newest_open(*, user: Principal, limit: int = 5) -> list[Alarm]:
    return list(alarm_list(user=user, filters=AlarmFilter(state=OPEN))[:limit])


def worst_open_by_endpoint(*, endpoint_ids: Iterable[int]) -> dict[int, str]:
    """For the device table's marks: the most severe open alarm's severity of each of these devices (the
    caller has read the devices through the user's scope). Devices without open alarms are absent."""
    ids = list(endpoint_ids)
    if not ids:
        return {}
    worst: dict[int, str] = {}
    rows = Alarm.objects.filter(endpoint_id__in=ids, state__in=Alarm.OPEN).values_list("endpoint_id", "severity")
    for endpoint_id, severity in rows.distinct():
        if endpoint_id not in worst or _rank(severity) > _rank(worst[endpoint_id]):
            worst[endpoint_id] = severity
    return worst


def alarms_of(*, user: Principal, endpoint: Endpoint, limit: int = 20) -> list[Alarm]:
    """A device's alarms for its page: the open ones first, then the newest cleared, at most ``limit``."""
    alarms = alarm_list(user=user).filter(endpoint=endpoint)
    opened = list(alarms.filter(state__in=Alarm.OPEN)[:limit])
    return opened + list(alarms.filter(state=Alarm.State.CLEARED)[: max(0, limit - len(opened))])


def _rank(severity: str) -> int:
    return SEVERITY_RANK.get(Severity(severity), 0) if severity in Severity.values else 0


URGENT = (Severity.CRITICAL, Severity.MAJOR)  # what the navigation's badge counts


def alarm_page(
    *, user: Principal, filters: AlarmFilter | None = None, page: int = 1, per_page: int = 50
) -> OffsetPage[Alarm]:
    """One page (from 1) of ``alarm_list``, with the count of the whole list: two queries. A page past the
    last is the last page (an alarm cleared meanwhile must not turn a link into an error)."""
    alarms = alarm_list(user=user, filters=filters)
    count = alarms.count()
    last = max(1, -(-count // per_page))
    offset = (min(page, last) - 1) * per_page
    return OffsetPage(
        items=offset_window(alarms, limit=per_page, offset=offset), count=count, limit=per_page, offset=offset
    )


def urgent_open_by_site(*, user: Principal) -> dict[int | None, int]:
    """Open critical and major alarms the user may see: under None all of them for a global role, else one
    entry per site where the user holds a role (zero included), for the navigation's badges. One query."""
    scope = scope_of(user, Role.VIEWER)
    if not scope:
        return {}
    alarms = scope.filter(Alarm.objects.all(), "endpoint__site").filter(state__in=Alarm.OPEN, severity__in=URGENT)
    if scope.everywhere:
        return {None: alarms.count()}
    counted = dict(
        alarms.values_list("endpoint__site_id").annotate(n=Count("id")).values_list("endpoint__site_id", "n")
    )
    return {site: counted.get(site, 0) for site in sorted(scope.site_ids)}


def urgent_open_count(*, user: Principal, site_id: int | None = None) -> int:
    """Open critical and major alarms the user may see (of one site, with ``site_id``)."""
    alarms = _visible(user).filter(state__in=Alarm.OPEN, severity__in=URGENT)
    if site_id is not None:
        alarms = alarms.filter(endpoint__site_id=site_id)
    return alarms.count()


def newest_open_of_site(*, user: Principal, site_id: int | None, limit: int = 5) -> list[Alarm]:
    """The newest open alarms the user may see, of one site (None: of every site the user sees)."""
    return list(alarm_list(user=user, filters=AlarmFilter(state=OPEN, site_id=site_id))[:limit])


def rule_find(*, user: Principal, pk: int) -> AlarmRule | None:
    """A rule the user may name in a filter: one that raised an alarm the user may see (else None, so that
    another site's rule names are not disclosed)."""
    if not 0 < pk < 2**63:
        return None
    if not alarm_list(user=user, filters=AlarmFilter(rule_id=pk)).exists():
        return None
    return AlarmRule.objects.filter(pk=pk).first()


def alarm_rule_list(*, user: Principal) -> QuerySet[AlarmRule]:
    """The rules that apply to what the user sees: every rule for a global viewer; for a site viewer the
    rules of their sites, of their sites' devices, and those of no site (every device, theirs too)."""
    scope = require_scope(user, Role.VIEWER)
    rules = AlarmRule.objects.select_related("endpoint", "site")
    if not scope.everywhere:
        ids = scope.site_ids
        rules = rules.filter(
            Q(endpoint__isnull=True, site__isnull=True) | Q(site_id__in=ids) | Q(endpoint__site_id__in=ids)
        )
    return rules.order_by("name", "id")


def alarm_rule_get(*, user: Principal, pk: int) -> AlarmRule:
    """One rule the user may see (``alarm_rule_list``); else a 404."""
    rule = alarm_rule_list(user=user).filter(pk=pk).first()
    if rule is None:
        raise NotFound(f"no alarm rule {pk}", path="rule")
    return rule
