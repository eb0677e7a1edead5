"""What provisioning stores: a device's credentials (the PSK key sealed, ``core.provisioning.crypto``), the
batches a fleet was imported in, and the reports of the syncs with Leshan's security store."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.models import Endpoint


class ImportBatch(models.Model):
    """One CSV file's devices, imported together; their credentials may be exported once, for the factory."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    filename = models.CharField(max_length=255, blank=True)
    devices = models.PositiveIntegerField(default=0)
    created_devices = models.PositiveIntegerField(default=0, help_text="devices Fieldhub did not know before")
    exported_at = models.DateTimeField(null=True, blank=True, help_text="when the credentials were exported")
    exported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"import {self.pk} ({self.devices} devices)"


class Credential(models.Model):
    """How one device authenticates to Leshan. Only the PSK key is secret: it is stored sealed (AES-GCM with a
    key derived from CREDENTIALS_KEY) and never shown again after it was set. Mode ``none``: Leshan holds no
    entry for the device (it talks plain CoAP); a removed credential stays as ``none`` so that the removal's
    push is shown."""

    class Mode(models.TextChoices):
        PSK = "psk", "pre-shared key (PSK)"
        RPK = "rpk", "raw public key (RPK)"
        X509 = "x509", "X.509 certificate"
        NONE = "none", "none"

    endpoint = models.OneToOneField(Endpoint, on_delete=models.CASCADE, related_name="credential")
    mode = models.CharField(max_length=8, choices=Mode.choices)
    identity = models.CharField(max_length=128, blank=True, help_text="PSK identity")
    sealed_key = models.BinaryField(null=True, blank=True, editable=False, help_text="PSK key, sealed")
    key_bits = models.PositiveSmallIntegerField(null=True, blank=True, help_text="PSK key length")
    public_key = models.TextField(blank=True, help_text="RPK: the device's DER SubjectPublicKeyInfo, in hex")
    certificate = models.TextField(blank=True, help_text="X.509: the device's certificate (PEM), if uploaded")
    batch = models.ForeignKey(ImportBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="credentials")
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["endpoint_id"]
        constraints = [
            # A PSK identity names one device (Leshan refuses a second endpoint with it).
            models.UniqueConstraint(fields=["identity"], condition=Q(mode="psk"), name="credential_psk_identity"),
            models.CheckConstraint(condition=Q(mode__in=["psk", "rpk", "x509", "none"]), name="credential_mode_known"),
        ]

    def __str__(self) -> str:
        # Never the key: this is what the admin and logs show.
        return f"{self.mode} credentials of endpoint {self.endpoint_id}"


class SyncReport(models.Model):
    """One comparison of Fieldhub's credentials with Leshan's security store, and what it re-pushed."""

    class Trigger(models.TextChoices):
        MANUAL = "manual"
        SWEEP = "sweep"

    started_at = models.DateTimeField(auto_now_add=True)
    trigger = models.CharField(max_length=8, choices=Trigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    ok = models.BooleanField(default=False, help_text="Leshan answered")
    error = models.TextField(blank=True)
    in_leshan = models.PositiveIntegerField(default=0)
    in_fieldhub = models.PositiveIntegerField(default=0)
    # Endpoint names (at most SYNC_NAMES_KEPT of each): missing from Leshan, different there (both re-pushed),
    # and in Leshan without Fieldhub credentials (reported only: someone else may have put them there).
    missing = models.JSONField(default=list)
    different = models.JSONField(default=list)
    unknown = models.JSONField(default=list)
    missing_count = models.PositiveIntegerField(default=0)
    different_count = models.PositiveIntegerField(default=0)
    unknown_count = models.PositiveIntegerField(default=0)
    repushed = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"sync {self.pk} ({self.trigger})"
