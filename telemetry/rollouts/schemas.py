"""The rollout API's In/Out schemas. Out schemas read a ``kinds.RolloutSummary`` (any kind) or a
``RolloutDevice``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Field, Schema
from pydantic import ConfigDict

from telemetry.models import RolloutDevice
from telemetry.rollouts import selectors


class SelectionIn(Schema):
    """A filter (any of status, site, labels, firmware, name; none: every device you operate), or a list of
    endpoint names."""

    model_config = ConfigDict(extra="forbid")

    status: str | None = Field(default=None, description="online, sleeping or offline")
    site: str | None = Field(default=None, description='a site id, or "none": devices in no site')
    labels: list[str] = Field(default_factory=list, description="devices with every one of these labels")
    firmware: str | None = Field(default=None, description="devices running this firmware version (3/0/3)")
    name: str | None = Field(default=None, description="devices with this in their name")
    endpoints: list[str] = Field(default_factory=list, description="endpoint names (instead of a filter)")

    def selection(self) -> selectors.Selection:
        return selectors.Selection(
            status=self.status,
            site=self.site,
            labels=self.labels,
            firmware=self.firmware,
            name=self.name,
            endpoints=self.endpoints,
        )


class RolloutIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str
    kind: str = Field(description="write, execute, observe, observe_cancel, read or firmware")
    path: str = Field(
        default="", description="LwM2M path, e.g. /1/0/1 (a resource) or /3/0 (an instance, with values); not firmware"
    )
    firmware: str | int | None = Field(default=None, description="firmware: the image's version, or its id")
    value: Any = Field(default=None, description="write: the value")
    values: dict[str, Any] | None = Field(default=None, description="write: {resource id: value} for an instance")
    arguments: str = Field(default="", description="execute: arguments, e.g. 0='reason'")
    selection: SelectionIn
    waves: list[int] = Field(default=[100], description="cumulative percentages, or device counts per wave")
    unit: str = Field(default="percent", description='"percent" or "devices"')
    max_failure_rate: float = Field(default=0.1, description="a wave with more failed (0..1) halts the rollout")


class WaveOut(Schema):
    wave: int = Field(description="1-based")
    total: int
    waiting: int
    queued: int
    sent: int
    confirmed: int
    failed: int
    cancelled: int
    skipped: int


class RolloutOut(Schema):
    id: str = Field(description='a command rollout\'s number ("12"), or a kind\'s prefix and number ("fw-7")')
    kind: str = Field(description='"command" or "firmware"')
    name: str
    status: str = Field(description="running, paused, halted, completed or aborted")
    operation: str
    created_at: dt.datetime
    total: int
    done: int = Field(description="confirmed (firmware: updated)")
    failed: int
    skipped: int
    active: int = Field(description="queued or sent (firmware: under way)")
    cancelled: int
    waiting: int = Field(description="in a wave not started yet")
    percent: int
    waves: list[int] = Field(description="devices per wave")
    current_wave: int = Field(description="0-based")
    reason: str
    url: str = Field(description="its page")
    api_url: str = Field(description="its own resource: /api/v1/rollouts/12, or /api/v1/campaigns/7")


class RolloutDetailOut(RolloutOut):
    wave_counts: list[WaveOut] = Field(description="each wave's devices by status")


class RolloutPageOut(Schema):
    items: list[RolloutOut]
    count: int
    limit: int
    offset: int


class RolloutDeviceOut(Schema):
    endpoint: str = Field(alias="endpoint.name")
    wave: int | None = Field(description="1-based; null: skipped when the rollout was made")
    status: str = Field(description="waiting, queued, sent, confirmed, failed, cancelled or skipped")
    skipped: str = Field(description="why it was skipped")
    error: str = Field(description="failed: the device's or Leshan's answer (the CoAP error)")
    operation: int | None = Field(description="its operation's id (/api/v1/operations/{id})")
    update: int | None = Field(description="a firmware rollout's: the device's update (/api/v1/firmware-updates)")
    updated_at: dt.datetime | None

    @staticmethod
    def resolve_wave(obj: RolloutDevice) -> int | None:
        return None if obj.wave is None else obj.wave + 1

    @staticmethod
    def resolve_status(obj: RolloutDevice) -> str:
        return selectors.device_status(obj)

    @staticmethod
    def resolve_error(obj: RolloutDevice) -> str:
        if obj.update is not None and selectors.device_status(obj) == "failed":
            return str(obj.update.error)
        return obj.operation.last_error if obj.operation is not None and obj.operation.status == "FAILED" else ""

    @staticmethod
    def resolve_update(obj: RolloutDevice) -> int | None:
        return obj.update_id

    @staticmethod
    def resolve_operation(obj: RolloutDevice) -> int | None:
        return obj.operation_id

    @staticmethod
    def resolve_updated_at(obj: RolloutDevice) -> dt.datetime | None:
        if obj.update is not None:
            return obj.update.updated_at
        return obj.operation.updated_at if obj.operation is not None else None


class RolloutDevicePageOut(Schema):
    items: list[RolloutDeviceOut]
    count: int
    limit: int
    offset: int


class PreviewOut(Schema):
    devices: int = Field(description="devices the selection reaches")
    skipped: int = Field(description="of the names listed, those you may not operate")
