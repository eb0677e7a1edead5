"""Devices: who may see which (``visible_endpoints``, the one rule), lists, pages, counts, one device."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
    prefetch_related_objects,
)

from core.errors import FieldhubError, NotFound
from core.lwm2m.ddf import REGISTRATION_OBJECT_ID
from core.models import Endpoint, Label, Site
from core.permissions import Principal, require_scope
from core.roles import Role
from core.sites import selectors as sites
from telemetry import hooks
from telemetry.models import LatestValue, Resource

# Device 3/0/3 Firmware Version and 3/0/9 Battery Level: shown with every endpoint in lists.
FIRMWARE_VERSION_PATH = "/3/0/3"


BATTERY_PATH = "/3/0/9"

FIRMWARE_VERSION_MAX = 64


def visible_endpoints(user: Principal, role: Role = Role.VIEWER) -> QuerySet[Endpoint]:
    """The endpoints on which ``user`` holds ``role``: every one with a global role, else those of the
    user's sites (403 without the role anywhere)."""
    return require_scope(user, role).filter(Endpoint.objects.all())


def require_endpoint_visible(user: Principal, endpoint: Endpoint) -> None:
    """404 (as for a device that does not exist: a foreign site's device names are not disclosed) unless
    ``user`` may see ``endpoint``; 403 without the viewer role anywhere."""
    if not require_scope(user, Role.VIEWER).includes(endpoint.site_id):
        raise NotFound(f"no endpoint named {endpoint.name!r}", path="endpoint")


def visible_among(user: Principal, endpoints: Sequence[Endpoint]) -> list[Endpoint]:
    """Those of ``endpoints`` that ``user`` may see (403 without the viewer role anywhere)."""
    scope = require_scope(user, Role.VIEWER)
    return [endpoint for endpoint in endpoints if scope.includes(endpoint.site_id)]


STATUS_FILTERS = {
    "online": Q(online=True, sleeping=False),
    "sleeping": Q(online=True, sleeping=True),
    "offline": Q(online=False),
}


# The sort keys of device lists (a leading "-" for descending), each ordered in the database; ties by name.
SORT_KEYS = ("name", "state", "last_seen", "firmware", "battery")


SORTS = tuple(f"{sign}{key}" for key in SORT_KEYS for sign in ("", "-"))


DEFAULT_SORT = "-last_seen"


def _latest_value_column(path: str, column: str) -> Subquery:
    """The device's latest value of ``path`` as one column of its reading (a correlated subquery on the
    latest-value pointers: one index lookup per device, however long its history). Matching the reading's
    time as well lets PostgreSQL look in one partition of the readings only."""
    latest = LatestValue.objects.filter(endpoint=OuterRef("pk"), path=path, resource__measured_at=F("measured_at"))
    return Subquery(latest.values(f"resource__{column}")[:1])


def _sort_expression(key: str) -> Any:
    if key == "name":
        return F("name")
    if key == "last_seen":
        return F("last_seen_at")
    if key == "state":  # online, sleeping, offline
        return Case(When(online=False, then=Value(2)), When(sleeping=True, then=Value(1)), default=Value(0))
    if key == "firmware":  # 3/0/3 is a STRING: sorted as text ("1.10.0" before "1.9.0")
        return _latest_value_column(FIRMWARE_VERSION_PATH, "value_str")
    return _latest_value_column(BATTERY_PATH, "value_int")  # 3/0/9 is an INTEGER


def with_site_and_labels(endpoints: QuerySet[Endpoint]) -> QuerySet[Endpoint]:
    """The devices with their site (joined) and their labels by name (one more query for all of them)."""
    labels = Prefetch("labels", queryset=Label.objects.order_by("name"))
    return endpoints.select_related("site").prefetch_related(labels)


@dataclass(frozen=True)
class EndpointTags:
    """A device's site (None: in none) and its labels by name."""

    site: Site | None
    labels: list[str]


def endpoint_tags(*, user: Principal, endpoint: Endpoint) -> EndpointTags:
    """The device's site and labels: no query where ``with_site_and_labels`` loaded them, else one or two."""
    require_endpoint_visible(user, endpoint)
    labels = Prefetch("labels", queryset=Label.objects.order_by("name"))
    prefetch_related_objects([endpoint], "site", labels)  # skips what is loaded already
    return EndpointTags(site=endpoint.site, labels=[label.name for label in endpoint.labels.all()])


