"""The rules of a device's state, and the one writer of it outside a post.

Every page, count and API response reads the columns set here: ``online``, ``sleeping``,
``registration_state`` (plus what the device told of itself: lifetime, binding, queue mode). A post sets
them through the ingest's statement, from ``reported``; everything else (Leshan's events, its answers to
operations, the presence sweep) through ``endpoint_state_set`` / ``endpoints_state_set``, which announce each
change to the live pages after commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from core.lwm2m.ddf import REGISTRATION_OBJECT_ID, Registration
from core.lwm2m.nodes import Reading
from core.models import Endpoint
from telemetry import announce

State = Endpoint.RegistrationState

# A device heard from (data, registration, update): online and awake.
AWAKE: dict[str, Any] = {"online": True, "sleeping": False, "registration_state": State.REGISTERED}
# A device that left, lapsed, or that Leshan does not know.
UNREGISTERED: dict[str, Any] = {"online": False, "sleeping": False, "registration_state": State.UNREGISTERED}

# Registration times before this (2001-09-09) are not epoch milliseconds: older bridges send 1.
PLAUSIBLE_MS = 10**12
# The LwM2M Server object: 1/x/1 Lifetime (seconds), 1/x/7 Binding ("U", "UQ", ...).
SERVER_OBJECT_ID, SERVER_LIFETIME, SERVER_BINDING = 1, 1, 7
LIFETIME_MAX = 2**31 - 1  # what the lifetime column holds
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def from_ms(ms: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(milliseconds=ms)


def reported(readings: Sequence[Reading], now: dt.datetime) -> dict[str, Any]:
    """What a post says about its endpoint: seen now, online and awake; registration events (object
    ``REGISTRATION_OBJECT_ID``) set its state; the LwM2M Server object (1/x/1 Lifetime, 1/x/7 Binding), when
    reported or read, its lifetime and binding (a binding with Q, LwM2M 1.0's queue mode, marks it as
    sleeping between wake-ups)."""
    fields: dict[str, Any] = {"last_seen_at": now, **AWAKE}
    for reading in readings:
        if reading.path.object_id == SERVER_OBJECT_ID:
            fields.update(_server_fields(reading))
        elif reading.path.object_id == REGISTRATION_OBJECT_ID:
            fields.update(_registration_event_fields(reading, now))
    return fields


def _server_fields(reading: Reading) -> dict[str, Any]:
    value = reading.value
    if reading.path.resource_id == SERVER_LIFETIME and type(value) is int and 0 < value <= LIFETIME_MAX:
        return {"lifetime": value}
    if reading.path.resource_id == SERVER_BINDING and isinstance(value, str) and value:
        return {"binding": value[:16], **({"queue_mode": True} if "Q" in value else {})}
    return {}


def _registration_event_fields(reading: Reading, now: dt.datetime) -> dict[str, Any]:
    if reading.path.resource_id == Registration.REGISTERED:
        return {"online": True, "registration_state": State.REGISTERED, "registered_at": _time(reading.value, now)}
    if reading.path.resource_id == Registration.UNREGISTERED:
        return dict(UNREGISTERED)
    if reading.path.resource_id == Registration.UPDATED:
        return dict(AWAKE)
    return {}


def _time(value: object, now: dt.datetime) -> dt.datetime:
    if isinstance(value, int) and PLAUSIBLE_MS <= value <= now.timestamp() * 1000 + 86_400_000:
        return from_ms(value)
    return now


def reachable(readings: Sequence[Reading]) -> bool:
    """Whether a post shows the device reachable now (anything but a deregistration)."""
    return any(
        not (r.path.object_id == REGISTRATION_OBJECT_ID and r.path.resource_id == Registration.UNREGISTERED)
        for r in readings
    )


def registration_fields(registration: dict[str, Any]) -> dict[str, Any]:
    """Endpoint columns from Leshan's registration JSON (contract §3), each only if well-formed."""
    fields: dict[str, Any] = {}
    lifetime = registration.get("lifetime")
    if type(lifetime) is int and lifetime >= 0:
        fields["lifetime"] = lifetime
    for key, column, size in (("bindingMode", "binding", 16), ("lwM2mVersion", "lwm2m_version", 8)):
        value = registration.get(key)
        if isinstance(value, str):
            fields[column] = value[:size]
    registration_id = registration.get("registrationId")
    if isinstance(registration_id, str):
        fields["registration_id"] = registration_id[:64]
    binding = registration.get("bindingMode")
    if "queuemode" in registration or isinstance(binding, str):  # LwM2M 1.1: queuemode; 1.0: a binding "UQ"
        fields["queue_mode"] = registration.get("queuemode") is True or (isinstance(binding, str) and "Q" in binding)
    if registration.get("queuemode") is True:
        fields["sleeping"] = registration.get("sleeping") is True
    return fields


def registration_details_set(name: str, registration: dict[str, Any]) -> None:
    """What Leshan's registration says of the device (lifetime, binding, version, whether it sleeps), set
    right after the ingest of the registration, which announces the device."""
    Endpoint.objects.filter(name=name).update(**registration_fields(registration))


def differs(endpoint: Endpoint, fields: dict[str, Any]) -> bool:
    return any(getattr(endpoint, name) != value for name, value in fields.items())


def endpoint_state_set(endpoint: Endpoint, fields: dict[str, Any], *, status_changed: bool = True) -> bool:
    """Set ``fields`` on one device, if any of them changes, and announce it after commit (its row, its
    header, and the fleet counts when ``status_changed``). Returns whether it changed."""
    if not differs(endpoint, fields):
        return False
    with transaction.atomic():
        Endpoint.objects.filter(pk=endpoint.pk).update(**fields)
        announce.endpoint_changed(endpoint.pk, site_id=endpoint.site_id, status_changed=status_changed)
    return True


def endpoints_state_set(endpoints: QuerySet[Endpoint], fields: dict[str, Any]) -> int:
    """Set ``fields`` on the devices ``endpoints`` selects (the filter is applied again by the update, so a
    device heard from meanwhile is left alone) and announce each after commit. Returns how many changed."""
    with transaction.atomic():
        sites = dict(endpoints.values_list("pk", "site_id"))
        if not sites:
            return 0
        changed = endpoints.filter(pk__in=list(sites)).update(**fields)
        for pk, site_id in sites.items():
            announce.endpoint_changed(pk, site_id=site_id, status_changed=True)
    return changed
