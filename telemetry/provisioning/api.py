"""The provisioning API: a device's credentials (``/api/v1/endpoints/{endpoint}/credentials``: PUT, GET
without the secret, DELETE), a fleet imported from CSV (``/api/v1/provisioning/import``), an import's
progress and its one export, and the sync with Leshan's security store (``/api/v1/provisioning/sync``)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from ninja import File, Router, Status
from ninja.files import UploadedFile

from core.http import ApiRequest
from core.provisioning.models import ImportBatch, SyncReport
from core.schemas import READ_ERRORS, WRITE_ERRORS, ErrorOut, RowId
from telemetry.provisioning import imports, selectors, services
from telemetry.provisioning.schemas import (
    CredentialIn,
    CredentialOut,
    CredentialSetOut,
    ImportOut,
    ImportRefusedOut,
    SyncOut,
)

provisioning_router = Router(tags=["Provisioning"])


def credential_json(view: selectors.CredentialView) -> dict[str, Any]:
    push = {
        "kind": view.push_kind,
        "status": view.push_status,
        "state": view.push_words,
        "error": view.push_error,
        "at": view.push_at,
    }
    return {
        "endpoint": view.endpoint,
        "mode": view.mode,
        "identity": view.identity,
        "key_bits": view.key_bits,
        "public_key": view.public_key,
        "certificate": view.certificate,
        "push": push,
        "batch": view.batch_id,
        "updated_at": view.updated_at,
    }


@provisioning_router.get(
    "/endpoints/{endpoint}/credentials",
    response={200: CredentialOut, **READ_ERRORS},
    summary="A device's credentials, without the key, and their push state (operator)",
)
def get_credentials(request: ApiRequest, endpoint: str) -> dict[str, Any]:
    device = selectors.endpoint_for(user=request.auth, name=endpoint)
    return credential_json(selectors.credential_get(user=request.auth, endpoint=device))


@provisioning_router.put(
    "/endpoints/{endpoint}/credentials",
    response={200: CredentialSetOut, 503: ErrorOut, **WRITE_ERRORS},
    summary="Set a device's credentials and push them to Leshan (admin); a PSK key is shown in this answer only",
)
def put_credentials(request: ApiRequest, endpoint: str, payload: CredentialIn) -> dict[str, Any]:
    device = selectors.endpoint_for(user=request.auth, name=endpoint)
    done = services.credential_set(
        actor=request.auth,
        endpoint=device,
        mode=payload.mode,
        identity=payload.identity,
        key=payload.key,
        public_key=payload.public_key,
        certificate=payload.certificate,
    )
    view = selectors.credential_get(user=request.auth, endpoint=device)
    operation = done.operation.pk if done.operation is not None else None
    return {**credential_json(view), "key": done.key, "generated": done.generated, "operation": operation}


@provisioning_router.delete(
    "/endpoints/{endpoint}/credentials",
    response={200: CredentialOut, **WRITE_ERRORS},
    summary="Remove a device's credentials, from Leshan too (admin)",
)
def delete_credentials(request: ApiRequest, endpoint: str) -> dict[str, Any]:
    device = selectors.endpoint_for(user=request.auth, name=endpoint)
    services.credential_remove(actor=request.auth, endpoint=device)
    return credential_json(selectors.credential_get(user=request.auth, endpoint=device))


def import_json(batch: ImportBatch, *, created: int | None = None, pushes: int | None = None) -> dict[str, Any]:
    progress = selectors.batch_progress(batch=batch)
    return {
        "batch": batch.pk,
        "devices": batch.devices,
        "created": batch.created_devices if created is None else created,
        "updated": batch.devices - (batch.created_devices if created is None else created),
        "pushes": progress.total if pushes is None else pushes,
        "progress": {**progress.__dict__, "waiting": progress.waiting, "done": progress.done},
        "exported_at": batch.exported_at,
    }


@provisioning_router.post(
    "/provisioning/import",
    response={
        201: ImportOut,
        422: ImportRefusedOut,
        503: ErrorOut,
        **{k: v for k, v in WRITE_ERRORS.items() if k != 422},
    },
    summary="Onboard devices from a CSV file (admin): every row checked first, then pushed in the background",
)
def import_fleet(request: ApiRequest, file: File[UploadedFile]) -> Status[dict[str, Any]]:
    result = imports.fleet_import(actor=request.auth, data=file.read(), filename=file.name or "")
    return Status(201, import_json(result.batch, created=result.created, pushes=result.pushes))


@provisioning_router.get(
    "/provisioning/imports/{batch_id}",
    response={200: ImportOut, **READ_ERRORS},
    summary="An import's progress: how many of its credentials Leshan holds (operator)",
)
def get_import(request: ApiRequest, batch_id: RowId) -> dict[str, Any]:
    return import_json(selectors.batch_get(user=request.auth, pk=batch_id))


@provisioning_router.post(
    "/provisioning/imports/{batch_id}/export",
    response={200: None, **WRITE_ERRORS},
    summary="The import's credentials, keys included, as CSV for the factory: once (admin)",
)
def export_import(request: ApiRequest, batch_id: RowId) -> HttpResponse:
    batch = selectors.batch_get(user=request.auth, pk=batch_id)
    response = HttpResponse(
        imports.batch_export(actor=request.auth, batch=batch), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="credentials-import-{batch.pk}.csv"'
    response["Cache-Control"] = "no-store"
    return response


@provisioning_router.post(
    "/provisioning/sync",
    response={200: SyncOut, 503: ErrorOut, **WRITE_ERRORS},
    summary="Compare with Leshan's security store now, re-push what it lost (admin)",
)
def sync(request: ApiRequest) -> SyncReport:
    return services.credentials_sync(actor=request.auth)
