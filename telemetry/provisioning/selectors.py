"""Every read of provisioning, for the requesting user: a device's credentials without their secret (operators
and up), the push state of each (its latest push operation), import batches and their progress, the last
sync, and the server identity Leshan shows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db.models import Exists, F, Max, OuterRef, QuerySet, Subquery

from core.errors import NotFound
from core.leshan import LeshanClient, Outcome
from core.models import Endpoint
from core.permissions import Principal, require_on, require_scope, scope_of
from core.provisioning.credentials import certificate_subject
from core.provisioning.models import Credential, ImportBatch, SyncReport
from core.roles import Role
from telemetry.models import EndpointOperation

Status = EndpointOperation.Status
CREDENTIALS_LISTED = 200


@dataclass(frozen=True)
class CredentialView:
    """A device's credentials as operators may see them: never the key."""

    endpoint: str
    mode: str
    mode_label: str
    identity: str
    key_bits: int | None
    public_key: str
    certificate: str  # the certificate's CN and expiry, in words ("" for the mode only)
    push_kind: str
    push_status: str  # QUEUED, SENDING, CONFIRMED, FAILED, CANCELLED, or "" (never pushed)
    push_error: str
    push_at: dt.datetime | None
    batch_id: int | None
    updated_at: dt.datetime | None

    @property
    def push_words(self) -> str:
        if not self.push_status:
            return "not pushed"
        removing = self.push_kind == "SECURITY_DELETE"
        return {
            "QUEUED": "removal queued" if removing else "push queued",
            "SENDING": "being removed" if removing else "being pushed",
            "CONFIRMED": "removed from Leshan" if removing else "in Leshan",
            "FAILED": "removal failed" if removing else "push failed",
            "CANCELLED": "push cancelled",
        }.get(self.push_status, self.push_status.lower())


def _latest_push(field: str) -> Subquery:
    return Subquery(
        EndpointOperation.objects.filter(
            endpoint=OuterRef("endpoint_id"), kind__in=EndpointOperation.PROVISIONING_KINDS
        )
        .order_by("-id")
        .values(field)[:1]
    )


def _with_push(credentials: QuerySet[Credential]) -> QuerySet[Credential]:
    return credentials.select_related("endpoint").annotate(
        push_kind=_latest_push("kind"),
        push_status=_latest_push("status"),
        push_error=_latest_push("last_error"),
        push_at=_latest_push("updated_at"),
    )


def _view(credential: Credential | None, endpoint: Endpoint) -> CredentialView:
    if credential is None:
        none = Credential.Mode.NONE
        return CredentialView(endpoint.name, none.value, none.label, "", None, "", "", "", "", "", None, None, None)
    data: Any = credential
    return CredentialView(
        endpoint=endpoint.name,
        mode=credential.mode,
        mode_label=credential.get_mode_display(),
        identity=credential.identity,
        key_bits=credential.key_bits,
        public_key=credential.public_key,
        certificate=certificate_subject(credential.certificate) if credential.certificate else "",
        push_kind=data.push_kind or "",
        push_status=data.push_status or "",
        push_error=data.push_error or "",
        push_at=data.push_at,
        batch_id=credential.batch_id,
        updated_at=credential.updated_at,
    )


def endpoint_for(*, user: Principal, name: str) -> Endpoint:
    """The device named ``name`` if ``user`` may see it (404 otherwise, as for one that does not exist)."""
    scope = require_scope(user, Role.VIEWER)
    endpoint = Endpoint.objects.filter(name=name).first()
    if endpoint is None or not scope.includes(endpoint.site_id):
        raise NotFound(f"no endpoint named {name!r}", path="endpoint")
    return endpoint


def credential_get(*, user: Principal, endpoint: Endpoint) -> CredentialView:
    """The device's credentials without their secret: operators of its site and up (403 for viewers)."""
    require_on(user, Role.OPERATOR, endpoint.site_id, what="this device's credentials")
    credential = _with_push(Credential.objects.filter(endpoint=endpoint)).first()
    return _view(credential, endpoint)


def may_see_credentials(*, user: Principal, endpoint: Endpoint) -> bool:
    return scope_of(user, Role.OPERATOR).includes(endpoint.site_id)


def may_manage_credentials(*, user: Principal, endpoint: Endpoint) -> bool:
    return scope_of(user, Role.ADMIN).includes(endpoint.site_id)


def credentials_list(
    *, user: Principal, batch: ImportBatch | None = None, limit: int = CREDENTIALS_LISTED
) -> list[CredentialView]:
    """The credentials of the devices the user operates (those of ``batch``), the latest changed first."""
    scope = require_scope(user, Role.OPERATOR)
    credentials = scope.filter(Credential.objects.all(), "endpoint__site")
    if batch is not None:
        credentials = credentials.filter(batch=batch)
    rows = _with_push(credentials).order_by("-updated_at", "-id")[:limit]
    return [_view(row, row.endpoint) for row in rows]


