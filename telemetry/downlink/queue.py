"""The downlink queue: operations for devices, in the database (EndpointOperation), from queued to done.

Operators (and ``SYSTEM``: firmware updates, observations on registration) queue them
(``operation_enqueue``), cancel and retry them; the dispatcher (``telemetry.downlink.dispatcher``) claims the
next one of each reachable device (``operations_claim``), sends it through Leshan with no transaction open,
and records Leshan's answer (``operation_complete``); ``operations_recover`` takes back what a stopped
dispatcher left. Every change is announced to the live pages (``telemetry.announce``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from django.conf import settings
from django.db import transaction
from django.db.models import BooleanField, Case, Exists, ExpressionWrapper, F, OuterRef, Q, Value, When, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from core import leshan
from core.bulk import rows_insert
from core.errors import Conflict, FieldhubError, PermissionDenied
from core.lwm2m.nodes import NodeError, Path, Reading, flatten
from core.models import Endpoint
from core.monitoring import metrics as monitoring
from core.permissions import Principal, author_of, require_on, require_scope
from core.roles import Role
from telemetry import announce, hooks, ingest, metrics
from telemetry.downlink import requests, wakeup
from telemetry.lifecycle import state
from telemetry.models import EndpointOperation

logger = logging.getLogger(__name__)

Kind = EndpointOperation.Kind
Status = EndpointOperation.Status
FINISHED = (Status.CONFIRMED, Status.FAILED, Status.CANCELLED)
PROVISIONING_KINDS = EndpointOperation.PROVISIONING_KINDS
# What operators queue (for one device, or a rollout): every kind but the provisioning ones.
QUEUEABLE_KINDS = [kind for kind in Kind.values if kind not in PROVISIONING_KINDS]
SECURITY_PATH = "/api/security/clients"


def operation_enqueue(
    *,
    actor: Principal,
    endpoint: Endpoint,
    kind: str,
    path: str,
    value: Any = None,
    values: dict[str, Any] | None = None,
    arguments: str = "",
) -> EndpointOperation:
    """Queue a write, execute, read, observe or observation cancel for a device.

    An operator's request (or ``SYSTEM``'s: firmware updates, observations on registration) is checked here,
    before anything is queued (``requests.operation_payload``): a bad request is a 422 now, not a failure at
    the device later. Writes: ``value`` for a resource or resource instance, ``values`` (id →
    value) for several resources of an instance or the instances of a multi-instance resource.
    """
    require_on(actor, Role.OPERATOR, endpoint.site_id)
    request = operation_request(kind=kind, path=path, value=value, values=values, arguments=arguments)
    with transaction.atomic():
        operation = EndpointOperation.objects.create(
            endpoint=endpoint,
            kind=kind,
            path=request.path,
            payload=request.payload,
            created_by=author_of(actor),
        )
        if endpoint.online and not endpoint.sleeping:
            wakeup.wake(endpoint.pk)
        announce.operation_changed(operation, created=True)
    return operation


def security_push_enqueue(*, endpoint: Endpoint, kind: str, author: Principal) -> EndpointOperation:
    """Queue the push of a device's credentials into Leshan's security store (``SECURITY_PUT``: what
    Fieldhub holds for it at the moment it is sent) or their removal (``SECURITY_DELETE``). Not for the
    device: it goes whether the device is awake or not, and before the device's own operations. A queued
    push of the same device not yet sent is superseded (cancelled). The caller (telemetry.provisioning) checked
    the actor's role; call inside its transaction."""
    assert kind in PROVISIONING_KINDS
    now = timezone.now()
    superseded = list(
        EndpointOperation.objects.filter(endpoint=endpoint, kind__in=PROVISIONING_KINDS, status=Status.QUEUED)
    )
    for old in superseded:
        old.status, old.completed_at, old.last_error = Status.CANCELLED, now, "superseded by a later push"
        old.save(update_fields=["status", "completed_at", "last_error", "updated_at"])
        announce.operation_changed(old)
    operation = EndpointOperation.objects.create(
        endpoint=endpoint, kind=kind, path=SECURITY_PATH, created_by=author_of(author)
    )
    wakeup.wake(endpoint.pk)
    announce.operation_changed(operation, created=True)
    hooks.operations_changed([old.pk for old in superseded], finished=True)
    return operation