def endpoints_filter(
    endpoints: QuerySet[Endpoint],
    *,
    user: Principal,
    status: str | None = None,
    name: str | None = None,
    site: str | int | None = None,
    labels: list[str] | None = None,
    firmware: str | None = None,
) -> QuerySet[Endpoint]:
    """``endpoints`` in state ``status``, with ``name`` in their name, in ``site`` (an id, or "none": in no
    site), with every one of ``labels`` (each may be comma-separated), running ``firmware`` (their latest
    3/0/3 Firmware Version, exactly). A bad value is a 422 naming it."""
    if status is not None:
        if status not in STATUS_FILTERS:
            raise FieldhubError(f"status must be one of {', '.join(STATUS_FILTERS)}", path="status")
        endpoints = endpoints.filter(STATUS_FILTERS[status])
    if name:
        endpoints = endpoints.filter(name__icontains=name)
    if site is not None and site != "":
        endpoints = endpoints.filter(site=sites.site_for_filter(user=user, value=site))
    for label in sites.labels_for_filter(user=user, names=labels or []):
        endpoints = endpoints.filter(endpointlabel__label=label)  # one join per label: devices with all
    if firmware:
        if len(firmware) > FIRMWARE_VERSION_MAX:
            raise FieldhubError(f"firmware is a version of at most {FIRMWARE_VERSION_MAX} characters", path="firmware")
        running = LatestValue.objects.filter(
            endpoint=OuterRef("pk"),
            path=FIRMWARE_VERSION_PATH,
            resource__measured_at=F("measured_at"),
            resource__value_str=firmware,
        )
        endpoints = endpoints.filter(Exists(running))
    return endpoints


def endpoint_list(
    *,
    user: Principal,
    status: str | None = None,
    name: str | None = None,
    sort: str = DEFAULT_SORT,
    site: str | int | None = None,
    labels: list[str] | None = None,
) -> QuerySet[Endpoint]:
    """Devices, filtered (``endpoints_filter``), sorted by ``sort`` (``SORTS``), ties by name. Devices that
    never reported the sorted value come first for last seen ascending (never seen is oldest) and
    otherwise last."""
    endpoints = endpoints_filter(visible_endpoints(user), user=user, status=status, name=name, site=site, labels=labels)
    if sort not in SORTS:
        raise FieldhubError(f"sort must be one of {', '.join(SORTS)}", path="sort")
    key = sort.lstrip("-")
    expression = _sort_expression(key)
    if sort.startswith("-"):
        ordering = expression.desc(nulls_last=True)
    else:
        ordering = expression.asc(nulls_first=True) if key == "last_seen" else expression.asc(nulls_last=True)
    return endpoints.order_by(ordering, "name")


@dataclass(frozen=True)
class EndpointPage:
    """One page of a device list: ``items`` are devices ``start`` to ``end`` (from 1) of ``total``."""

    items: list[Endpoint]
    number: int
    pages: int
    total: int
    start: int
    end: int


