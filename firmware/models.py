"""Firmware images and firmware updates, following the LwM2M Firmware Update object (5). A campaign (many
devices in waves) is a ``telemetry.models.Rollout`` of kind FIRMWARE, its devices' updates linked from
their ``RolloutDevice.update``."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models

from core.models import Endpoint
from telemetry.models import EndpointOperation


def new_download_token() -> str:
    return secrets.token_urlsafe(32)


class Firmware(models.Model):
    """A firmware image that devices download from its Package URI."""

    version = models.CharField(max_length=64, unique=True)
    file = models.FileField(upload_to=settings.FIRMWARE_DIR, max_length=255)
    filename = models.CharField(max_length=255, help_text="the uploaded file's name")
    size = models.PositiveBigIntegerField(help_text="bytes")
    sha256 = models.CharField(max_length=64)
    # In the Package URI: devices cannot log in, so the image is reachable only by who knows this.
    download_token = models.CharField(max_length=43, unique=True, editable=False, default=new_download_token)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.version


class FirmwareUpdate(models.Model):
    """One firmware update of one device: the Package URI write, the device's states, the execute, the result."""

    class Status(models.TextChoices):
        QUEUED = "QUEUED", "waiting to send the package URI"
        DOWNLOADING = "DOWNLOADING", "downloading"
        DOWNLOADED = "DOWNLOADED", "downloaded"
        UPDATING = "UPDATING", "updating"
        SUCCEEDED = "SUCCEEDED", "succeeded"
        FAILED = "FAILED", "failed"
        CANCELLED = "CANCELLED", "cancelled"

    ACTIVE_STATUSES = (Status.QUEUED, Status.DOWNLOADING, Status.DOWNLOADED, Status.UPDATING)

    class State(models.IntegerChoices):
        """Resource 5/0/3 State."""

        IDLE = 0, "idle"
        DOWNLOADING = 1, "downloading"
        DOWNLOADED = 2, "downloaded"
        UPDATING = 3, "updating"

    class Result(models.IntegerChoices):
        """Resource 5/0/5 Update Result."""

        INITIAL = 0, "initial value"
        SUCCESS = 1, "firmware updated successfully"
        NOT_ENOUGH_FLASH = 2, "not enough flash memory for the new firmware package"
        OUT_OF_RAM = 3, "out of RAM during downloading"
        CONNECTION_LOST = 4, "connection lost during downloading"
        INTEGRITY_CHECK_FAILURE = 5, "integrity check failure for the downloaded package"
        UNSUPPORTED_PACKAGE_TYPE = 6, "unsupported package type"
        INVALID_URI = 7, "invalid URI"
        UPDATE_FAILED = 8, "firmware update failed"
        UNSUPPORTED_PROTOCOL = 9, "unsupported protocol"
        CANCELLED = 10, "firmware update cancelled"
        DEFERRED = 11, "firmware update deferred"

    endpoint = models.ForeignKey(Endpoint, on_delete=models.PROTECT, related_name="firmware_updates")
    firmware = models.ForeignKey(Firmware, on_delete=models.PROTECT, related_name="updates")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    state = models.PositiveSmallIntegerField(choices=State.choices, null=True, blank=True)
    result = models.PositiveSmallIntegerField(choices=Result.choices, null=True, blank=True)
    # The two operations from server to device: write the Package URI (5/0/1), execute Update (5/0/2).
    uri_operation = models.ForeignKey(
        EndpointOperation, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    execute_operation = models.ForeignKey(
        EndpointOperation, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    cancel_operation = models.ForeignKey(
        EndpointOperation, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The device registered again while updating: a Firmware Version then is the outcome of the update.
    rebooted = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    phase_started_at = models.DateTimeField(null=True, blank=True, help_text="when the current status began")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint"],
                condition=models.Q(status__in=["QUEUED", "DOWNLOADING", "DOWNLOADED", "UPDATING"]),
                name="firmwareupdate_one_active_per_endpoint",
            ),
        ]
        indexes = [models.Index(fields=["status", "phase_started_at"], name="firmwareupdate_status_phase")]

    def __str__(self) -> str:
        return f"{self.firmware} on {self.endpoint} ({self.status})"

    @property
    def active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def campaign_number(self) -> int | None:
        """The number of the campaign (firmware rollout) whose device's update this is, or None (read with
        ``rollout_device__rollout``, as ``firmware.selectors.update_list`` reads it)."""
        member = getattr(self, "rollout_device", None)
        return member.rollout.number if member is not None else None