def credential_counts(*, user: Principal) -> dict[str, int]:
    """How many devices the user operates have credentials of each mode."""
    scope = require_scope(user, Role.OPERATOR)
    counts = dict.fromkeys(Credential.Mode.values, 0)
    rows = scope.filter(Credential.objects.all(), "endpoint__site").values_list("mode", flat=True)
    for mode in rows:
        counts[mode] += 1
    return counts


# --- import batches ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    total: int
    pushed: int
    failed: int

    @property
    def waiting(self) -> int:
        return self.total - self.pushed - self.failed

    @property
    def done(self) -> bool:
        return self.waiting == 0

    @property
    def percent(self) -> int:
        return 100 if not self.total else round(100 * (self.pushed + self.failed) / self.total)


def batch_get(*, user: Principal, pk: int) -> ImportBatch:
    """A batch whose devices the user operates, at least one of them (404 otherwise)."""
    scope = require_scope(user, Role.OPERATOR)
    batch = ImportBatch.objects.filter(pk=pk).first()
    mine = batch is not None and batch.created_by_id is not None and batch.created_by_id == getattr(user, "pk", None)
    if batch is None or not (mine or scope.filter(batch.credentials.all(), "endpoint__site").exists()):
        raise NotFound(f"no import {pk}", path="batch")
    return batch


def batches_list(*, user: Principal, limit: int = 20) -> list[ImportBatch]:
    scope = require_scope(user, Role.OPERATOR)
    visible = scope.filter(Credential.objects.filter(batch=OuterRef("pk")), "endpoint__site")
    return list(ImportBatch.objects.filter(Exists(visible)).order_by("-id")[:limit])


def batch_progress(*, batch: ImportBatch) -> Progress:
    """Of the batch's devices with credentials to push: how many are in Leshan, how many failed (two queries)."""
    latest = (
        EndpointOperation.objects.filter(
            endpoint__credential__batch=batch, kind__in=EndpointOperation.PROVISIONING_KINDS
        )
        .values("endpoint_id")
        .annotate(last=Max("id"))
        .values("last")
    )
    statuses = list(EndpointOperation.objects.filter(pk__in=Subquery(latest)).values_list("status", flat=True))
    total = batch.credentials.exclude(mode=Credential.Mode.NONE).count()
    pushed = sum(1 for status in statuses if status == Status.CONFIRMED)
    failed = sum(1 for status in statuses if status in (Status.FAILED, Status.CANCELLED))
    return Progress(total=total, pushed=pushed, failed=min(failed, total - pushed))


def batch_failures(*, batch: ImportBatch, limit: int = 20) -> list[tuple[str, str]]:
    """Devices of the batch whose latest push failed, with why."""
    rows = _with_push(batch.credentials.all()).order_by(F("endpoint__name"))
    failed: list[tuple[str, str]] = []
    for row in rows.iterator():
        data: Any = row
        if data.push_status == Status.FAILED:
            failed.append((row.endpoint.name, data.push_error or ""))
            if len(failed) >= limit:
                break
    return failed


# --- sync and the server's identity ------------------------------------------------------------------------


def sync_latest(*, user: Principal) -> SyncReport | None:
    require_scope(user, Role.OPERATOR)
    return SyncReport.objects.first()


@dataclass(frozen=True)
class ServerIdentity:
    """What a factory configures devices with: the server's public key (and certificate)."""

    kind: str  # "certificate" or "rpk"
    x: str
    y: str
    params: str
    public_key_b64: str
    certificate_b64: str

    @property
    def certificate_pem(self) -> str:
        if not self.certificate_b64:
            return ""
        lines = [self.certificate_b64[i : i + 64] for i in range(0, len(self.certificate_b64), 64)]
        return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"

    @property
    def public_key_pem(self) -> str:
        lines = [self.public_key_b64[i : i + 64] for i in range(0, len(self.public_key_b64), 64)]
        return "-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n"


async def _server_identity() -> tuple[dict[str, Any] | None, str]:
    async with LeshanClient(settings.LESHAN_URL, timeout_s=settings.LESHAN_TIMEOUT) as leshan:
        response = await leshan.security_server()
    if response.outcome != Outcome.CONFIRMED:
        return None, response.detail or response.outcome.value
    return response.content, ""


def server_identity(*, user: Principal) -> tuple[ServerIdentity | None, str]:
    """Leshan's identity (``GET /api/security/server``), or why it could not be read."""
    require_scope(user, Role.OPERATOR)
    data, error = async_to_sync(_server_identity)()
    if data is None:
        return None, error
    certificate = data.get("certificate")
    pubkey = (certificate or {}).get("pubkey") if isinstance(certificate, dict) else data.get("pubkey")
    if not isinstance(pubkey, dict):
        return None, "Leshan's answer holds no public key"
    return (
        ServerIdentity(
            kind="certificate" if isinstance(certificate, dict) else "rpk",
            x=str(pubkey.get("x", "")),
            y=str(pubkey.get("y", "")),
            params=str(pubkey.get("params", "")),
            public_key_b64=str(pubkey.get("b64Der", "")),
            certificate_b64=str(certificate.get("b64Der", "")) if isinstance(certificate, dict) else "",
        ),
        "",
    )
