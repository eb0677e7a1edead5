"""The operations of the downlink queue (/api/v1/operations): list, one, cancel, retry. Queuing one is the
query router's ``POST /endpoints/{endpoint}/operations`` (``telemetry.api.query.create_operation``)."""

from __future__ import annotations

from ninja import Router
from ninja.params.functions import Query

from core.http import ApiRequest
from core.paging import MAX_PAGE, OffsetPage, offset_page
from core.schemas import READ_ERRORS, WRITE_ERRORS, Offset, RowId
from telemetry import selectors
from telemetry.downlink import queue
from telemetry.models import EndpointOperation
from telemetry.schemas import OperationOut, OperationPageOut

operations_router = Router(tags=["Operations"])

# The operation ids stay those of the module these routes were first written in, telemetry/api.py.


@operations_router.get(
    "/operations",
    response={200: OperationPageOut, **READ_ERRORS},
    summary="Operations, newest first",
    operation_id="telemetry_api_list_operations",
)
def list_operations(
    request: ApiRequest,
    status: str | None = Query(None, description="queued, sending, confirmed, failed or cancelled"),
    endpoint: str | None = Query(None, description="endpoint name"),
    limit: int = Query(50, ge=1, le=MAX_PAGE),
    offset: Offset = Query(0),
) -> OffsetPage[EndpointOperation]:
    device = selectors.endpoint_get(user=request.auth, name=endpoint) if endpoint else None
    operations = selectors.operation_list(user=request.auth, endpoint=device, status=status)
    return offset_page(operations, limit=limit, offset=offset)


@operations_router.get(
    "/operations/{operation_id}",
    response={200: OperationOut, **READ_ERRORS},
    summary="One operation",
    operation_id="telemetry_api_get_operation",
)
def get_operation(request: ApiRequest, operation_id: RowId) -> EndpointOperation:
    return selectors.operation_get(user=request.auth, pk=operation_id)


@operations_router.post(
    "/operations/{operation_id}/cancel",
    response={200: OperationOut, **WRITE_ERRORS},
    summary="Cancel a queued operation",
    operation_id="telemetry_api_cancel_operation",
)
def cancel_operation(request: ApiRequest, operation_id: RowId) -> EndpointOperation:
    operation = selectors.operation_get(user=request.auth, pk=operation_id)
    return queue.operation_cancel(actor=request.auth, operation=operation)


@operations_router.post(
    "/operations/{operation_id}/retry",
    response={200: OperationOut, **WRITE_ERRORS},
    summary="Queue a failed or cancelled operation again",
    operation_id="telemetry_api_retry_operation",
)
def retry_operation(request: ApiRequest, operation_id: RowId) -> EndpointOperation:
    operation = selectors.operation_get(user=request.auth, pk=operation_id)
    return queue.operation_retry(actor=request.auth, operation=operation)