def security_push_enqueue_many(*, endpoints: Sequence[Target], author: Principal) -> int:
    """Queue a ``SECURITY_PUT`` for many devices at once (an import, a sync), superseding their queued pushes;
    one wake-up hint for all. Returns how many were queued. Call inside the caller's transaction."""
    if not endpoints:
        return 0
    endpoint_ids = [endpoint.pk for endpoint in endpoints]
    site_of = {endpoint.pk: endpoint.site_id for endpoint in endpoints}
    now = timezone.now()
    EndpointOperation.objects.filter(
        endpoint_id__in=endpoint_ids, kind__in=PROVISIONING_KINDS, status=Status.QUEUED
    ).update(status=Status.CANCELLED, completed_at=now, last_error="superseded by a later push", updated_at=now)
    created_by = author_of(author)
    rows = [
        EndpointOperation(endpoint_id=pk, kind=Kind.SECURITY_PUT, path=SECURITY_PATH, created_by=created_by)
        for pk in endpoint_ids
    ]
    made = EndpointOperation.objects.bulk_create(rows, batch_size=BULK_BATCH)
    wakeup.wake_many(endpoint_ids)
    announce.operations_queued([Queued(op.pk, op.endpoint_id, site_of[op.endpoint_id]) for op in made])
    return len(made)


@dataclass(frozen=True)
class Request:
    """An operation's request, checked against the registry: what every operation made from it sends."""

    kind: str
    path: str
    payload: dict[str, Any] | None


def operation_request(
    *, kind: str, path: str, value: Any = None, values: dict[str, Any] | None = None, arguments: str = ""
) -> Request:
    """Check a request (``requests.operation_payload``) before anything is queued: a 422 naming the bad field.
    The provisioning kinds are queued by ``security_push_enqueue`` only (telemetry.provisioning)."""
    if kind not in QUEUEABLE_KINDS:
        raise FieldhubError(f"kind must be one of {', '.join(k.lower() for k in QUEUEABLE_KINDS)}", path="kind")
    try:
        parsed = Path.parse(path)
    except NodeError as exc:
        raise FieldhubError(exc.problem, path="path") from None
    return Request(kind, str(parsed), requests.operation_payload(kind, parsed, value, values, arguments))


BULK_BATCH = 2000  # rows per INSERT of operations_enqueue_many (elsewhere than on PostgreSQL)


class Target(Protocol):
    """What queuing for a device needs of it (an ``Endpoint``, or the few columns of one)."""

    @property
    def pk(self) -> int: ...
    @property
    def site_id(self) -> int | None: ...
    @property
    def online(self) -> bool: ...
    @property
    def sleeping(self) -> bool: ...


class Queued(NamedTuple):
    pk: int
    endpoint_id: int
    site_id: int | None = None  # its device's, when it was queued


def operations_enqueue_many(
    *, actor: Principal, endpoints: Sequence[Target], request: Request, author: Principal | None = None
) -> list[Queued]:
    """Queue the same checked ``request`` (``operation_request``) for many devices in one transaction: one
    statement on PostgreSQL (a rollout's wave of 10,000 devices, docs/benchmarks.md), batches of
    ``BULK_BATCH`` rows elsewhere; one announcement for all of them, one wake-up hint for the reachable
    devices. ``actor`` must hold the operator role on every device's site (403 naming how many it lacks);
    ``author`` is whom the operations record as having queued them (a rollout's later waves are queued on
    its creator's behalf), ``actor`` by default. Returns each operation's id, device and site, in order."""
    scope = require_scope(actor, Role.OPERATOR)
    foreign = sum(1 for endpoint in endpoints if not scope.includes(endpoint.site_id))
    if foreign:
        raise PermissionDenied(f"{foreign} of these devices need the operator role on their site")
    if not endpoints:
        return []
    created_by = author_of(author if author is not None else actor)
    ids = [endpoint.pk for endpoint in endpoints]
    site_of = {endpoint.pk: endpoint.site_id for endpoint in endpoints}
    with transaction.atomic():
        inserted = _insert(ids, request, created_by.pk if created_by is not None else None)
        queued = [made._replace(site_id=site_of[made.endpoint_id]) for made in inserted]
        wakeup.wake_many([endpoint.pk for endpoint in endpoints if endpoint.online and not endpoint.sleeping])
        announce.operations_queued(queued)
    return queued


