"""The Leshan bridge API (/leshan_api/): the flownexus bridge's URLs and JSON, so an existing bridge can post
here unchanged, and flownexus's data view."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.http import HttpRequest
from ninja import Router, Status
from ninja.params.functions import Query

from core.auth import user_auth
from core.http import ApiRequest, read_json_body
from core.lwm2m.nodes import Reading
from core.paging import MAX_PAGE, offset_window
from core.schemas import READ_ERRORS, ErrorOut, Offset, json_body
from telemetry import selectors
from telemetry.ingest import IngestResult, ingest, payloads
from telemetry.models import Resource
from telemetry.schemas import (
    CompositePostIn,
    FlownexusDataOut,
    IngestOut,
    SinglePostIn,
    TimestampedPostIn,
)

bridge_router = Router(tags=["Leshan bridge"])

INGEST_RESPONSES = {
    201: IngestOut,
    400: ErrorOut,
    401: ErrorOut,
    413: ErrorOut,
    415: ErrorOut,
    422: ErrorOut,
}

# The operation ids (and so the names a client generator gives them) stay those of the module these routes
# were first written in, telemetry/api.py.


PostIn = TypeVar("PostIn", SinglePostIn, CompositePostIn, TimestampedPostIn)


def _ingest(request: HttpRequest, schema: type[PostIn], to_readings: Callable[[PostIn], list[Reading]]) -> IngestResult:
    payload = read_json_body(request, schema, max_bytes=settings.INGEST_MAX_BODY_BYTES)
    return ingest(endpoint_name=payload.ep, readings=to_readings(payload))


@bridge_router.post(
    "/resource/single",
    response=INGEST_RESPONSES,
    summary="Store one notification (single resource, instance or object)",
    openapi_extra=json_body(SinglePostIn),
    operation_id="telemetry_api_post_single",
)
def post_single(request: HttpRequest) -> Status[IngestResult]:
    return Status(201, _ingest(request, SinglePostIn, lambda p: payloads.readings_from_single(p.obj_id, p.val, p.path)))


@bridge_router.post(
    "/resource/composite",
    response=INGEST_RESPONSES,
    summary="Store a composite read or notification",
    openapi_extra=json_body(CompositePostIn),
    operation_id="telemetry_api_post_composite",
)
def post_composite(request: HttpRequest) -> Status[IngestResult]:
    return Status(201, _ingest(request, CompositePostIn, lambda p: payloads.readings_from_composite(p.val)))


@bridge_router.post(
    "/resource/timestamped",
    response=INGEST_RESPONSES,
    summary="Store an LwM2M Send with timestamps",
    openapi_extra=json_body(TimestampedPostIn),
    operation_id="telemetry_api_post_timestamped",
)
def post_timestamped(request: HttpRequest) -> Status[IngestResult]:
    return Status(201, _ingest(request, TimestampedPostIn, lambda p: payloads.readings_from_timestamped(p.val)))


# --- flownexus compatibility: GET /leshan_api/data/<resource_name>/ -------------------------------------


@bridge_router.get(
    "/data/{resource_name}/",
    auth=user_auth(),
    response={200: list[FlownexusDataOut], **READ_ERRORS},
    summary="Readings of one resource type, newest first (flownexus's data view, paginated)",
    operation_id="telemetry_api_flownexus_data",
)
def flownexus_data(
    request: ApiRequest,
    resource_name: str,
    ep: str | None = Query(None, description="only this endpoint"),
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    offset: Offset = Query(0),
) -> list[Resource]:
    rows = selectors.resource_type_readings(user=request.auth, slug=resource_name, endpoint_name=ep)
    return offset_window(rows, limit=limit, offset=offset)
