"""The downlink queue's operations as pages list them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db.models import QuerySet

from core.errors import FieldhubError, NotFound
from core.models import Endpoint
from core.paging import NewestFirst, newest_first, time_range
from core.permissions import Principal
from telemetry import hooks
from telemetry.models import EndpointOperation
from telemetry.selectors.endpoints import require_endpoint_visible, visible_endpoints


def operation_list(
    *, user: Principal, endpoint: Endpoint | None = None, status: str | None = None
) -> QuerySet[EndpointOperation]:
    """Operations newest first, with their device and author."""
    operations = EndpointOperation.objects.filter(endpoint__in=visible_endpoints(user)).select_related(
        "endpoint", "created_by"
    )
    if endpoint is not None:
        require_endpoint_visible(user, endpoint)
        operations = operations.filter(endpoint=endpoint)
    if status:
        if status.upper() not in EndpointOperation.Status.values:
            names = ", ".join(s.lower() for s in EndpointOperation.Status.values)
            raise FieldhubError(f"status must be one of {names}", path="status")
        operations = operations.filter(status=status.upper())
    return operations.order_by("-id")


def operation_page(
    *,
    user: Principal,
    endpoint: Endpoint | None = None,
    status: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    before: str | None = None,
    after: str | None = None,
    limit: int = 50,
) -> NewestFirst:
    """A page of ``operation_list`` (queued in [since, until)), newest first, by cursor."""
    operations = time_range(
        operation_list(user=user, endpoint=endpoint, status=status), since, until, field="created_at"
    )
    return newest_first(operations, time_field=None, before=before, after=after, limit=limit)


def operations_mark_retryable(operations: Iterable[EndpointOperation]) -> list[EndpointOperation]:
    """The operations, each with ``retryable``: failed or cancelled, and not held by another app (a firmware
    update that is over: ``hooks.retry_refusals``). One query for them all, so a page's Retry buttons cost
    nothing per row."""
    operations = list(operations)
    over = (EndpointOperation.Status.FAILED, EndpointOperation.Status.CANCELLED)
    closed = {operation.pk for operation in operations if operation.status in over}
    refused = hooks.retry_refusals(sorted(closed))
    for operation in operations:
        operation.retryable = operation.pk in closed and operation.pk not in refused
    return operations


def operation_get(*, user: Principal, pk: int) -> EndpointOperation:
    try:
        return operation_list(user=user).get(pk=pk)
    except EndpointOperation.DoesNotExist:
        raise NotFound(f"no operation {pk}", path="operation") from None


def operation_find(*, user: Principal, pk: int) -> EndpointOperation | None:
    """The operation with id ``pk``, or None if it is gone (a live fragment for a row deleted meanwhile)."""
    return operation_list(user=user).filter(pk=pk).first()