def _insert(endpoint_ids: list[int], request: Request, created_by_id: int | None) -> list[Queued]:
    now = timezone.now()
    values: dict[str, Any] = {"kind": request.kind, "path": request.path, "payload": request.payload}
    values |= {"created_by_id": created_by_id, "created_at": now, "updated_at": now}
    ids = rows_insert(EndpointOperation, key="endpoint_id", keys=endpoint_ids, values=values, batch_size=BULK_BATCH)
    return [Queued(pk, endpoint_id) for pk, endpoint_id in zip(ids, endpoint_ids, strict=True)]


def operation_cancel(*, actor: Principal, operation: EndpointOperation) -> EndpointOperation:
    """Cancel a queued operation. One being sent cannot be called back (409); a finished one stays as it is."""
    require_on(actor, Role.OPERATOR, operation.endpoint.site_id)
    with transaction.atomic():
        updated = EndpointOperation.objects.filter(pk=operation.pk, status=Status.QUEUED).update(
            status=Status.CANCELLED, completed_at=timezone.now(), updated_at=timezone.now()
        )
        operation.refresh_from_db()
        if not updated:
            raise Conflict(
                f"operation {operation.pk} is {operation.status.lower()}: only a queued one can be cancelled"
            )
        announce.operation_changed(operation)
        hooks.operations_changed([operation.pk], finished=True)
    return operation


def operation_retry(*, actor: Principal, operation: EndpointOperation) -> EndpointOperation:
    """Queue a failed or cancelled operation again, with its attempts reset. One another app still answers
    for is refused (409): the Package URI write of a firmware update that was cancelled, for one."""
    require_on(actor, Role.OPERATOR, operation.endpoint.site_id)
    with transaction.atomic():
        refusal = hooks.retry_refusals([operation.pk]).get(operation.pk)
        if refusal:
            raise Conflict(f"operation {operation.pk} cannot be retried: {refusal}")
        updated = EndpointOperation.objects.filter(
            pk=operation.pk, status__in=[Status.FAILED, Status.CANCELLED]
        ).update(
            status=Status.QUEUED,
            attempts=0,
            next_attempt_at=None,
            last_error="",
            completed_at=None,
            request_id="",
            updated_at=timezone.now(),
        )
        operation.refresh_from_db()
        if not updated:
            raise Conflict(
                f"operation {operation.pk} is {operation.status.lower()}: only a failed or cancelled one can be retried"
            )
        endpoint = operation.endpoint
        if endpoint.online and not endpoint.sleeping:
            wakeup.wake(endpoint.pk)
        announce.operation_changed(operation)
        hooks.operations_changed([operation.pk], finished=False)
    return operation


@dataclass(frozen=True)
class Claim:
    """An operation a dispatcher now owns (SENDING) and must send, then complete."""

    id: int
    endpoint_id: int
    endpoint_name: str
    kind: str
    path: str
    payload: dict[str, Any] | None