def endpoint_page(
    *,
    user: Principal,
    status: str | None = None,
    name: str | None = None,
    sort: str = DEFAULT_SORT,
    page: int = 1,
    per_page: int = 50,
    site: str | int | None = None,
    labels: list[str] | None = None,
    tags: bool = False,
) -> EndpointPage:
    """Page ``page`` (from 1) of ``endpoint_list``: two queries (the count, the page), and with ``tags`` the
    devices' labels (``with_site_and_labels``). A page past the end is the last page: a list that shrank
    since its link was made still shows something."""
    if page < 1:
        raise FieldhubError("page must be a whole number, 1 or more", path="page")
    endpoints = endpoint_list(user=user, status=status, name=name, sort=sort, site=site, labels=labels)
    if tags:
        endpoints = with_site_and_labels(endpoints)
    total = endpoints.count()
    pages = max(1, -(-total // per_page))
    number = min(page, pages)
    offset = (number - 1) * per_page
    items = list(endpoints[offset : offset + per_page])
    return EndpointPage(
        items=items, number=number, pages=pages, total=total, start=offset + 1 if items else 0, end=offset + len(items)
    )


@dataclass(frozen=True)
class FleetCounts:
    """Devices by state, of every device a user sees, or (``site_id``) of one site's."""

    online: int
    sleeping: int
    offline: int
    total: int
    extra: dict[str, int]
    site_id: int | None = None
    site_name: str = ""


_BY_STATE = {
    "n_online": Count("pk", filter=STATUS_FILTERS["online"]),
    "n_sleeping": Count("pk", filter=STATUS_FILTERS["sleeping"]),
    "n_offline": Count("pk", filter=STATUS_FILTERS["offline"]),
    "n_total": Count("pk"),
}


def _counts(row: dict[str, Any], extra: dict[str, int], site_id: int | None = None, name: str = "") -> FleetCounts:
    return FleetCounts(
        online=row.get("n_online") or 0,
        sleeping=row.get("n_sleeping") or 0,
        offline=row.get("n_offline") or 0,
        total=row.get("n_total") or 0,
        extra=extra,
        site_id=site_id,
        site_name=name,
    )


def fleet_counts(*, user: Principal, site_id: int | None = None) -> FleetCounts:
    """Devices by state in one query, plus what other apps count (firmware: updating; telemetry.hooks):
    of every device ``user`` sees, or of those of the site ``site_id`` (and its name, one query more)."""
    endpoints = visible_endpoints(user)
    name = ""
    if site_id is not None:
        endpoints = endpoints.filter(site_id=site_id)
        name = Site.objects.filter(pk=site_id).values_list("name", flat=True).first() or ""
    extra = {key: sum(count(endpoints).values()) for key, count in hooks.fleet_counters().items()}
    return _counts(endpoints.aggregate(**_BY_STATE), extra, site_id, name)


def fleet_counts_shown(*, user: Principal) -> list[FleetCounts]:
    """What the dashboard counts for ``user``: every device as one with a global role; else each of their
    sites apart, by name (each site's counts are pushed to that site's group, realtime.groups, and a page
    cannot add them up), never the fleet's. Two queries with a global role, three with site roles, however
    many sites (besides the user's roles, read once per user object)."""
    scope = require_scope(user, Role.VIEWER)
    if scope.everywhere:
        return [fleet_counts(user=user)]
    endpoints = visible_endpoints(user)
    rows = {row["site_id"]: row for row in endpoints.values("site_id").annotate(**_BY_STATE).order_by()}
    extras = {key: count(endpoints) for key, count in hooks.fleet_counters().items()}
    sites = Site.objects.filter(pk__in=sorted(scope.site_ids)).order_by("name", "pk").values_list("pk", "name")
    return [
        _counts(rows.get(pk, {}), {key: by_site.get(pk, 0) for key, by_site in extras.items()}, pk, name)
        for pk, name in sites
    ]


def endpoint_get(*, user: Principal, name: str, tags: bool = False) -> Endpoint:
    """The device named ``name`` (a 404 if none); with ``tags``, with its site and labels
    (``with_site_and_labels``)."""
    endpoints = visible_endpoints(user)
    try:
        return (with_site_and_labels(endpoints) if tags else endpoints).get(name=name)
    except Endpoint.DoesNotExist:
        raise NotFound(f"no endpoint named {name!r}", path="endpoint") from None


MAX_NAMES_LISTED = 20  # unknown names an error lists


def endpoints_named(*, user: Principal, names: list[str]) -> QuerySet[Endpoint]:
    """The devices with these names; a name of no device is a 422 listing such names (up to 20)."""
    wanted = set(names)
    endpoints = visible_endpoints(user).filter(name__in=wanted)
    missing = sorted(wanted - set(endpoints.values_list("name", flat=True)))
    if missing:
        shown = ", ".join(repr(name) for name in missing[:MAX_NAMES_LISTED])
        more = f" and {len(missing) - MAX_NAMES_LISTED} more" if len(missing) > MAX_NAMES_LISTED else ""
        raise FieldhubError(f"{len(missing)} unknown endpoint name(s): {shown}{more}", path="endpoints")
    return endpoints


def endpoint_find(*, user: Principal, pk: int) -> Endpoint | None:
    """The device with id ``pk``, or None if it is gone (a live fragment for a device deleted meanwhile)."""
    return visible_endpoints(user).filter(pk=pk).first()


REGISTRATION_EVENTS = {0: "registered", 1: "unregistered", 2: "updated its registration"}


def registration_history(*, user: Principal, endpoint: Endpoint, limit: int = 10) -> list[tuple[dt.datetime, str]]:
    """The device's latest registration events (object 10240), newest first, in words."""
    require_endpoint_visible(user, endpoint)
    rows = (
        Resource.objects.filter(endpoint=endpoint, resource_type__object_id=REGISTRATION_OBJECT_ID)
        .select_related("resource_type")
        .order_by("-received_at", "-id")[:limit]
    )
    return [(row.received_at, REGISTRATION_EVENTS.get(row.resource_type.resource_id, "?")) for row in rows]
