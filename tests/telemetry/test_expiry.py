"""Presence from time alone (telemetry.lifecycle.endpoints_expire, a dispatcher's sweep): a device whose
registration lapsed (not heard from for its lifetime, or the default one, plus the grace) goes offline; a
queue-mode device past its awake time is sleeping; what it changes is announced to the live pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from core.models import Endpoint
from telemetry import announce, hooks, selectors
from telemetry.lifecycle import services as lifecycle
from tests.factories import make_endpoint
from tests.telemetry.bridge_client import post, reference_payload, single, stored

pytestmark = pytest.mark.django_db

REGISTERED = Endpoint.RegistrationState.REGISTERED


@pytest.fixture(autouse=True)
def _times(settings: Any) -> None:
    settings.REGISTRATION_GRACE_SECONDS = 60
    settings.DEFAULT_LIFETIME_SECONDS = 3600
    settings.QUEUE_MODE_AWAKE_SECONDS = 93


def seen(seconds_ago: int, **fields: Any) -> Endpoint:
    fields.setdefault("lifetime", 300)
    last_seen = timezone.now() - dt.timedelta(seconds=seconds_ago)
    return make_endpoint(online=True, registration_state=REGISTERED, last_seen_at=last_seen, **fields)


def refreshed(endpoint: Endpoint) -> Endpoint:
    endpoint.refresh_from_db()
    return endpoint


def test_a_lapsed_registration_goes_offline_and_unregistered() -> None:
    lapsed = seen(300 + 61, name="lapsed", sleeping=True)
    assert lifecycle.endpoints_expire() == 1
    lapsed = refreshed(lapsed)
    assert (lapsed.online, lapsed.sleeping, lapsed.registration_state) == (False, False, "UNREGISTERED")
    assert lapsed.status == "offline"


@pytest.mark.parametrize(
    ("seconds_ago", "fields"),
    [
        (300, {}),  # within its lifetime
        (300 + 59, {}),  # within the grace
        (3600 + 59, {"lifetime": None}),  # no lifetime known: the default one, plus the grace
        (100_000, {"lifetime": 86_400 * 2}),  # a long lifetime
    ],
)
def test_a_device_within_its_lifetime_and_grace_stays(seconds_ago: int, fields: dict[str, Any]) -> None:
    device = seen(seconds_ago, **fields)
    assert lifecycle.endpoints_expire() == 0
    assert refreshed(device).online


def test_an_offline_device_is_left_alone_and_it_counts_once() -> None:
    seen(1000, name="one")
    assert lifecycle.endpoints_expire() == 1
    assert lifecycle.endpoints_expire() == 0


def test_it_comes_back_with_its_next_post() -> None:
    payload = reference_payload("single.json")
    assert post(Client(), "single", payload).status_code == 201
    device = Endpoint.objects.get(name=payload["ep"])
    Endpoint.objects.filter(pk=device.pk).update(lifetime=300, last_seen_at=timezone.now() - dt.timedelta(seconds=1000))
    assert lifecycle.endpoints_expire() == 1
    assert not refreshed(device).online
    assert post(Client(), "single", payload).status_code == 201
    assert refreshed(device).online


def test_a_dispatcher_sweep_runs_it() -> None:
    assert lifecycle.endpoints_expire in hooks.periodic_tasks()


def test_a_device_without_a_known_lifetime_lapses_after_the_default_one(settings: Any) -> None:
    settings.DEFAULT_LIFETIME_SECONDS = 300
    quiet = seen(300 + 61, name="quiet", lifetime=None)
    recent = seen(300 + 59, name="recent", lifetime=None)
    assert lifecycle.endpoints_expire() == 1
    assert refreshed(quiet).status == "offline"
    assert refreshed(recent).status == "online"


def test_a_bridge_device_quiet_while_no_server_ran_is_offline_after_the_first_sweep() -> None:
    """The flownexus bridge posts a registration without a lifetime; the server then stopped for two days."""
    payload = reference_payload("registration.json")
    assert post(Client(), "single", payload).status_code == 201
    device = Endpoint.objects.get(name=payload["ep"])
    assert (device.online, device.lifetime) == (True, None)
    Endpoint.objects.filter(pk=device.pk).update(last_seen_at=timezone.now() - dt.timedelta(days=2))
    for task in hooks.periodic_tasks():  # what a dispatcher runs first when it starts
        task()
    device = refreshed(device)
    assert (device.status, device.registration_state) == ("offline", "UNREGISTERED")


def test_a_queue_mode_device_past_its_awake_time_is_sleeping(admin_user) -> None:
    dozing = seen(94, name="dozing", queue_mode=True)
    assert lifecycle.endpoints_expire() == 1
    dozing = refreshed(dozing)
    assert (dozing.status, dozing.registration_state) == ("sleeping", REGISTERED)
    assert selectors.fleet_counts(user=admin_user).sleeping == 1
    assert [e.name for e in selectors.endpoint_list(user=admin_user, status="sleeping")] == ["dozing"]
    assert lifecycle.endpoints_expire() == 0  # once


@pytest.mark.parametrize(
    ("seconds_ago", "fields"),
    [
        (92, {"queue_mode": True}),  # within its awake time
        (1000, {"queue_mode": False}),  # not in queue mode: online until its registration lapses
    ],
)
def test_an_awake_or_not_queue_mode_device_stays_online(seconds_ago: int, fields: dict[str, Any]) -> None:
    device = seen(seconds_ago, lifetime=3600, **fields)
    assert lifecycle.endpoints_expire() == 0
    assert refreshed(device).status == "online"


def test_a_sleeping_device_lapses_like_any_other() -> None:
    gone = seen(300 + 61, queue_mode=True, sleeping=True)
    assert lifecycle.endpoints_expire() == 1
    assert refreshed(gone).status == "offline"


def test_a_sleeping_device_heard_from_is_awake_again() -> None:
    payload = reference_payload("single.json")
    assert post(Client(), "single", payload).status_code == 201
    Endpoint.objects.filter(name=payload["ep"]).update(
        queue_mode=True, last_seen_at=timezone.now() - dt.timedelta(seconds=100)
    )
    assert lifecycle.endpoints_expire() == 1
    assert Endpoint.objects.get(name=payload["ep"]).status == "sleeping"
    assert post(Client(), "single", payload).status_code == 201
    assert Endpoint.objects.get(name=payload["ep"]).status == "online"


def test_the_sweep_announces_each_device_it_changed_and_no_other(
    monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    announced: list[tuple[int, bool]] = []
    monkeypatch.setattr(
        announce, "endpoint_changed", lambda pk, *, site_id, status_changed: announced.append((pk, status_changed))
    )
    lapsed = seen(300 + 61)
    dozing = seen(94, queue_mode=True)
    seen(10, queue_mode=True)  # awake
    seen(1000, lifetime=3600)  # online
    with django_capture_on_commit_callbacks(execute=True):
        assert lifecycle.endpoints_expire() == 2
    assert sorted(announced) == sorted([(lapsed.pk, True), (dozing.pk, True)])


def test_the_server_object_a_device_reports_gives_its_lifetime_and_queue_mode() -> None:
    ep = "urn:dev:server-object"
    body = {
        "ep": ep,
        "val": {
            "/1/0/1": {"kind": "singleResource", "id": 1, "type": "INTEGER", "value": "120"},
            "/1/0/7": {"kind": "singleResource", "id": 7, "type": "STRING", "value": "UQ"},
        },
    }
    assert post(Client(), "composite", body).status_code == 201
    device = Endpoint.objects.get(name=ep)
    assert (device.lifetime, device.binding, device.queue_mode) == (120, "UQ", True)
    # A later binding without Q (LwM2M 1.1 states queue mode elsewhere) does not undo what was learnt.
    assert post(Client(), "single", single(ep, "/1/0/7", "STRING", "U")).status_code == 201
    device = refreshed(device)
    assert (device.binding, device.queue_mode) == ("U", True)


@pytest.mark.parametrize("value", ["0", "-5", str(2**40)])
def test_an_impossible_lifetime_is_stored_as_telemetry_but_not_used(value: str) -> None:
    ep = "urn:dev:odd-lifetime"
    assert post(Client(), "single", single(ep, "/1/0/1", "INTEGER", value)).status_code == 201
    assert Endpoint.objects.get(name=ep).lifetime is None
    assert stored()["/1/0/1"] == int(value)


@pytest.mark.parametrize(
    ("registration", "queue_mode"),
    [
        ({"lwM2mVersion": "1.1", "bindingMode": "U", "queuemode": True, "sleeping": False}, True),
        ({"lwM2mVersion": "1.0", "bindingMode": "UQ", "queuemode": False}, True),
        ({"lwM2mVersion": "1.1", "bindingMode": "U", "queuemode": False}, False),
    ],
)
def test_leshans_registration_says_whether_it_sleeps(registration: dict[str, Any], queue_mode: bool) -> None:
    registration = {"endpoint": "dev-r", "registrationDate": 1764336000000, "lifetime": 300, **registration}
    lifecycle.endpoint_registration(event="REGISTRATION", registration=registration)
    device = Endpoint.objects.get(name="dev-r")
    assert (device.lifetime, device.queue_mode) == (300, queue_mode)


def test_a_device_leshan_lists_as_registered_is_seen_at_its_last_update_and_stays_online() -> None:
    """The event follower resynchronises after a restart: a device Fieldhub last saw long ago but that
    updated its registration with Leshan meanwhile must not be expired by the next sweep."""
    long_ago = timezone.now() - dt.timedelta(seconds=10_000)
    device = make_endpoint(name="dev-s", lifetime=300, last_seen_at=long_ago)  # offline
    updated = timezone.now() - dt.timedelta(seconds=30)
    registration = {
        "endpoint": "dev-s",
        "registrationDate": int(updated.timestamp() * 1000) - 60_000,
        "lastUpdate": int(updated.timestamp() * 1000),
        "lifetime": 300,
        "bindingMode": "U",
        "queuemode": False,
    }
    assert lifecycle.endpoints_resync(registrations=[registration]) == 1
    assert lifecycle.endpoints_expire() == 0
    device = refreshed(device)
    assert device.status == "online"
    assert abs((device.last_seen_at - updated).total_seconds()) < 0.01
