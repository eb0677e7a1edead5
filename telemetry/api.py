"""The Leshan bridge API: the flownexus bridge's URLs and JSON, so an existing bridge can post here unchanged."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest
from ninja import Router, Status

from core.auth import BridgeAuth
from core.http import read_json_body
from core.lwm2m.nodes import Reading
from core.schemas import ErrorOut, json_body
from telemetry import bridge
from telemetry.schemas import CompositePostIn, IngestOut, SinglePostIn, TimestampedPostIn
from telemetry.services import IngestResult, ingest

bridge_router = Router(tags=["Leshan bridge"], auth=BridgeAuth())

INGEST_RESPONSES = {
    201: IngestOut,
    400: ErrorOut,
    401: ErrorOut,
    413: ErrorOut,
    415: ErrorOut,
    422: ErrorOut,
}


def _ingest(request: HttpRequest, schema: type, to_readings: Callable[..., list[Reading]]) -> IngestResult:
    payload = read_json_body(request, schema, max_bytes=settings.INGEST_MAX_BODY_BYTES)
    return ingest(endpoint_name=payload.ep, readings=to_readings(payload))


@bridge_router.post(
    "/resource/single",
    response=INGEST_RESPONSES,
    summary="Store one notification (single resource, instance or object)",
    openapi_extra=json_body(SinglePostIn),
)
def post_single(request: HttpRequest) -> Status[IngestResult]:
    return Status(201, _ingest(request, SinglePostIn, lambda p: bridge.readings_from_single(p.obj_id, p.val, p.path)))


@bridge_router.post(
    "/resource/composite",
    response=INGEST_RESPONSES,
    summary="Store a composite read or notification",
    openapi_extra=json_body(CompositePostIn),
)
def post_composite(request: HttpRequest) -> Status[IngestResult]:
    return Status(201, _ingest(request, CompositePostIn, lambda p: bridge.readings_from_composite(p.val)))


@bridge_router.post(
    "/resource/timestamped",
    response=INGEST_RESPONSES,
    summary="Store an LwM2M Send with timestamps",
    openapi_extra=json_body(TimestampedPostIn),
)
def post_timestamped(request: HttpRequest) -> Status[IngestResult]:
    return Status(201, _ingest(request, TimestampedPostIn, lambda p: bridge.readings_from_timestamped(p.val)))
