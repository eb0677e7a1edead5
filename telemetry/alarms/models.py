"""What alarms are stored as: a rule, the alarms it raised (one open per rule and device), each alarm's
history, and the evaluation state of a rule on a device while its condition waits for its duration."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.models import Endpoint, Site


class Severity(models.TextChoices):
    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    WARNING = "warning"


SEVERITY_RANK = {Severity.CRITICAL: 4, Severity.MAJOR: 3, Severity.MINOR: 2, Severity.WARNING: 1}


class AlarmRule(models.Model):
    """A condition on a resource of the devices in its scope (kinds above … changed), or on the fleet
    (no data, offline, battery, failed update or command). Scope: one device, else a site and/or labels
    (every device when none is set)."""

    class Kind(models.TextChoices):
        ABOVE = "above"
        BELOW = "below"
        OUTSIDE = "outside"
        EQUAL = "equal"
        CHANGED = "changed"
        NO_DATA = "no_data"
        OFFLINE = "offline"
        BATTERY = "battery"
        FIRMWARE_FAILED = "firmware_failed"
        COMMAND_FAILED = "command_failed"

    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.MAJOR)
    enabled = models.BooleanField(default=True)
    # What it watches (resource kinds): "/3303/*/5700" as given, and its parts (instance None: every one).
    path = models.CharField(max_length=32, blank=True)
    object_id = models.PositiveIntegerField(null=True, blank=True)
    instance_id = models.PositiveIntegerField(null=True, blank=True)
    resource_id = models.PositiveIntegerField(null=True, blank=True)
    # The condition: above/below `threshold`; outside [threshold, threshold_high]; equal `value`. Hysteresis:
    # cleared only when back past `clear_threshold` (below: above it), or inside [clear_threshold,
    # clear_threshold_high] for outside; None: at the threshold itself.
    threshold = models.FloatField(null=True, blank=True)
    threshold_high = models.FloatField(null=True, blank=True)
    clear_threshold = models.FloatField(null=True, blank=True)
    clear_threshold_high = models.FloatField(null=True, blank=True)
    value = models.JSONField(null=True, blank=True, help_text="equal: the value that raises it")
    # Duration: raised when true for `duration_seconds` or for `readings` consecutive readings; fleet
    # kinds: minutes without data / offline, battery percent in `threshold`.
    duration_seconds = models.PositiveIntegerField(default=0)
    readings = models.PositiveIntegerField(default=1)
    # Scope.
    endpoint = models.ForeignKey(Endpoint, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.CASCADE, related_name="alarm_rules")
    labels = models.JSONField(default=list, blank=True, help_text="devices with all of these labels")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["enabled", "object_id", "resource_id"], name="alarmrule_watch")]

    def __str__(self) -> str:
        return self.name


class Alarm(models.Model):
    """A rule's alarm on one device. Open (ACTIVE or ACKNOWLEDGED) at most once per rule and device; a
    cleared alarm whose condition comes back is a new alarm."""

    class State(models.TextChoices):
        ACTIVE = "active"
        ACKNOWLEDGED = "acknowledged"
        CLEARED = "cleared"

    OPEN = (State.ACTIVE, State.ACKNOWLEDGED)

    rule = models.ForeignKey(AlarmRule, on_delete=models.CASCADE, related_name="alarms")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="alarms")
    severity = models.CharField(max_length=8, choices=Severity.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.ACTIVE)
    path = models.CharField(max_length=32, blank=True, help_text="the resource that raised it, e.g. /3303/0/5700")
    message = models.CharField(max_length=255, blank=True)
    raised_at = models.DateTimeField()
    raised_value = models.JSONField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True, help_text="the acknowledging user's note")
    cleared_at = models.DateTimeField(null=True, blank=True)
    cleared_value = models.JSONField(null=True, blank=True)
    cleared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="empty: cleared by its condition",
    )
    changed_at = models.DateTimeField(help_text="device time of the last change: older readings do not flap it")

    class Meta:
        ordering = ["-raised_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "endpoint"],
                condition=Q(state__in=["active", "acknowledged"]),
                name="alarm_one_open_per_rule_device",
            )
        ]
        indexes = [
            models.Index(fields=["state", "severity"], name="alarm_state_severity"),
            models.Index(fields=["endpoint", "state"], name="alarm_endpoint_state"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} on {self.endpoint_id}: {self.state}"


class AlarmChange(models.Model):
    """One step of an alarm's history: raised, acknowledged, cleared (by whom, with what value or note)."""

    alarm = models.ForeignKey(Alarm, on_delete=models.CASCADE, related_name="changes")
    state = models.CharField(max_length=16, choices=Alarm.State.choices)
    at = models.DateTimeField()
    value = models.JSONField(null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"alarm {self.alarm_id} {self.state} at {self.at:%Y-%m-%d %H:%M:%S}"


class AlarmWatch(models.Model):
    """A rule's condition on one device while it waits for its duration or its count of readings (true
    since `since`, `count` readings in a row), or while it waits to clear; removed when it settles."""

    rule = models.ForeignKey(AlarmRule, on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="+")
    since = models.DateTimeField()
    count = models.PositiveIntegerField(default=1)
    last_value = models.JSONField(null=True, blank=True, help_text="changed: the value seen last")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "endpoint"], name="alarmwatch_unique")]

    def __str__(self) -> str:
        return f"rule {self.rule_id} on {self.endpoint_id} since {self.since:%Y-%m-%d %H:%M:%S}"
