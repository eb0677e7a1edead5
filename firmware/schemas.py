"""Request and response shapes of the firmware API. The Out schemas read what they show from the models
themselves (``Field(alias=...)`` for a related row's attribute, ``resolve_<field>`` for what is computed),
so the handlers return the models."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Field, Schema

from firmware import selectors, services
from firmware.models import Firmware, FirmwareUpdate
from telemetry.models import Rollout, RolloutDevice


class FirmwareOut(Schema):
    version: str
    filename: str
    size: int
    sha256: str
    package_uri: str = Field(description="what devices download it from (5/0/1)")
    created_at: dt.datetime

    @staticmethod
    def resolve_package_uri(obj: Firmware) -> str:
        return services.package_uri(obj)


class UpdateIn(Schema):
    endpoint: str
    version: str


class UpdateOut(Schema):
    id: int
    endpoint: str = Field(alias="endpoint.name")
    version: str = Field(alias="firmware.version")
    status: str = Field(description="QUEUED, DOWNLOADING, DOWNLOADED, UPDATING, SUCCEEDED, FAILED or CANCELLED")
    state: int | None = Field(description="the device's last 5/0/3 State")
    result: int | None = Field(description="the device's last 5/0/5 Update Result")
    error: str
    campaign: int | None = Field(description="the campaign (firmware rollout) number it belongs to")
    created_at: dt.datetime
    finished_at: dt.datetime | None

    @staticmethod
    def resolve_campaign(obj: FirmwareUpdate) -> int | None:
        return obj.campaign_number


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
    endpoint: str = Field(alias="endpoint.name")
    wave: int | None = Field(description="0-based; null: skipped when the campaign was made")
    update: UpdateOut | None
    skipped: str = Field(description='why no update was started, e.g. "already running 1.1.0"; empty if one was')


class CampaignOut(Schema):
    id: int = Field(alias="number", description='its number: "fw-<id>" in /api/v1/rollouts')
    name: str
    version: str = Field(alias="firmware.version")
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

    @staticmethod
    def resolve_progress(obj: Rollout) -> dict[str, int]:
        return selectors.progress(obj)


class CampaignDetailOut(CampaignOut):
    devices: list[CampaignDeviceOut]

    @staticmethod
    def resolve_devices(obj: Rollout, context: dict[str, Any]) -> list[RolloutDevice]:
        """The campaign's devices as the requesting user may see them."""
        return list(selectors.campaign_devices(user=context["request"].auth, campaign=obj))
