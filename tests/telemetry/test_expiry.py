"""A device whose registration lapsed (not heard from for its lifetime plus the grace) goes offline."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from core.models import Endpoint
from telemetry import hooks, services
from tests.factories import make_endpoint
from tests.telemetry.bridge_client import post, reference_payload

pytestmark = pytest.mark.django_db

REGISTERED = Endpoint.RegistrationState.REGISTERED


@pytest.fixture(autouse=True)
def _grace(settings: Any) -> None:
    settings.REGISTRATION_GRACE_SECONDS = 60


def seen(seconds_ago: int, **fields: Any) -> Endpoint:
    fields.setdefault("lifetime", 300)
    last_seen = timezone.now() - dt.timedelta(seconds=seconds_ago)
    return make_endpoint(online=True, registration_state=REGISTERED, last_seen_at=last_seen, **fields)


def refreshed(endpoint: Endpoint) -> Endpoint:
    endpoint.refresh_from_db()
    return endpoint


def test_a_lapsed_registration_goes_offline_and_unregistered() -> None:
    lapsed = seen(300 + 61, name="lapsed", sleeping=True)
    assert services.endpoints_expire() == 1
    lapsed = refreshed(lapsed)
    assert (lapsed.online, lapsed.sleeping, lapsed.registration_state) == (False, False, "UNREGISTERED")
    assert lapsed.status == "offline"


@pytest.mark.parametrize(
    ("seconds_ago", "fields"),
    [
        (300, {}),  # within its lifetime
        (300 + 59, {}),  # within the grace
        (100_000, {"lifetime": None}),  # no lifetime known: nothing to go by
        (100_000, {"lifetime": 86_400 * 2}),  # a long lifetime
    ],
)
def test_a_device_within_its_lifetime_and_grace_stays(seconds_ago: int, fields: dict[str, Any]) -> None:
    device = seen(seconds_ago, **fields)
    assert services.endpoints_expire() == 0
    assert refreshed(device).online


def test_an_offline_device_is_left_alone_and_it_counts_once() -> None:
    seen(1000, name="one")
    assert services.endpoints_expire() == 1
    assert services.endpoints_expire() == 0


def test_it_comes_back_with_its_next_post() -> None:
    payload = reference_payload("single.json")
    assert post(Client(), "single", payload).status_code == 201
    device = Endpoint.objects.get(name=payload["ep"])
    Endpoint.objects.filter(pk=device.pk).update(lifetime=300, last_seen_at=timezone.now() - dt.timedelta(seconds=1000))
    assert services.endpoints_expire() == 1
    assert not refreshed(device).online
    assert post(Client(), "single", payload).status_code == 201
    assert refreshed(device).online


def test_a_dispatcher_sweep_runs_it() -> None:
    assert services.endpoints_expire in hooks.periodic_tasks()
