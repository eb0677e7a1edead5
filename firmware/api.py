"""The firmware API: images, updates of single devices, campaigns."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Field, File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile

from core.schemas import ErrorOut, Offset, RowId
from firmware import selectors, services
from firmware.models import Campaign, Firmware, FirmwareUpdate
from telemetry import selectors as telemetry_selectors

router = Router(tags=["Firmware"])
READ = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
WRITE = {**READ, 409: ErrorOut, 413: ErrorOut}


class FirmwareOut(Schema):
    version: str
    filename: str
    size: int
    sha256: str
    package_uri: str = Field(description="what devices download it from (5/0/1)")
    created_at: dt.datetime


class UpdateIn(Schema):
    endpoint: str
    version: str


class UpdateOut(Schema):
    id: int
    endpoint: str
    version: str
    status: str = Field(description="QUEUED, DOWNLOADING, DOWNLOADED, UPDATING, SUCCEEDED, FAILED or CANCELLED")
    state: int | None = Field(description="the device's last 5/0/3 State")
    result: int | None = Field(description="the device's last 5/0/5 Update Result")
    error: str
    campaign: int | None
    created_at: dt.datetime
    finished_at: dt.datetime | None


class CampaignIn(Schema):
    name: str
    version: str
    endpoints: list[str] | None = Field(default=None, description="these devices, by endpoint name")
    from_version: str | None = Field(default=None, description="devices whose firmware version (3/0/3) is this")
    waves: list[int] = Field(
        default=[1, 10, 100],
        description="cumulative percentages (1 to 100, rising, ending at 100) or device counts per wave (positive; "
        "0, last only, for the rest); a wave that would have no device is refused",
    )
    unit: str = Field(default="percent", description='"percent" (cumulative) or "devices" (per wave, 0: the rest)')
    max_failure_rate: float = Field(default=0.1, description="a wave with more failed than this (0..1) halts it")


class CampaignDeviceOut(Schema):
    endpoint: str
    wave: int | None = Field(description="0-based; null: skipped when the campaign was made")
    update: UpdateOut | None
    skipped: str = Field(description='why no update was started, e.g. "already running 1.1.0"; empty if one was')


class CampaignOut(Schema):
    id: int
    name: str
    version: str
    status: str
    waves: list[int]
    current_wave: int
    max_failure_rate: float
    reason: str
    progress: dict[str, int] = Field(
        description="devices: total, succeeded, failed (cancelled too), skipped (why is on each device), active, "
        "waiting (not started), and the percent done (succeeded, failed or skipped)"
    )
    created_at: dt.datetime
    finished_at: dt.datetime | None


class CampaignDetailOut(CampaignOut):
    devices: list[CampaignDeviceOut]


def _firmware_out(image: Firmware) -> dict[str, Any]:
    return {**{k: getattr(image, k) for k in ("version", "filename", "size", "sha256", "created_at")},
            "package_uri": services.package_uri(image)}  # fmt: skip


def _update_out(update: FirmwareUpdate) -> dict[str, Any]:
    return {
        "id": update.pk,
        "endpoint": update.endpoint.name,
        "version": update.firmware.version,
        "status": update.status,
        "state": update.state,
        "result": update.result,
        "error": update.error,
        "campaign": update.campaign_id,
        "created_at": update.created_at,
        "finished_at": update.finished_at,
    }


def _campaign_out(campaign: Campaign) -> dict[str, Any]:
    return {
        "id": campaign.pk,
        "name": campaign.name,
        "version": campaign.firmware.version,
        "status": campaign.status,
        "waves": campaign.waves,
        "current_wave": campaign.current_wave,
        "max_failure_rate": campaign.max_failure_rate,
        "reason": campaign.reason,
        "progress": selectors.progress(campaign),
        "created_at": campaign.created_at,
        "finished_at": campaign.finished_at,
    }


@router.get("/firmware", response={200: list[FirmwareOut], **READ}, summary="Firmware images")
def list_firmware(request: HttpRequest) -> list[dict[str, Any]]:
    return [_firmware_out(image) for image in selectors.firmware_list(user=request.auth)]


@router.post("/firmware", response={201: FirmwareOut, **WRITE}, summary="Upload an image (admin, multipart)")
def upload_firmware(request: HttpRequest, version: Form[str], file: File[UploadedFile]) -> Status[dict[str, Any]]:
    image = services.firmware_upload(actor=request.auth, version=version, upload=file)
    return Status(201, _firmware_out(image))


@router.delete("/firmware/{version}", response={204: None, **WRITE}, summary="Delete an unused image (admin)")
def delete_firmware(request: HttpRequest, version: str) -> Status[None]:
    services.firmware_delete(actor=request.auth, firmware=selectors.firmware_get(user=request.auth, version=version))
    return Status(204, None)


@router.post("/firmware-updates", response={201: UpdateOut, **WRITE}, summary="Update one device (operator)")
def start_update(request: HttpRequest, payload: UpdateIn) -> Status[dict[str, Any]]:
    endpoint = telemetry_selectors.endpoint_get(user=request.auth, name=payload.endpoint)
    image = selectors.firmware_get(user=request.auth, version=payload.version)
    update = services.firmware_update_start(actor=request.auth, endpoint=endpoint, firmware=image)
    return Status(201, _update_out(update))


@router.get("/firmware-updates", response={200: list[UpdateOut], **READ}, summary="Updates, newest first")
def list_updates(
    request: HttpRequest,
    status: str | None = Query(None),
    endpoint: str | None = Query(None),
    limit: int = Query(100, ge=1, le=1000),
    offset: Offset = Query(0),
) -> list[dict[str, Any]]:
    device = telemetry_selectors.endpoint_get(user=request.auth, name=endpoint) if endpoint else None
    updates = selectors.update_list(user=request.auth, endpoint=device, status=status)
    return [_update_out(update) for update in updates[offset : offset + limit]]


@router.post("/firmware-updates/{update_id}/cancel", response={200: UpdateOut, **WRITE}, summary="Cancel an update")
def cancel_update(request: HttpRequest, update_id: RowId) -> dict[str, Any]:
    update = selectors.update_get(user=request.auth, pk=update_id)
    return _update_out(services.firmware_update_cancel(actor=request.auth, update=update))


@router.post("/campaigns", response={201: CampaignOut, **WRITE}, summary="Start a campaign (operator)")
def create_campaign(request: HttpRequest, payload: CampaignIn) -> Status[dict[str, Any]]:
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
    return Status(201, _campaign_out(campaign))


@router.get("/campaigns", response={200: list[CampaignOut], **READ}, summary="Campaigns, newest first")
def list_campaigns(request: HttpRequest) -> list[dict[str, Any]]:
    return [_campaign_out(campaign) for campaign in selectors.campaign_list(user=request.auth)[:200]]


@router.get("/campaigns/{campaign_id}", response={200: CampaignDetailOut, **READ}, summary="A campaign and its devices")
def get_campaign(request: HttpRequest, campaign_id: RowId) -> dict[str, Any]:
    campaign = selectors.campaign_get(user=request.auth, pk=campaign_id)
    devices = [
        {
            "endpoint": member.endpoint.name,
            "wave": member.wave,
            "update": _update_out(member.update) if member.update else None,
            "skipped": member.skipped,
        }
        for member in selectors.campaign_devices(user=request.auth, campaign=campaign)
    ]
    return {**_campaign_out(campaign), "devices": devices}


@router.post("/campaigns/{campaign_id}/pause", response={200: CampaignOut, **WRITE}, summary="Pause a campaign")
def pause_campaign(request: HttpRequest, campaign_id: RowId) -> dict[str, Any]:
    campaign = selectors.campaign_get(user=request.auth, pk=campaign_id)
    return _campaign_out(services.campaign_pause(actor=request.auth, campaign=campaign))


@router.post(
    "/campaigns/{campaign_id}/resume",
    response={200: CampaignOut, **WRITE},
    summary="Resume a paused campaign, or a halted one (its next wave starts now)",
)
def resume_campaign(request: HttpRequest, campaign_id: RowId) -> dict[str, Any]:
    campaign = selectors.campaign_get(user=request.auth, pk=campaign_id)
    return _campaign_out(services.campaign_resume(actor=request.auth, campaign=campaign))


@router.post("/campaigns/{campaign_id}/abort", response={200: CampaignOut, **WRITE}, summary="Abort a campaign")
def abort_campaign(request: HttpRequest, campaign_id: RowId) -> dict[str, Any]:
    campaign = selectors.campaign_get(user=request.auth, pk=campaign_id)
    return _campaign_out(services.campaign_abort(actor=request.auth, campaign=campaign))
