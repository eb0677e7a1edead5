"""Events (posts of several values) with the values their rows show."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from django.db.models import Count, OuterRef, Prefetch, Q, QuerySet, Subquery

from core.errors import FieldhubError
from core.lwm2m import types as lwm2m
from core.models import Endpoint
from core.paging import NewestFirst, newest_first, time_range
from core.permissions import Principal, require_scope
from core.roles import Role
from telemetry.models import Event, EventResource, Resource
from telemetry.selectors.endpoints import require_endpoint_visible, visible_endpoints


def event_list(
    *,
    user: Principal,
    endpoint: Endpoint | None = None,
    event_type: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    values: bool = True,
) -> QuerySet[Event]:
    """Events newest first, each with its endpoint and (``values``) all its resources, prefetched: a constant
    number of queries. Pages list a few values of each (``event_values``) and pass ``values=False``.
    ``event_type`` selects by object ids (``event_type_filter``)."""
    events = Event.objects.filter(endpoint__in=visible_endpoints(user)).select_related("endpoint")
    if endpoint is not None:
        require_endpoint_visible(user, endpoint)
        events = events.filter(endpoint=endpoint)
    if event_type:
        events = events.filter(event_type_filter(event_type))
    events = time_range(events, since, until).order_by("-measured_at", "-id")
    if not values:
        return events
    resources = Resource.objects.select_related("resource_type").order_by("id")
    return events.prefetch_related(Prefetch("resources", queryset=resources))


def event_values(*, user: Principal, event_ids: Sequence[int], first: int) -> dict[int, tuple[list[Resource], int]]:
    """For each event, its first ``first`` values (in the order they were stored) and how many it has, in two
    queries that read no value beyond the first ones of an event of thousands: the events with the id of
    their ``first``-th value and their count (each a range of the (event, resource) index), then those
    ranges. (A window over the events' links read all of them: 4 s for 20 events of 5,000 on PostgreSQL.)
    The ids come from ``event_list`` (the user's events)."""
    require_scope(user, Role.VIEWER)
    ids = list(event_ids)
    found: dict[int, tuple[list[Resource], int]] = {event_id: ([], 0) for event_id in ids}
    if not ids:
        return found
    links = EventResource.objects.filter(event_id=OuterRef("pk"))
    cuts = Event.objects.filter(pk__in=ids).annotate(
        cut=Subquery(links.order_by("resource_id").values("resource_id")[first - 1 : first]),
        total=Subquery(links.order_by().values("event_id").annotate(n=Count("resource_id")).values("n")[:1]),
    )
    ranges = Q(pk__in=[])
    for event_id, cut, total in cuts.values_list("pk", "cut", "total"):
        found[event_id] = ([], total or 0)
        ranges |= Q(event_id=event_id, resource_id__lte=cut) if cut is not None else Q(event_id=event_id)
    rows = EventResource.objects.filter(ranges).select_related("resource", "resource__resource_type")
    for link in rows.order_by("event_id", "resource_id"):
        found[link.event_id][0].append(link.resource)
    return found


def event_type_filter(event_type: str) -> Q:
    """An event's type is the object ids of its values joined by ``+`` (``3+3303``). A filter of one id
    matches the events that have that object id in their list: ``3`` matches ``3`` and ``3+3303``, not
    ``3303``. Several ids (``3303+3304``; a space also separates, as ``+`` reads in a URL) match the events
    that have each of them."""
    parts = [part for part in re.split(r"[+\s]+", event_type.strip()) if part]
    if not parts or not all(part.isascii() and part.isdigit() and int(part) <= lwm2m.ID_MAX for part in parts):
        raise FieldhubError("type is object ids joined by +, e.g. 3303 or 3303+3304", path="type")
    condition = Q()
    for object_id in sorted({str(int(part)) for part in parts}):
        condition &= (
            Q(event_type=object_id)
            | Q(event_type__startswith=f"{object_id}+")
            | Q(event_type__endswith=f"+{object_id}")
            | Q(event_type__contains=f"+{object_id}+")
        )
    return condition


def event_page(
    *,
    user: Principal,
    endpoint: Endpoint | None = None,
    event_type: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    before: str | None = None,
    after: str | None = None,
    limit: int = 50,
) -> NewestFirst:
    """A page of ``event_list`` (without values: ``event_values``), newest first, by cursor."""
    events = event_list(user=user, endpoint=endpoint, event_type=event_type, since=since, until=until, values=False)
    return newest_first(events, time_field="measured_at", before=before, after=after, limit=limit)
