"""Every write of provisioning: a device's credentials set or removed (each queues a push to Leshan's security
store, ``telemetry.downlink.queue.security_push_enqueue``), and the sync with that store.

Admins (global, or of the device's site) manage credentials. A key is returned once, by the call that set
it, and never logged. The tables, the sealing and the checks of what a client gives are core's
(``core.provisioning``); the pushes are operations of the downlink queue (``telemetry.downlink``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import Conflict
from core.leshan import LeshanClient, Outcome
from core.models import Endpoint
from core.permissions import SYSTEM, Principal, author_of, require_on, scope_of
from core.provisioning import crypto, push
from core.provisioning.credentials import Spec, credential_spec, security_info
from core.provisioning.models import Credential, SyncReport
from core.roles import Role
from telemetry.downlink import queue
from telemetry.models import EndpointOperation

logger = logging.getLogger(__name__)

Mode = Credential.Mode
SYNC_NAMES_KEPT = 100  # endpoint names a sync report lists of each kind of difference


@dataclass(frozen=True)
class CredentialSet:
    """What setting credentials did. ``key`` (hex) is the PSK key, returned this once; never stored in clear."""

    credential: Credential
    operation: EndpointOperation | None
    key: str | None = None
    generated: bool = False

    def __repr__(self) -> str:
        return f"CredentialSet(endpoint={self.credential.endpoint_id}, mode={self.credential.mode!r})"


def identity_conflict(*, actor: Principal, identity: str, other: Endpoint) -> Conflict:
    """A PSK identity another device holds: named when the actor may see that device."""
    who = (
        f"device {other.name!r}" if scope_of(actor, Role.VIEWER).includes(other.site_id) else "a device of another site"
    )
    return Conflict(f"PSK identity {identity!r} is already used by {who}", path="identity")


def _identity_holder(identity: str, endpoint_id: int) -> Endpoint | None:
    held = (
        Credential.objects.filter(mode=Mode.PSK, identity=identity)
        .exclude(endpoint_id=endpoint_id)
        .select_related("endpoint")
        .first()
    )
    return held.endpoint if held is not None else None


def credential_fields(spec: Spec, *, endpoint_id: int) -> dict[str, Any]:
    """The columns of ``spec`` (its key sealed)."""
    return {
        "mode": spec.mode,
        "identity": spec.identity,
        "sealed_key": push.key_seal(endpoint_id=endpoint_id, key=spec.key) if spec.key is not None else None,
        "key_bits": len(spec.key) * 8 if spec.key is not None else None,
        "public_key": spec.public_key,
        "certificate": spec.certificate,
    }


def credential_set(
    *,
    actor: Principal,
    endpoint: Endpoint,
    mode: object,
    identity: object = "",
    key: object = "",
    public_key: object = "",
    certificate: object = "",
) -> CredentialSet:
    """Set (create or replace) a device's credentials and queue their push to Leshan (a removal for mode
    ``none``). 422 naming the field for bad input, 409 for a PSK identity another device holds, 503 without
    CREDENTIALS_KEY (for a PSK)."""
    require_on(actor, Role.ADMIN, endpoint.site_id, what="managing this device's credentials")
    spec = credential_spec(
        endpoint=endpoint.name, mode=mode, identity=identity, key=key, public_key=public_key, certificate=certificate
    )
    if spec.mode == Mode.PSK and not crypto.key_available():
        raise crypto.CredentialsKeyMissing()
    if spec.mode == Mode.PSK:
        holder = _identity_holder(spec.identity, endpoint.pk)
        if holder is not None:
            raise identity_conflict(actor=actor, identity=spec.identity, other=holder)
    fields = credential_fields(spec, endpoint_id=endpoint.pk)
    try:
        with transaction.atomic():
            previous = Credential.objects.select_for_update().filter(endpoint=endpoint).first()
            had_entry = previous is not None and previous.mode != Mode.NONE
            credential, _ = Credential.objects.update_or_create(
                endpoint=endpoint, defaults={**fields, "updated_by": author_of(actor), "batch": None}
            )
            operation = None
            if spec.mode != Mode.NONE:
                operation = queue.security_push_enqueue(endpoint=endpoint, kind="SECURITY_PUT", author=actor)
            elif had_entry:
                operation = queue.security_push_enqueue(endpoint=endpoint, kind="SECURITY_DELETE", author=actor)
    except IntegrityError:  # the same identity set for another device at the same moment
        holder = _identity_holder(spec.identity, endpoint.pk)
        if holder is None:
            raise
        raise identity_conflict(actor=actor, identity=spec.identity, other=holder) from None
    logger.info("credentials of %s set: mode %s, by %s", endpoint.name, spec.mode, getattr(actor, "username", actor))
    credential.endpoint = endpoint
    return CredentialSet(credential, operation, spec.key.hex() if spec.key is not None else None, spec.generated)


def credential_remove(*, actor: Principal, endpoint: Endpoint) -> CredentialSet:
    """Remove a device's credentials (they stay as mode ``none``) and queue their removal from Leshan."""
    return credential_set(actor=actor, endpoint=endpoint, mode=Mode.NONE)


