"""The device registry: LwM2M endpoints, their sites and labels, and the object registry (ResourceType)."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models.functions import Lower, Now

from core.lwm2m.types import ID_MAX, DataType
from core.roles import Role

DATA_TYPE_CHOICES = [(t.value, t.value) for t in DataType]


class Site(models.Model):
    """Where devices belong (a customer, a building, a region): a device is in at most one site."""

    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="site_name_unique_ci")]

    def __str__(self) -> str:
        return self.name


class Label(models.Model):
    """A free tag for selecting devices (``beta``, ``building-a``): 1-64 of ``[a-z0-9._-]``, from a letter or
    digit (``core.sites.services.label_name_check``)."""

    name = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Endpoint(models.Model):
    """One LwM2M client as Leshan knows it, identified by its endpoint name (e.g. ``urn:imei:...``)."""

    class RegistrationState(models.TextChoices):
        REGISTERED = "REGISTERED", "registered"
        UNREGISTERED = "UNREGISTERED", "unregistered"

    name = models.CharField(max_length=255, unique=True)
    # Database defaults too (db_default), so that ingest's one-statement upsert sets only what it knows.
    registration_state = models.CharField(
        max_length=16,
        choices=RegistrationState.choices,
        default=RegistrationState.UNREGISTERED,
        db_default=RegistrationState.UNREGISTERED,
    )
    # online: registered and heard from; sleeping: a queue-mode device between wake-ups (Leshan's SLEEPING,
    # its "client is sleeping", or past its awake time). Kept by telemetry.services: the ingest (heard from:
    # awake) and endpoints_expire (the sweep: asleep, lapsed), so that every page and the API read the columns.
    online = models.BooleanField(default=False, db_default=False)
    sleeping = models.BooleanField(default=False, db_default=False)
    queue_mode = models.BooleanField(
        default=False,
        db_default=False,
        help_text="the device sleeps between wake-ups: its registration or binding said so, or Leshan did",
    )
    registered_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    lifetime = models.PositiveIntegerField(null=True, blank=True, help_text="registration lifetime, seconds")
    binding = models.CharField(max_length=16, blank=True, db_default="", help_text="binding mode, e.g. U or UQ")
    lwm2m_version = models.CharField(max_length=8, blank=True, db_default="")
    registration_id = models.CharField(max_length=64, blank=True, db_default="", help_text="Leshan's registration id")
    created_at = models.DateTimeField(db_default=Now())
    # PROTECT: a site is deleted only when empty (core.sites.services.site_delete says how many are left).
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.PROTECT, related_name="endpoints")
    labels: models.ManyToManyField[Label, EndpointLabel] = models.ManyToManyField(
        Label, through="EndpointLabel", related_name="endpoints", blank=True
    )

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["online", "-last_seen_at"], name="endpoint_online_seen")]

    def __str__(self) -> str:
        return self.name

    @property
    def status(self) -> str:
        """In words: offline, sleeping or online."""
        if not self.online:
            return "offline"
        return "sleeping" if self.sleeping else "online"


class EndpointLabel(models.Model):
    """One label on one device."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE)
    label = models.ForeignKey(Label, on_delete=models.CASCADE)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["endpoint", "label"], name="endpointlabel_unique")]
        # "devices with label X" (the unique constraint's index serves "labels of device Y").
        indexes = [models.Index(fields=["label", "endpoint"], name="endpointlabel_label")]

    def __str__(self) -> str:
        return f"{self.endpoint_id}: {self.label_id}"


class SiteRule(models.Model):
    """An assignment rule: a device that first appears with no site and whose name matches gets ``site``.
    Rules are tried by position, then id; the first match wins."""

    class Kind(models.TextChoices):
        PREFIX = "prefix", "name starts with"
        PATTERN = "pattern", "name matches the shell pattern (*, ?, [seq])"

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="rules")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    text = models.CharField(max_length=255)
    position = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.text!r} -> site {self.site_id}"


