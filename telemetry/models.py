"""Telemetry: every value a device reported, events that group them, and the operations queued for devices."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from core.lwm2m import types as lwm2m
from core.models import Endpoint, ResourceType


class Resource(models.Model):
    """One value of one resource (instance) of one device, typed, with device and receive times.

    The value sits in the column its type needs (``core.lwm2m.types.to_columns``); read it with ``value``.
    Rows are append-only; deleting an endpoint or resource type that still has telemetry is refused.
    On PostgreSQL the table is partitioned by ``measured_at`` and old partitions may be dropped
    (``telemetry.partitions``, ``TELEMETRY_RETENTION_DAYS``).
    """

    id = models.BigAutoField(primary_key=True)
    # No single-column FK indexes: the composite index below serves every lookup by endpoint and keeps
    # inserts cheap. (Deleting a ResourceType scans for rows; it is a rare, deliberate admin action.)
    endpoint = models.ForeignKey(Endpoint, on_delete=models.PROTECT, related_name="+", db_index=False)
    resource_type = models.ForeignKey(ResourceType, on_delete=models.PROTECT, related_name="+", db_index=False)
    object_instance_id = models.PositiveIntegerField(default=0)
    resource_instance_id = models.PositiveIntegerField(null=True, blank=True)
    value_int = models.BigIntegerField(null=True, blank=True)
    value_float = models.FloatField(null=True, blank=True)
    value_bool = models.BooleanField(null=True, blank=True)
    value_str = models.TextField(null=True, blank=True)  # noqa: DJ001 - NULL: no text value; "" is a value
    value_bytes = models.BinaryField(null=True, blank=True)
    measured_at = models.DateTimeField(help_text="when the device measured (its timestamp, else receive time)")
    received_at = models.DateTimeField(help_text="when Fieldhub received the value")

    class Meta:
        indexes = [
            # "latest value per endpoint and resource" and "time range for one endpoint/resource".
            models.Index(
                fields=["endpoint", "resource_type", "object_instance_id", "resource_instance_id", "measured_at"],
                name="resource_series",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.path} = {self.value!r}"

    @property
    def path(self) -> str:
        parts = [self.resource_type.object_id, self.object_instance_id, self.resource_type.resource_id]
        if self.resource_instance_id is not None:
            parts.append(self.resource_instance_id)
        return "/" + "/".join(str(p) for p in parts)

    @property
    def value(self) -> lwm2m.Value:
        columns = {name: getattr(self, name) for name in lwm2m.VALUE_COLUMNS}
        return lwm2m.from_columns(self.resource_type.lwm2m_type, columns)

    def set_value(self, value: lwm2m.Value) -> None:
        columns: dict[str, Any] = dict.fromkeys(lwm2m.VALUE_COLUMNS)
        columns.update(lwm2m.to_columns(self.resource_type.lwm2m_type, value))
        for name, column_value in columns.items():
            setattr(self, name, column_value)


class LatestValue(models.Model):
    """The newest reading of each resource (instance) of each device, kept by the ingest in the same
    statement as the readings: a device page reads its hundreds of latest values here, without scanning
    the millions of rows of its history."""

    id = models.BigAutoField(primary_key=True)
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="+", db_index=False)
    path = models.CharField(max_length=32, help_text="/object/instance/resource[/resource instance]")
    # No database constraint: on PostgreSQL the readings table is partitioned and its key is (id,
    # measured_at). The ingest writes a reading and this pointer in one statement; telemetry.partitions,
    # the only code that deletes readings, keeps the reading a latest value points at.
    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    measured_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["endpoint", "path"], name="latestvalue_unique_path")]
        indexes = [models.Index(fields=["path", "endpoint"], name="latestvalue_path")]

    def __str__(self) -> str:
        return f"{self.endpoint_id} {self.path} -> {self.resource_id}"


class Event(models.Model):
    """Several resources reported together (a composite or timestamped post), linked by EventResource."""

    id = models.BigAutoField(primary_key=True)
    endpoint = models.ForeignKey(Endpoint, on_delete=models.PROTECT, related_name="+", db_index=False)
    event_type = models.CharField(max_length=64, help_text="object id(s) of the resources, e.g. 3303")
    description = models.CharField(max_length=255, blank=True, help_text="object name(s), e.g. Temperature")
    measured_at = models.DateTimeField()
    created_at = models.DateTimeField()
    resources: models.ManyToManyField[Resource, EventResource] = models.ManyToManyField(
        Resource, through="EventResource", related_name="events"
    )

    class Meta:
        indexes = [
            models.Index(fields=["endpoint", "measured_at"], name="event_endpoint_time"),
            models.Index(fields=["event_type", "measured_at"], name="event_type_time"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.description} @ {self.measured_at:%Y-%m-%d %H:%M:%S}"


class EventResource(models.Model):
    id = models.BigAutoField(primary_key=True)
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+", db_index=False)
    # No database constraint (see LatestValue.resource): telemetry.partitions deletes the links with the
    # readings they point at.
    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="+", db_constraint=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event", "resource"], name="eventresource_unique")]

    def __str__(self) -> str:
        return f"event {self.event_id} - resource {self.resource_id}"


class EndpointOperation(models.Model):
    """A write, execute, read or observe for a device, queued until the device is reachable."""

    class Kind(models.TextChoices):
        WRITE = "WRITE", "write"
        EXECUTE = "EXECUTE", "execute"
        READ = "READ", "read"
        OBSERVE = "OBSERVE", "observe"
        OBSERVE_CANCEL = "OBSERVE_CANCEL", "cancel observation"
        # Not to the device: to Leshan's security store (telemetry.provisioning), whether the device is awake or not.
        SECURITY_PUT = "SECURITY_PUT", "push credentials"
        SECURITY_DELETE = "SECURITY_DELETE", "remove credentials"

    class Status(models.TextChoices):
        QUEUED = "QUEUED", "queued"
        SENDING = "SENDING", "sending"
        CONFIRMED = "CONFIRMED", "confirmed"
        FAILED = "FAILED", "failed"
        CANCELLED = "CANCELLED", "cancelled"

    OPEN_STATUSES = (Status.QUEUED, Status.SENDING)
    # The kinds Leshan answers for itself (its security store): sent even to a device that is offline.
    PROVISIONING_KINDS = (Kind.SECURITY_PUT, Kind.SECURITY_DELETE)

    id = models.BigAutoField(primary_key=True)
    endpoint = models.ForeignKey(Endpoint, on_delete=models.PROTECT, related_name="operations")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    path = models.CharField(max_length=32, help_text="LwM2M path, e.g. /3/0/14")
    payload = models.JSONField(null=True, blank=True, help_text="the node to write, or execute arguments")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="not sent before (backoff)")
    last_error = models.TextField(blank=True)
    result = models.JSONField(null=True, blank=True, help_text="Leshan's answer")
    request_id = models.CharField(max_length=64, blank=True, help_text="Leshan's id of a delayed request")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    # Not a column: set by selectors.operations_mark_retryable for the pages that show a Retry button.
    retryable: bool

    class Meta:
        indexes = [
            models.Index(fields=["endpoint", "status", "id"], name="operation_endpoint_status"),
            models.Index(fields=["status", "next_attempt_at"], name="operation_status_due"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.path} on {self.endpoint_id} ({self.status})"


class Rollout(models.Model):
    """One operation (a write, an execute, an observation or its cancel, or a firmware update) sent to a
    selection of devices in waves (``telemetry.rollouts``): a wave starts when the one before it finished with
    few enough failures, else the rollout halts and says why. The selection is frozen when it is made
    (``RolloutDevice``). A firmware rollout (a "campaign") is run by the firmware app through
    ``telemetry.rollouts.kinds``; it has its own ``number`` (its id "fw-<number>", its pages'
    /firmware/campaigns/<number>/)."""

    FIRMWARE = "FIRMWARE"  # the kind of a firmware rollout: a command's kinds, and this one
    KINDS = [*EndpointOperation.Kind.choices, (FIRMWARE, "firmware update")]

    class Status(models.TextChoices):
        RUNNING = "RUNNING", "running"
        PAUSED = "PAUSED", "paused"
        HALTED = "HALTED", "halted"
        COMPLETED = "COMPLETED", "completed"
        ABORTED = "ABORTED", "aborted"

    OPEN_STATUSES = (Status.RUNNING, Status.PAUSED, Status.HALTED)

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=KINDS)
    path = models.CharField(max_length=32, blank=True, help_text="LwM2M path, e.g. /1/0/1 (none for firmware)")
    firmware = models.ForeignKey(
        "firmware.Firmware",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rollouts",
        help_text="a firmware rollout's image",
    )
    number = models.PositiveIntegerField(
        null=True, blank=True, unique=True, help_text='a firmware rollout\'s number: its id "fw-<number>"'
    )
    sites = models.JSONField(
        default=list, help_text="ids of the sites its devices were in when it was made (null: no site)"
    )
    site = models.ForeignKey(
        "core.Site",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="the one site of all its devices when it was made (None: several sites, or none); a firmware "
        "rollout is seen by the users of this site only",
    )
    request = models.JSONField(default=dict, help_text="what the operator asked: value, values or arguments")
    payload = models.JSONField(null=True, blank=True, help_text="what each operation sends (checked once)")
    selection = models.JSONField(default=dict, help_text="how the devices were chosen: a filter or names")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    waves = models.JSONField(help_text="devices in each wave, e.g. [10, 90, 900]")
    current_wave = models.PositiveIntegerField(default=0, help_text="0-based index of the wave under way")
    max_failure_rate = models.FloatField(help_text="a wave with more failed than this (0..1) halts the rollout")
    reason = models.TextField(blank=True, help_text="why the rollout halted or ended")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind} {self.path or self.firmware_id})"


class RolloutDevice(models.Model):
    """One device of a rollout: its wave and, once its wave started, its operation (whose status is the
    device's: queued, sent, confirmed, failed, cancelled); or why it was skipped."""

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="devices")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.PROTECT, related_name="+")
    wave = models.PositiveIntegerField(null=True, blank=True, help_text="0-based; empty: skipped when it was made")
    operation = models.OneToOneField(
        EndpointOperation, on_delete=models.SET_NULL, null=True, blank=True, related_name="rollout_device"
    )
    update = models.OneToOneField(
        "firmware.FirmwareUpdate",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="rollout_device",
        help_text="a firmware rollout's: the device's update (whose status is the device's)",
    )
    skipped = models.CharField(max_length=255, blank=True, help_text="why no operation was queued")

    class Meta:
        ordering = [models.F("wave").asc(nulls_last=True), "id"]
        constraints = [models.UniqueConstraint(fields=["rollout", "endpoint"], name="rolloutdevice_unique")]
        indexes = [models.Index(fields=["rollout", "wave", "id"], name="rolloutdevice_wave")]

    def __str__(self) -> str:
        return f"{self.endpoint_id} in rollout {self.rollout_id}"


# Alarms and their notifications keep their models in their own packages (telemetry/alarms,
# telemetry/notifications); the telemetry app owns them.
from telemetry.alarms.models import Alarm, AlarmChange, AlarmRule, AlarmWatch  # noqa: E402
from telemetry.notifications.models import Notification, NotificationChannel  # noqa: E402

__all__ = [
    "Alarm",
    "AlarmChange",
    "AlarmRule",
    "AlarmWatch",
    "EndpointOperation",
    "Event",
    "EventResource",
    "LatestValue",
    "Notification",
    "NotificationChannel",
    "Resource",
    "Rollout",
    "RolloutDevice",
]
