"""The firmware API: images, updates of single devices, campaigns (firmware rollouts, also at /api/v1/rollouts
as "fw-<id>": the same rows, the same services)."""

from __future__ import annotations

from django.db.models import QuerySet
from ninja import File, Form, Router, Status
from ninja.files import UploadedFile
from ninja.params.functions import Query

from core.http import ApiRequest
from core.paging import MAX_PAGE, offset_window
from core.schemas import READ_ERRORS, WRITE_ERRORS, ErrorOut, Offset, RowId
from firmware import selectors, services
from firmware.models import Firmware, FirmwareUpdate
from firmware.schemas import CampaignDetailOut, CampaignIn, CampaignOut, FirmwareOut, UpdateIn, UpdateOut
from telemetry import selectors as telemetry_selectors
from telemetry.models import Rollout

router = Router(tags=["Firmware"])
READ = READ_ERRORS
WRITE = {**WRITE_ERRORS, 413: ErrorOut}


@router.get("/firmware", response={200: list[FirmwareOut], **READ}, summary="Firmware images")
def list_firmware(request: ApiRequest) -> QuerySet[Firmware]:
    return selectors.firmware_list(user=request.auth)


@router.post("/firmware", response={201: FirmwareOut, **WRITE}, summary="Upload an image (admin, multipart)")
def upload_firmware(request: ApiRequest, version: Form[str], file: File[UploadedFile]) -> Status[Firmware]:
    image = services.firmware_upload(actor=request.auth, version=version, upload=file)
    return Status(201, image)


@router.delete("/firmware/{version}", response={204: None, **WRITE}, summary="Delete an unused image (admin)")
def delete_firmware(request: ApiRequest, version: str) -> Status[None]:
    services.firmware_delete(actor=request.auth, firmware=selectors.firmware_get(user=request.auth, version=version))
    return Status(204, None)


@router.post("/firmware-updates", response={201: UpdateOut, **WRITE}, summary="Update one device (operator)")
def start_update(request: ApiRequest, payload: UpdateIn) -> Status[FirmwareUpdate]:
    endpoint = telemetry_selectors.endpoint_get(user=request.auth, name=payload.endpoint)
    image = selectors.firmware_get(user=request.auth, version=payload.version)
    update = services.firmware_update_start(actor=request.auth, endpoint=endpoint, firmware=image)
    return Status(201, update)


@router.get("/firmware-updates", response={200: list[UpdateOut], **READ}, summary="Updates, newest first")
def list_updates(
    request: ApiRequest,
    status: str | None = Query(None),
    endpoint: str | None = Query(None),
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    offset: Offset = Query(0),
) -> list[FirmwareUpdate]:
    device = telemetry_selectors.endpoint_get(user=request.auth, name=endpoint) if endpoint else None
    updates = selectors.update_list(user=request.auth, endpoint=device, status=status)
    return offset_window(updates, limit=limit, offset=offset)


@router.post("/firmware-updates/{update_id}/cancel", response={200: UpdateOut, **WRITE}, summary="Cancel an update")
def cancel_update(request: ApiRequest, update_id: RowId) -> FirmwareUpdate:
    update = selectors.update_get(user=request.auth, pk=update_id)
    return services.firmware_update_cancel(actor=request.auth, update=update)


@router.post("/campaigns", response={201: CampaignOut, **WRITE}, summary="Start a campaign (operator)")
def create_campaign(request: ApiRequest, payload: CampaignIn) -> Status[Rollout]:
    image = selectors.firmware_get(user=request.auth, version=payload.version)
    endpoints = selectors.campaign_endpoints(
        user=request.auth, names=payload.endpoints, from_version=payload.from_version
    )
    campaign = services.campaign_create(
        actor=request.auth,
        name=payload.name,
        firmware=image,
        endpoints=endpoints,
        waves=payload.waves,
        unit=payload.unit,
        max_failure_rate=payload.max_failure_rate,
    )
    return Status(201, campaign)


@router.get("/campaigns", response={200: list[CampaignOut], **READ}, summary="Campaigns, newest first")
def list_campaigns(request: ApiRequest) -> QuerySet[Rollout]:
    return selectors.campaign_list(user=request.auth)[:200]


@router.get("/campaigns/{campaign_id}", response={200: CampaignDetailOut, **READ}, summary="A campaign and its devices")
def get_campaign(request: ApiRequest, campaign_id: RowId) -> Rollout:
    # its progress is counted with it; its devices are read by CampaignDetailOut.resolve_devices
    return selectors.campaign_get(user=request.auth, pk=campaign_id)


@router.post("/campaigns/{campaign_id}/pause", response={200: CampaignOut, **WRITE}, summary="Pause a campaign")
def pause_campaign(request: ApiRequest, campaign_id: RowId) -> Rollout:
    campaign = selectors.campaign_get(user=request.auth, pk=campaign_id)
    return services.campaign_pause(actor=request.auth, campaign=campaign)


@router.post(
    "/campaigns/{campaign_id}/resume",
    response={200: CampaignOut, **WRITE},
    summary="Resume a paused campaign, or a halted one (its next wave starts now)",
)
def resume_campaign(request: ApiRequest, campaign_id: RowId) -> Rollout:
    campaign = selectors.campaign_get(user=request.auth, pk=campaign_id)
    return services.campaign_resume(actor=request.auth, campaign=campaign)


@router.post("/campaigns/{campaign_id}/abort", response={200: CampaignOut, **WRITE}, summary="Abort a campaign")
def abort_campaign(request: ApiRequest, campaign_id: RowId) -> Rollout:
    campaign = selectors.campaign_get(user=request.auth, pk=campaign_id)
    return services.campaign_abort(actor=request.auth, campaign=campaign)