class SiteRole(models.Model):
    """A user's role on one site: viewer, operator or admin of that site's devices (and, for admin, of its
    users and assignment rules). A user may also hold a global role (a group, ``core.roles``); on a site
    they hold the higher of the two (``core.permissions.scope_of``)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="site_roles")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="user_roles")
    role = models.CharField(max_length=16, choices=[(r.value, r.value) for r in Role])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "site"], name="siterole_one_per_user_and_site"),
            models.CheckConstraint(condition=models.Q(role__in=[r.value for r in Role]), name="siterole_role_known"),
        ]
        indexes = [models.Index(fields=["site", "user"], name="siterole_site")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.role} on site {self.site_id}"


class ResourceType(models.Model):
    """One resource of the LwM2M object registry: what ``/object/*/resource`` means and holds."""

    class Operations(models.TextChoices):
        NONE = "", "none"
        READ = "R", "read"
        WRITE = "W", "write"
        READ_WRITE = "RW", "read/write"
        EXECUTE = "E", "execute"

    object_id = models.PositiveIntegerField(validators=[MaxValueValidator(ID_MAX)])
    resource_id = models.PositiveIntegerField(validators=[MaxValueValidator(ID_MAX)])
    object_name = models.CharField(max_length=128)
    name = models.CharField(max_length=128, help_text="resource name from the object definition")
    slug = models.SlugField(max_length=160, unique=True, help_text="machine name, e.g. temperature")
    data_type = models.CharField(max_length=16, choices=DATA_TYPE_CHOICES)
    units = models.CharField(max_length=32, blank=True)
    operations = models.CharField(max_length=2, choices=Operations.choices, blank=True)
    multiple = models.BooleanField(default=False, help_text="the resource has multiple instances")
    mandatory = models.BooleanField(default=False)
    range_enumeration = models.CharField(max_length=255, blank=True)
    description = models.TextField(blank=True)
    # False for types first seen in a payload (no object definition known).
    defined = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["object_id", "resource_id"]
        constraints = [
            models.UniqueConstraint(fields=["object_id", "resource_id"], name="resourcetype_unique_ids"),
            models.CheckConstraint(
                condition=models.Q(object_id__lte=ID_MAX, resource_id__lte=ID_MAX), name="resourcetype_ids_16bit"
            ),
        ]

    def __str__(self) -> str:
        return f"/{self.object_id}/{self.resource_id} {self.slug}"

    @property
    def lwm2m_type(self) -> DataType:
        return DataType(self.data_type)

    @property
    def readable(self) -> bool:
        return "R" in self.operations

    @property
    def writable(self) -> bool:
        return "W" in self.operations

    @property
    def executable(self) -> bool:
        return self.operations == "E"


class ApiToken(models.Model):
    """A personal API token: ``Authorization: Bearer fh_...``. Only its SHA-256 is stored; the token itself
    is shown once, when it is created."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="what the token is for, e.g. grafana")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=12, editable=False, help_text="the token's first characters")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class LoginThrottle(models.Model):
    """Failed logins counted for one user name or one client address (``user:alice``, ``address:10.0.0.7``),
    shared by every process through the database (core.services.login_authenticate)."""

    key = models.CharField(max_length=200, unique=True)
    failures = models.PositiveIntegerField(default=0)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        # Forgotten rows are deleted by the age of their last failure.
        indexes = [models.Index(fields=["last_failure_at"], name="loginthrottle_last_failure")]

    def __str__(self) -> str:
        return f"{self.key}: {self.failures} failure(s)"


# Provisioning's tables live in core/provisioning/models.py (the package owns them); importing them here
# makes them core's models.
from core.provisioning.models import Credential, ImportBatch, SyncReport  # noqa: E402

__all__ = [
    "ApiToken",
    "Credential",
    "Endpoint",
    "EndpointLabel",
    "ImportBatch",
    "Label",
    "LoginThrottle",
    "ResourceType",
    "Site",
    "SiteRole",
    "SiteRule",
    "SyncReport",
]