def operations_claim(*, endpoint_ids: Sequence[int] | None, limit: int) -> list[Claim]:
    """Claim the next operation of up to ``limit`` devices: its oldest queued one, if it is due and the
    device has none being sent. Only ever one operation per device is SENDING, so they arrive in the
    order they were queued.

    Exactly one dispatcher wins a device: the endpoint rows are locked ``FOR UPDATE SKIP LOCKED`` (others
    skip them), and the no-SENDING check and the claim run as fresh statements under that lock, so they
    see what a dispatcher that held it before committed. (On SQLite the lock is ignored: run one
    dispatcher.) Woken devices are those in ``endpoint_ids``; a sweep (None) looks at every online device
    that is not known to be asleep.
    """
    now = timezone.now()
    queued_due = EndpointOperation.objects.filter(endpoint=OuterRef("pk"), status=Status.QUEUED).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )
    sending = EndpointOperation.objects.filter(endpoint=OuterRef("pk"), status=Status.SENDING)
    candidates = Endpoint.objects.filter(Exists(queued_due)).exclude(Exists(sending))
    if endpoint_ids is not None:
        candidates = candidates.filter(pk__in=list(endpoint_ids))
    else:  # and devices asleep or offline with credentials to push: those go to Leshan, not to the device
        candidates = candidates.filter(
            Q(online=True, sleeping=False) | Exists(queued_due.filter(kind__in=PROVISIONING_KINDS))
        )
    with transaction.atomic():
        locked = {
            pk: (name, site_id, reachable)
            for pk, name, site_id, reachable in candidates.order_by("pk")
            .select_for_update(skip_locked=True, of=("self",))
            .annotate(reachable=ExpressionWrapper(Q(online=True, sleeping=False), output_field=BooleanField()))
            .values_list("pk", "name", "site_id", "reachable")[:limit]
        }
        if not locked:
            return []
        busy = set(
            EndpointOperation.objects.filter(endpoint_id__in=locked, status=Status.SENDING).values_list(
                "endpoint_id", flat=True
            )
        )
        queued = EndpointOperation.objects.filter(endpoint_id__in=locked, status=Status.QUEUED)
        if endpoint_ids is None:  # a sweep: a device's own operations only when it is reachable
            reachable = [pk for pk, (_, _, awake) in locked.items() if awake]
            queued = queued.filter(Q(kind__in=PROVISIONING_KINDS) | Q(endpoint_id__in=reachable))
        # Credentials first: the device may not be able to talk to Leshan before they are there.
        provisioning_first = Case(When(kind__in=PROVISIONING_KINDS, then=Value(0)), default=Value(1))
        first = queued.annotate(
            place=Window(RowNumber(), partition_by=F("endpoint_id"), order_by=[provisioning_first, F("id").asc()])
        ).filter(place=1)
        due = [
            op
            for op in first
            if op.endpoint_id not in busy and (op.next_attempt_at is None or op.next_attempt_at <= now)
        ]
        EndpointOperation.objects.filter(pk__in=[op.pk for op in due], status=Status.QUEUED).update(
            status=Status.SENDING, last_attempt_at=now, updated_at=now
        )
        for op in due:
            op.status, op.last_attempt_at = Status.SENDING, now
            announce.operation_changed(op, site_id=locked[op.endpoint_id][1])
        hooks.operations_changed([op.pk for op in due], finished=False)
    return [Claim(op.pk, op.endpoint_id, locked[op.endpoint_id][0], op.kind, op.path, op.payload) for op in due]


def operation_complete(*, claim: Claim, response: leshan.Response) -> bool:
    """Record what Leshan answered for a claimed operation; True when the device's next operation may go.

    CONFIRMED: done (a read's or observe's content is stored as telemetry). DEVICE_ERROR, REJECTED:
    failed, retrying will not help. SLEEPING, NOT_REGISTERED: queued again, no attempt spent, the device
    marked asleep or unregistered until it is heard from. LESHAN_DOWN (no connection to Leshan): queued
    again, no attempt spent, tried again after OPERATION_BACKOFF_SECONDS, so that commands outlive a Leshan
    restart however long it takes. TIMEOUT, SERVER_ERROR, UNREACHABLE: an attempt
    spent, queued again after an exponential backoff, failed after OPERATION_MAX_ATTEMPTS. DELAYED: Leshan
    holds it for the sleeping device; it stays SENDING until REQUEST_RESPONSE.
    """
    now = timezone.now()
    with transaction.atomic():
        operation = EndpointOperation.objects.select_for_update().select_related("endpoint").filter(pk=claim.id).first()
        if operation is None or operation.status != Status.SENDING:
            return False
        outcome = response.outcome
        operation.result = response.as_json()
        proceed = False
        if outcome == leshan.Outcome.CONFIRMED:
            operation.attempts += 1
            operation.status, operation.completed_at, operation.last_error = Status.CONFIRMED, now, ""
            if response.content is not None and operation.kind in (Kind.READ, Kind.OBSERVE):
                _store_content(operation, response.content)
            proceed = True
        elif outcome in (leshan.Outcome.DEVICE_ERROR, leshan.Outcome.REJECTED):
            operation.attempts += 1
            operation.status, operation.completed_at, operation.last_error = Status.FAILED, now, response.detail
            proceed = True
        elif outcome.waits_for_device:
            operation.status, operation.last_error = Status.QUEUED, response.detail
            state.endpoint_state_set(operation.endpoint, _unreachable(outcome))
        elif outcome == leshan.Outcome.LESHAN_DOWN:
            operation.status, operation.last_error = Status.QUEUED, response.detail
            operation.next_attempt_at = now + dt.timedelta(seconds=settings.OPERATION_BACKOFF_SECONDS)
        elif outcome == leshan.Outcome.DELAYED:
            operation.request_id = response.request_id or ""
            operation.last_error = "delayed by Leshan until the device wakes"
        else:  # retryable
            operation.attempts += 1
            operation.last_error = response.detail
            if operation.attempts >= settings.OPERATION_MAX_ATTEMPTS:
                operation.status, operation.completed_at = Status.FAILED, now
                proceed = True
            else:
                operation.status = Status.QUEUED
                backoff = settings.OPERATION_BACKOFF_SECONDS * 2 ** (operation.attempts - 1)
                operation.next_attempt_at = now + dt.timedelta(seconds=backoff)
        operation.save()
        announce.operation_changed(operation)
        hooks.operations_changed([operation.pk], finished=operation.status in FINISHED)
    if monitoring.enabled():
        metrics.OPERATIONS_SENT.labels(outcome.value.lower()).inc()
    return proceed


