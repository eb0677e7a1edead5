"""The flows that change a device's lifecycle: Leshan's registrations and presence events, the
resynchronisation after its event stream was down, and the sweep that decides from time alone. Each writes
the state through ``state`` (the one writer), which announces it."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.lwm2m import types as lwm2m
from core.lwm2m.ddf import REGISTRATION_OBJECT_ID, Registration
from core.lwm2m.nodes import Path, Reading
from core.models import Endpoint
from core.permissions import SYSTEM
from telemetry import ingest
from telemetry.downlink import queue, wakeup
from telemetry.lifecycle import state
from telemetry.models import EndpointOperation

logger = logging.getLogger(__name__)

Kind = EndpointOperation.Kind


REGISTRATION_EVENTS = {
    "REGISTRATION": Registration.REGISTERED,
    "UPDATED": Registration.UPDATED,
    "DEREGISTRATION": Registration.UNREGISTERED,
}


def endpoint_registration(*, event: str, registration: dict[str, Any]) -> ingest.IngestResult:
    """A REGISTRATION, UPDATED or DEREGISTRATION from Leshan's event stream: stored as the same object-10240
    reading the flownexus bridge posts (so both ways of connecting Leshan give the same data), plus what
    the registration says of the device (lifetime, binding, LwM2M version, whether it sleeps). A new
    registration gets the observations of LESHAN_OBSERVE queued."""
    registered_ms = registration.get("registrationDate")
    if type(registered_ms) is not int:
        registered_ms = int(timezone.now().timestamp() * 1000)
    reading = Reading(Path(REGISTRATION_OBJECT_ID, 0, REGISTRATION_EVENTS[event]), lwm2m.DataType.TIME, registered_ms)
    name = ingest.endpoint_name_check(registration.get("endpoint"))  # as the ingest below checks it
    with transaction.atomic():
        result = ingest.ingest(endpoint_name=name, readings=[reading])
        if event != "DEREGISTRATION":
            state.registration_details_set(name, registration)  # announced by the ingest just above
        if event == "REGISTRATION":
            endpoint = Endpoint.objects.get(name=name)
            for path in settings.LESHAN_OBSERVE:
                queue.operation_enqueue(actor=SYSTEM, endpoint=endpoint, kind=Kind.OBSERVE, path=path)
    return result


def endpoint_presence(*, name: str, sleeping: bool) -> bool:
    """Leshan's SLEEPING or AWAKE for a queue-mode device; an awake device gets its queued operations.
    False for a device Fieldhub does not know."""
    endpoint = Endpoint.objects.filter(name=name).first()
    if endpoint is None:
        return False
    with transaction.atomic():
        fields: dict[str, Any] = {"sleeping": sleeping, "queue_mode": True}  # only queue-mode clients sleep
        if not sleeping:
            fields.update(online=True, last_seen_at=timezone.now())
        status_changed = endpoint.sleeping != sleeping or not endpoint.online
        state.endpoint_state_set(endpoint, fields, status_changed=status_changed)
        if not sleeping:
            wakeup.wake(endpoint.pk)
    return True


def endpoints_resync(*, registrations: list[dict[str, Any]]) -> int:
    """After the event stream reconnected (Leshan does not replay what was missed): make the registry agree
    with Leshan's list of registrations. Returns how many devices changed."""
    present: dict[str, dict[str, Any]] = {}
    for registration in registrations:
        name = registration.get("endpoint")
        try:
            present[ingest.endpoint_name_check(name)] = registration
        except ingest.IngestError as exc:  # Leshan accepts names Fieldhub refuses: skip it, resynchronise the rest
            logger.warning("Leshan registration of %r ignored: %s", name, exc)
    changed = 0
    with transaction.atomic():
        for endpoint in Endpoint.objects.select_for_update().filter(
            Q(name__in=list(present)) | Q(registration_state=Endpoint.RegistrationState.REGISTERED)
        ):
            registered = present.get(endpoint.name)
            if registered is None:
                fields = dict(state.UNREGISTERED)
            else:
                fields = {**state.AWAKE, **state.registration_fields(registered)}
                # Leshan heard from it at its last update: newer than what Fieldhub saw, it keeps the
                # sweep from taking a device that is registered for one that lapsed while nobody listened.
                updated_ms = registered.get("lastUpdate")
                if type(updated_ms) is int and state.PLAUSIBLE_MS <= updated_ms <= timezone.now().timestamp() * 1000:
                    updated = state.from_ms(updated_ms)
                    if endpoint.last_seen_at is None or updated > endpoint.last_seen_at:
                        fields["last_seen_at"] = updated
            if state.endpoint_state_set(endpoint, fields):
                changed += 1
            if registered is not None and not fields.get("sleeping"):
                wakeup.wake(endpoint.pk)
        known = set(Endpoint.objects.filter(name__in=list(present)).values_list("name", flat=True))
        for name in set(present) - known:  # registered while we were not listening
            endpoint_registration(event="REGISTRATION", registration=present[name])
            changed += 1
    return changed


def endpoints_expire(*, now: dt.datetime | None = None) -> int:
    """The presence rule for devices that went quiet, run on every sweep of a dispatcher (and so at once when
    one starts: what went quiet while no server ran is caught then). With the ingest, which marks a device
    it hears from (data, registration, update) online and awake, this is the one place that decides a
    device's state from time alone; every page, count and API response reads the columns it sets.

    - **Lapsed**: online, and not heard from for its lifetime plus REGISTRATION_GRACE_SECONDS. The lifetime
      is the device's own (from Leshan's registration, or the Server object's 1/x/1 it reported), else
      DEFAULT_LIFETIME_SECONDS (the flownexus bridge posts registrations without one). It becomes
      unregistered and offline, as Leshan expires a registration, until it is heard from again.
    - **Asleep**: online and awake, in queue mode, and not heard from for QUEUE_MODE_AWAKE_SECONDS: it is
      sleeping, as Leshan's presence service decides (whose SLEEPING the bridge never posts).

    Each device changed is announced to the live pages (its row, its header, the counts). Returns how many
    devices changed."""
    now = now or timezone.now()
    grace = dt.timedelta(seconds=settings.REGISTRATION_GRACE_SECONDS)
    changed = 0
    lifetimes = set(Endpoint.objects.filter(online=True).values_list("lifetime", flat=True).distinct())
    for lifetime in lifetimes:  # one query per lifetime in use (few), the cut-off computed here
        seconds = lifetime or settings.DEFAULT_LIFETIME_SECONDS
        lapsed = Endpoint.objects.filter(
            online=True, lifetime=lifetime, last_seen_at__lt=now - dt.timedelta(seconds=seconds) - grace
        )
        changed += state.endpoints_state_set(lapsed, state.UNREGISTERED)
    awake_until = now - dt.timedelta(seconds=settings.QUEUE_MODE_AWAKE_SECONDS)
    asleep = Endpoint.objects.filter(online=True, sleeping=False, queue_mode=True, last_seen_at__lt=awake_until)
    changed += state.endpoints_state_set(asleep, {"sleeping": True})
    return changed
