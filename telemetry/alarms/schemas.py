"""The alarms API's In/Out schemas: rules (``AlarmRule``), alarms with their history."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Field, Schema
from pydantic import ConfigDict

from telemetry.alarms.models import Alarm, AlarmChange, AlarmRule


class AlarmRuleIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str
    kind: str = Field(
        description="above, below, outside, equal, changed (a resource); no_data, offline, battery, "
        "firmware_failed, command_failed (the fleet)"
    )
    severity: str = Field(default="major", description="critical, major, minor or warning")
    enabled: bool = True
    description: str = ""
    path: str = Field(default="", description="the resource watched: /3303/*/5700 (every instance) or /3303/0/5700")
    resource: str = Field(default="", description="or its registry name instead of path, e.g. temperature")
    threshold: float | None = Field(default=None, description="above / below / battery (percent); outside: low end")
    threshold_high: float | None = Field(default=None, description="outside: the range's high end")
    clear_threshold: float | None = Field(default=None, description="hysteresis: cleared only past this")
    clear_threshold_high: float | None = Field(default=None, description="outside: the clear range's high end")
    value: Any = Field(default=None, description="equal: the value that raises it")
    duration_seconds: int = Field(default=0, description="raised only when true this long (no_data, offline: quiet)")
    minutes: int | None = Field(default=None, description="no_data, offline: minutes (instead of duration_seconds)")
    readings: int = Field(default=1, description="raised only when true for this many readings in a row")
    endpoint: str | None = Field(default=None, description="scope: one device (its name)")
    site: int | None = Field(default=None, description="scope: a site's devices (its id)")
    labels: list[str] = Field(default_factory=list, description="scope: devices with all of these labels")


class AlarmRulePatchIn(Schema):
    """The fields to change; those not sent stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    kind: str | None = None
    severity: str | None = None
    enabled: bool | None = None
    description: str | None = None
    path: str | None = None
    resource: str | None = None
    threshold: float | None = None
    threshold_high: float | None = None
    clear_threshold: float | None = None
    clear_threshold_high: float | None = None
    value: Any = None
    duration_seconds: int | None = None
    minutes: int | None = None
    readings: int | None = None
    endpoint: str | None = None
    site: int | None = None
    labels: list[str] | None = None


class AlarmRuleOut(Schema):
    id: int
    name: str
    description: str
    kind: str
    severity: str
    enabled: bool
    path: str
    threshold: float | None
    threshold_high: float | None
    clear_threshold: float | None
    clear_threshold_high: float | None
    value: Any
    duration_seconds: int
    readings: int
    endpoint: str | None = Field(description="scope: one device")
    site: int | None = Field(description="scope: a site")
    labels: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_endpoint(obj: AlarmRule) -> str | None:
        return obj.endpoint.name if obj.endpoint is not None else None

    @staticmethod
    def resolve_site(obj: AlarmRule) -> int | None:
        return obj.site_id


class AlarmRulePageOut(Schema):
    items: list[AlarmRuleOut]
    count: int
    limit: int
    offset: int


class AlarmOut(Schema):
    id: int
    rule: int
    rule_name: str
    endpoint: str
    site: int | None
    severity: str
    state: str = Field(description="active, acknowledged or cleared")
    path: str
    message: str
    raised_at: dt.datetime = Field(description="device time of the reading that raised it")
    raised_value: Any
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    note: str
    cleared_at: dt.datetime | None
    cleared_value: Any
    cleared_by: str | None = Field(description="null: cleared by its condition (or not cleared)")
    changed_at: dt.datetime

    @staticmethod
    def resolve_rule(obj: Alarm) -> int:
        return obj.rule_id

    @staticmethod
    def resolve_rule_name(obj: Alarm) -> str:
        return obj.rule.name

    @staticmethod
    def resolve_endpoint(obj: Alarm) -> str:
        return obj.endpoint.name

    @staticmethod
    def resolve_site(obj: Alarm) -> int | None:
        return obj.endpoint.site_id

    @staticmethod
    def resolve_acknowledged_by(obj: Alarm) -> str | None:
        return obj.acknowledged_by.get_username() if obj.acknowledged_by is not None else None

    @staticmethod
    def resolve_cleared_by(obj: Alarm) -> str | None:
        return obj.cleared_by.get_username() if obj.cleared_by is not None else None


class AlarmChangeOut(Schema):
    state: str
    at: dt.datetime
    value: Any
    user: str | None
    note: str

    @staticmethod
    def resolve_user(obj: AlarmChange) -> str | None:
        return obj.user.get_username() if obj.user is not None else None


class AlarmDetailOut(AlarmOut):
    history: list[AlarmChangeOut]


class AlarmPageOut(Schema):
    items: list[AlarmOut]
    count: int
    limit: int
    offset: int


class NoteIn(Schema):
    model_config = ConfigDict(extra="forbid")

    note: str = ""