# --- sync with Leshan's security store ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Compared:
    missing: list[Endpoint]
    different: list[Endpoint]
    unknown: list[str]
    in_fieldhub: int


def _compare(entries: list[dict[str, Any]], credentials: Sequence[Credential], pushing: set[int]) -> _Compared:
    in_leshan = {str(entry.get("endpoint")): entry for entry in entries if isinstance(entry, dict)}
    missing, different = [], []
    expected_names = set()
    for credential in credentials:
        endpoint = credential.endpoint
        expected_names.add(endpoint.name)
        if credential.endpoint_id in pushing:
            continue  # a push is under way: what Leshan holds now says nothing
        expected = security_info(
            endpoint=endpoint.name,
            mode=credential.mode,
            identity=credential.identity,
            key=push.key_unseal(credential),
            public_key=credential.public_key,
        )
        held = in_leshan.get(endpoint.name)
        if held is None:
            missing.append(endpoint)
        elif _normal(held) != _normal(expected):
            different.append(endpoint)
    unknown = sorted(name for name in in_leshan if name not in expected_names)
    return _Compared(missing, different, unknown, len(credentials))


def _normal(info: Any) -> Any:
    """A SecurityInfo compared as Leshan stores it: hex in lowercase, only the TLS part when there is one."""
    if not isinstance(info, dict):
        return info
    tls = info.get("tls")
    if isinstance(tls, dict):
        details = tls.get("details") or {}
        details = {k: v.lower() if k == "key" and isinstance(v, str) else v for k, v in details.items()}
        return {"endpoint": info.get("endpoint"), "mode": tls.get("mode"), "details": details}
    return info


async def _leshan_entries() -> tuple[list[dict[str, Any]] | None, str]:
    async with LeshanClient(settings.LESHAN_URL, timeout_s=settings.LESHAN_TIMEOUT) as leshan:
        response = await leshan.security_clients()
    if response.outcome != Outcome.CONFIRMED:
        return None, response.detail or response.outcome.value
    return list(response.content), ""


def credentials_sync(*, actor: Principal, trigger: str = SyncReport.Trigger.MANUAL) -> SyncReport:
    """Compare the credentials the actor administers with Leshan's security store; queue a push for those
    Leshan lost or holds differently; report those and Leshan's entries Fieldhub has no credentials for (only
    to global admins: other entries may belong to devices of sites the actor does not see). No transaction
    is open while Leshan is asked."""
    scope = scope_of(actor, Role.ADMIN)
    if not scope:
        require_on(actor, Role.ADMIN, None, what="a sync of the credentials")
    if not crypto.key_available() and Credential.objects.filter(sealed_key__isnull=False).exists():
        raise crypto.CredentialsKeyMissing()
    entries, error = async_to_sync(_leshan_entries)()
    report = SyncReport(trigger=trigger, requested_by=author_of(actor))
    if entries is None:
        report.error = f"Leshan did not answer: {error}"[:500]
        report.save()
        logger.warning("credentials sync: %s", report.error)
        return report
    credentials = list(
        scope.filter(Credential.objects.exclude(mode=Mode.NONE).select_related("endpoint"), "endpoint__site")
    )
    with transaction.atomic():
        pushing = set(
            EndpointOperation.objects.filter(
                endpoint_id__in=[c.endpoint_id for c in credentials],
                kind__in=EndpointOperation.PROVISIONING_KINDS,
                status__in=EndpointOperation.OPEN_STATUSES,
            ).values_list("endpoint_id", flat=True)
        )
        compared = _compare(entries, credentials, pushing)
        lost = compared.missing + compared.different
        report.repushed = queue.security_push_enqueue_many(endpoints=lost, author=actor)
        unknown = compared.unknown if scope.everywhere else []
        report.ok = True
        report.in_leshan = len(entries)
        report.in_fieldhub = compared.in_fieldhub
        report.missing = [e.name for e in compared.missing[:SYNC_NAMES_KEPT]]
        report.different = [e.name for e in compared.different[:SYNC_NAMES_KEPT]]
        report.unknown = unknown[:SYNC_NAMES_KEPT]
        report.missing_count, report.different_count = len(compared.missing), len(compared.different)
        report.unknown_count = len(unknown)
        report.save()
    logger.info(
        "credentials sync (%s): %d in Leshan, %d missing, %d different, %d unknown, %d re-pushed",
        trigger,
        report.in_leshan,
        report.missing_count,
        report.different_count,
        report.unknown_count,
        report.repushed,
    )
    return report


def credentials_sync_periodic() -> SyncReport | None:
    """On a dispatcher's sweep: a sync at most every PROVISIONING_SYNC_MINUTES (the last sweep's report says
    when), and only when some credentials are stored."""
    since = timezone.now() - dt.timedelta(minutes=settings.PROVISIONING_SYNC_MINUTES)
    if SyncReport.objects.filter(trigger=SyncReport.Trigger.SWEEP, started_at__gt=since).exists():
        return None
    if not Credential.objects.exclude(mode=Mode.NONE).exists():
        return None
    if not crypto.key_available():
        return None  # the system check refuses to start; a running server does not sync blind
    return credentials_sync(actor=SYSTEM, trigger=SyncReport.Trigger.SWEEP)
