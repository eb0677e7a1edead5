"""Request and response shapes of the provisioning API. No Out schema has a field for a key but
``CredentialSetOut.key``, the answer of the call that set it."""

from __future__ import annotations

import datetime as dt

from ninja import Schema
from pydantic import Field


class CredentialIn(Schema):
    mode: str = Field(description="psk, rpk, x509 or none")
    identity: str = Field(default="", max_length=1000, description="PSK identity (default: the endpoint name)")
    key: str = Field(
        default="", max_length=1000, description='PSK key: hex, or "generate" (128 bits) or "generate:256"'
    )
    public_key: str = Field(
        default="", max_length=10_000, description="RPK: the device's EC public key, SubjectPublicKeyInfo in hex or PEM"
    )
    certificate: str = Field(
        default="", max_length=20_000, description="X.509: the device's certificate (PEM, CN = endpoint); optional"
    )


class PushOut(Schema):
    kind: str = Field(description="SECURITY_PUT or SECURITY_DELETE; empty when never pushed")
    status: str = Field(description="QUEUED, SENDING, CONFIRMED, FAILED, CANCELLED; empty when never pushed")
    state: str = Field(description="the same in words")
    error: str
    at: dt.datetime | None


class CredentialOut(Schema):
    endpoint: str
    mode: str
    identity: str
    key_bits: int | None = Field(description="PSK: the key's length; the key itself is never shown again")
    public_key: str
    certificate: str = Field(description="X.509: the uploaded certificate's CN and expiry, or empty")
    push: PushOut
    batch: int | None
    updated_at: dt.datetime | None


class CredentialSetOut(CredentialOut):
    key: str | None = Field(description="PSK: the key, in hex: shown in this answer only")
    generated: bool
    operation: int | None = Field(description="the push's operation id (GET /api/v1/operations/{id})")


class ImportErrorOut(Schema):
    line: int
    field: str
    detail: str


class ImportRefusedOut(Schema):
    detail: str
    path: str | None = None
    errors: list[ImportErrorOut] = Field(default_factory=list, description="each refused row's problems, by line")


class ProgressOut(Schema):
    total: int
    pushed: int
    failed: int
    waiting: int
    done: bool


class ImportOut(Schema):
    batch: int
    devices: int
    created: int = Field(description="devices Fieldhub did not know, created pre-registered")
    updated: int
    pushes: int = Field(description="pushes to Leshan queued")
    progress: ProgressOut
    exported_at: dt.datetime | None


class SyncOut(Schema):
    id: int
    started_at: dt.datetime
    trigger: str
    ok: bool
    error: str
    in_leshan: int
    in_fieldhub: int
    missing: list[str] = Field(description="credentials Leshan did not hold (re-pushed; at most 100 names)")
    different: list[str] = Field(description="credentials Leshan held otherwise (re-pushed)")
    unknown: list[str] = Field(description="Leshan's entries without credentials in Fieldhub (reported only)")
    missing_count: int
    different_count: int
    unknown_count: int
    repushed: int