def _unreachable(outcome: leshan.Outcome) -> dict[str, Any]:
    """Leshan says the device sleeps, or is not registered: believe it until the device is heard from."""
    if outcome == leshan.Outcome.SLEEPING:
        return {"sleeping": True, "queue_mode": True}  # Leshan says so of queue-mode clients only
    return dict(state.UNREGISTERED)


def _store_content(operation: EndpointOperation, content: Any) -> None:
    """A read's or observe's answer is telemetry like any other value (stored after this transaction)."""
    try:
        readings = flatten(content, Path.parse(operation.path))
    except NodeError as exc:
        logger.warning("operation %s: Leshan's content was not readable: %s", operation.pk, exc)
        return
    name = operation.endpoint.name
    transaction.on_commit(lambda: _ingest_logged(name, readings, operation.pk))


def _ingest_logged(name: str, readings: list[Reading], operation_id: int) -> None:
    try:
        ingest.ingest(endpoint_name=name, readings=readings)
    except FieldhubError as exc:
        logger.warning("operation %s: the value read could not be stored: %s", operation_id, exc)


def operations_recover() -> int:
    """Queue again what a dispatcher that stopped left SENDING (its attempt counts), except executes, which
    fail instead (Leshan may have delivered one already; running a reboot or an update twice is not harmless,
    so the operator decides), and fail what Leshan has held for a sleeping device longer than
    OPERATION_DELAYED_TIMEOUT. Returns how many were touched."""
    now = timezone.now()
    lost = EndpointOperation.objects.filter(
        status=Status.SENDING,
        request_id="",
        last_attempt_at__lt=now - dt.timedelta(seconds=settings.OPERATION_SENDING_TIMEOUT),
    )
    stale_delayed = EndpointOperation.objects.filter(
        status=Status.SENDING,
        last_attempt_at__lt=now - dt.timedelta(seconds=settings.OPERATION_DELAYED_TIMEOUT),
    ).exclude(request_id="")
    touched, changed = 0, []
    with transaction.atomic():
        for operation in lost.select_for_update(skip_locked=True):
            operation.attempts += 1
            operation.last_error = "the dispatcher stopped while sending; queued again"
            if operation.kind == EndpointOperation.Kind.EXECUTE:
                operation.status, operation.completed_at = Status.FAILED, now
                operation.last_error = (
                    "the dispatcher stopped while sending; whether the device executed it is unknown: "
                    "check the device, then retry"
                )
            elif operation.attempts >= settings.OPERATION_MAX_ATTEMPTS:
                operation.status, operation.completed_at = Status.FAILED, now
            else:
                operation.status = Status.QUEUED
            operation.save()
            announce.operation_changed(operation)
            changed.append(operation.pk)
            touched += 1
        for operation in stale_delayed.select_for_update(skip_locked=True):
            operation.status, operation.completed_at = Status.FAILED, now
            operation.last_error = "Leshan delayed it, and the device did not wake in time"
            operation.save()
            announce.operation_changed(operation)
            changed.append(operation.pk)
            touched += 1
        hooks.operations_changed(changed, finished=True)  # some only queued again: looked at, nothing more
    return touched


def operation_delayed_response(*, endpoint_name: str, request_id: str, response: dict[str, Any]) -> bool:
    """Leshan's REQUEST_RESPONSE for a delayed request: complete the operation that waits for it."""
    operation = EndpointOperation.objects.filter(
        endpoint__name=endpoint_name, request_id=request_id, status=Status.SENDING
    ).first()
    if operation is None:
        return False
    answer = leshan.classify(200, json.dumps(response))
    claim = Claim(operation.pk, operation.endpoint_id, endpoint_name, operation.kind, operation.path, operation.payload)
    operation_complete(claim=claim, response=answer)
    wakeup.wake(operation.endpoint_id)
    return True
