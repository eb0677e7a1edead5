"""The device simulator: deterministic devices that report, obey commands and update their firmware, against
a live server (``manage.py serve``) with the simulated Leshan in front of them."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from core.models import Endpoint
from core.roles import Role
from core.simulator.fleet.climate import Climate
from core.simulator.fleet.config import FleetConfig, chance
from core.simulator.fleet.device import SimulatedDevice
from core.simulator.fleet.runner import Fleet
from core.simulator.fleet.uplinks import Uplink
from firmware import services as firmware
from firmware.models import FirmwareUpdate
from telemetry.downlink import queue
from telemetry.models import EndpointOperation, Event, LatestValue, Resource, Rollout
from tests.factories import make_user
from tests.servers import embedded, free_port
from tests.telemetry.workers import wait_until

WAIT = 60  # seconds for something that must happen (a whole campaign); not a speed check

# What one device reports in a short run (bridge): its registration (10240/0); object 3's 14 readable
# values with 5/0/3 and 5/0/5, the Server object and the sensors' units (5701); three sensors per report;
# its deregistration when the run ends (10240/1).
OBJECT_3_AND_FIRMWARE = 16
SERVER_OBJECT = 3  # /1/0/0 short server id, /1/0/1 lifetime, /1/0/7 binding
SENSOR_UNITS = 3  # 5701 of each of the three sensors, once


def config(**changes: Any) -> FleetConfig:
    calm = {"interval": 0.3, "queue_mode": 0.0, "offline": 0.0, "firmware_failure": 0.0, "seed": 7}
    return FleetConfig(leshan_port=free_port(), **{**calm, **changes})


@contextlib.contextmanager
def in_background(fleet: Fleet) -> Iterator[Fleet]:
    """The fleet on its own loop in a thread while the block runs; stopped (cleanly) after it."""
    started = threading.Event()
    loops: list[asyncio.AbstractEventLoop] = []

    async def main() -> None:
        loops.append(asyncio.get_running_loop())
        await fleet.start()
        started.set()
        await fleet.run(progress_every=3600)

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="fleet")
    thread.start()
    assert started.wait(10), "the fleet did not start"
    try:
        yield fleet
    finally:
        loops[0].call_soon_threadsafe(fleet.stop)
        thread.join(20)
        assert not thread.is_alive()


def fieldhub_for(fleet_config: FleetConfig, **env: str) -> Any:
    leshan = f"http://127.0.0.1:{fleet_config.leshan_port}"
    return embedded(
        LESHAN_URL=leshan, EMBEDDED_WORKERS="1", MEDIA_ROOT=str(settings.MEDIA_ROOT), DISPATCH_SWEEP_SECONDS="1", **env
    )


# --- without a server ----------------------------------------------------------------------------------


class TestDeterminism:
    def test_chance_depends_on_its_inputs_alone(self) -> None:
        assert chance(1, 2, "x") == chance(1, 2, "x")
        assert chance(1, 2, "x") != chance(2, 2, "x")
        assert all(0 <= chance(3, i) < 1 for i in range(100))

    def test_the_same_seed_makes_the_same_fleet(self) -> None:
        first, second = Fleet(config(devices=3, seed=42)), Fleet(config(devices=3, seed=42))
        for a, b in zip(first.devices, second.devices, strict=True):
            assert (a.endpoint, a.queue_mode, a.value("/3/0/9")) == (b.endpoint, b.queue_mode, b.value("/3/0/9"))
            assert [a.climate.next(60) for _ in range(5)] == [b.climate.next(60) for _ in range(5)]
            assert [a.update_fails(n) for n in range(10)] == [b.update_fails(n) for n in range(10)]
        other = Fleet(config(devices=3, seed=43))
        assert [d.climate.next(60) for d in other.devices] != [d.climate.next(60) for d in first.devices]

    def test_the_climate_is_plausible(self) -> None:
        import random

        climate = Climate(random.Random(5))
        values = [climate.next(600) for _ in range(1000)]  # a week in ten-minute steps
        assert all(10 < t < 32 and 5 <= h <= 95 and 95 <= p <= 105 for t, h, p in values)
        assert len({t for t, _, _ in values}) > 100  # it moves

    def test_queue_mode_and_failures_follow_the_fractions(self) -> None:
        fleet = Fleet(config(devices=400, queue_mode=0.25, firmware_failure=0.1))
        assert 70 < sum(d.queue_mode for d in fleet.devices) < 130
        assert 20 < sum(d.update_fails(0) for d in fleet.devices) < 60
        assert {d.binding_mode for d in fleet.devices if d.queue_mode} == {"UQ"}

    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({"devices": 0}, "devices must be at least 1"),
            ({"interval": 0}, "interval must be more than 0 seconds"),
            ({"queue_mode": 1.5}, "queue_mode is a fraction between 0 and 1"),
            ({"firmware_failure": -0.1}, "firmware_failure is a probability between 0 and 1"),
            ({"failure_result": 1}, "failure_result is 2..9"),
            ({"url": "ftp://x"}, "url must be an http(s):// URL"),
            ({"via": "carrier pigeon"}, "via is bridge or events"),
        ],
    )
    def test_a_bad_configuration_is_refused_by_name(self, changes: dict[str, Any], message: str) -> None:
        with pytest.raises(ValueError, match=re.escape(message)):
            config(**changes)


class Silent(Uplink):
    """What the devices say goes nowhere (the double keeps their registrations): behaviour without a server."""

    async def report(self, device: SimulatedDevice, paths: tuple[str, ...]) -> None:
        self.fleet.stats.sent += 1


@pytest.mark.django_db
def test_a_device_that_lost_the_network_comes_back_and_reports_again() -> None:
    fleet = Fleet(config(devices=10, interval=0.05, offline=0.3, reports=4, lifetime=60))
    fleet.uplink = Silent(fleet)

    async def run() -> None:
        await asyncio.wait_for(fleet.run(progress_every=3600), timeout=WAIT)  # never ended: devices stayed away

    asyncio.run(run())
    assert sum(d.outages for d in fleet.devices) > 0
    assert [d.reports_sent for d in fleet.devices] == [4] * 10
    assert all(d.online_now for d in fleet.devices)


class TestCommandLine:
    def test_bad_arguments_are_refused_by_name(self) -> None:
        with pytest.raises(CommandError, match="devices must be at least 1"):
            call_command("simulate", "--devices", "0")
        with pytest.raises(CommandError, match="--queue-mode: 2 is not between 0 and 1"):
            call_command("simulate", "--queue-mode", "2")
        with pytest.raises(CommandError, match="--interval: 'soon' is not a number"):
            call_command("simulate", "--interval", "soon")

    def test_it_says_when_fieldhub_is_not_there(self, monkeypatch: pytest.MonkeyPatch) -> None:
        async def never(self: Fleet, within: float = 60) -> bool:
            return False

        monkeypatch.setattr(Fleet, "wait_for_fieldhub", never)
        port = str(free_port())
        with pytest.raises(CommandError, match=r"Fieldhub does not answer at http://127\.0\.0\.1:9/healthz"):
            call_command("simulate", "--url", "http://127.0.0.1:9", "--leshan-port", port)

    def test_it_says_when_its_port_is_taken(self) -> None:
        with port_taken() as port, pytest.raises(CommandError, match=f"cannot serve .* on port {port}"):
            call_command("simulate", "--leshan-port", str(port))


@contextlib.contextmanager
def port_taken() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


# --- against a live server -----------------------------------------------------------------------------

pytestmark_live = pytest.mark.django_db(transaction=True)


@pytestmark_live
def test_a_short_simulation_ends_with_the_expected_devices_readings_and_events() -> None:
    fleet_config = config(devices=4, reports=3)
    with fieldhub_for(fleet_config) as url:
        fleet = Fleet(dataclass_replace(fleet_config, url=url))
        stats = asyncio.run(fleet.run(progress_every=3600))
    assert stats.errors == 0, stats.last_error
    names = [d.endpoint for d in fleet.devices]
    assert (
        sorted(Endpoint.objects.values_list("name", flat=True))
        == names
        == [f"urn:dev:sim-000{i}" for i in (1, 2, 3, 4)]
    )
    assert set(Endpoint.objects.values_list("registration_state", flat=True)) == {"UNREGISTERED"}  # said goodbye
    per_device = 1 + SERVER_OBJECT + OBJECT_3_AND_FIRMWARE + SENSOR_UNITS + 3 * 3 + 1
    assert Resource.objects.count() == 4 * per_device
    assert Event.objects.count() == 4 * (1 + 3)  # object 3 at registration, then each composite report
    for device in fleet.devices:
        latest = LatestValue.objects.get(endpoint__name=device.endpoint, path="/3303/0/5700")
        assert latest.resource.value == device.value("/3303/0/5700")
        assert LatestValue.objects.get(endpoint__name=device.endpoint, path="/3/0/3").resource.value == "1.0.0"
        assert LatestValue.objects.get(endpoint__name=device.endpoint, path="/3303/0/5701").resource.value == "Cel"
    for device in Endpoint.objects.all():  # the bridge posts no lifetime or binding: the Server object told
        assert (device.lifetime, device.binding) == (fleet_config.lifetime, "UQ" if device.queue_mode else "U")


@pytestmark_live
def test_the_event_stream_way_gives_the_same_devices_and_values() -> None:
    fleet_config = config(devices=3, reports=3, via="events")
    with fieldhub_for(fleet_config, LESHAN_EVENTS="1") as url:
        fleet = Fleet(dataclass_replace(fleet_config, url=url))

        async def run() -> None:
            await fleet.start()
            assert await fleet.wait_for_fieldhub()  # and its follower is reading the stream
            await fleet.run(progress_every=3600)

        asyncio.run(run())
        wait_until(lambda: Endpoint.objects.filter(registration_state="UNREGISTERED").count() == 3, within=WAIT)
    assert fleet.stats.errors == 0
    for device in fleet.devices:
        latest = LatestValue.objects.get(endpoint__name=device.endpoint, path="/3303/0/5700")
        assert latest.resource.value == device.value("/3303/0/5700")
    assert Event.objects.count() == 3 * (1 + 3)


@pytestmark_live
def test_a_write_changes_the_device_which_reports_it_and_a_reboot_registers_again() -> None:
    operator = make_user(Role.OPERATOR)
    fleet_config = config(devices=2, queue_mode=1.0, awake=0.5)  # both sleep between reports
    with fieldhub_for(fleet_config) as url, in_background(Fleet(dataclass_replace(fleet_config, url=url))) as fleet:
        wait_until(lambda: Endpoint.objects.filter(online=True).count() == 2, within=WAIT)
        device = Endpoint.objects.get(name="urn:dev:sim-0001")
        write = queue.operation_enqueue(actor=operator, endpoint=device, kind="WRITE", path="/3/0/14", value="+05")
        wait_until(lambda: _status(write) == "CONFIRMED", within=WAIT)
        wait_until(lambda: _latest(device, "/3/0/14") == "+05", within=WAIT)  # reported back by the device
        assert fleet.devices[0].value("/3/0/14") == "+05"
        registered = Endpoint.objects.get(pk=device.pk).registered_at
        reboot = queue.operation_enqueue(actor=operator, endpoint=device, kind="EXECUTE", path="/3/0/4")
        wait_until(lambda: _status(reboot) == "CONFIRMED", within=WAIT)
        wait_until(lambda: Endpoint.objects.get(pk=device.pk).registered_at != registered, within=WAIT)
        bad = queue.operation_enqueue(actor=operator, endpoint=device, kind="EXECUTE", path="/5/0/2")
        wait_until(lambda: _status(bad) == "FAILED", within=WAIT)  # nothing downloaded: 4.05
        assert "METHOD_NOT_ALLOWED" in EndpointOperation.objects.get(pk=bad.pk).last_error


@pytestmark_live
def test_a_campaign_over_twenty_devices_with_ten_percent_failures() -> None:
    """Which devices fail is fixed by the seed: the test reads it from the devices, then checks that the
    campaigns end as their thresholds say."""
    admin = make_user(Role.ADMIN)
    fleet_config = config(
        devices=20, interval=0.5, queue_mode=0.25, awake=0.5, firmware_failure=0.1, update_seconds=0.3, seed=44
    )
    probe = Fleet(fleet_config)
    first_wave = sorted(d.endpoint for d in probe.devices)[:10]
    fails_first = {d.endpoint for d in probe.devices if d.update_fails(0)}
    fails_again = {d.endpoint for d in probe.devices if d.update_fails(1)} & set(first_wave)
    # Seed 44: 2 of 20 fail their first update (10 %), one in each wave; one of wave 1 fails the second.
    assert len(fails_first & set(first_wave)) == len(fails_first - set(first_wave)) == 1
    assert len(fails_again) == 1
    assert sum(d.queue_mode for d in probe.devices) == 6  # and some sleep between reports

    with fieldhub_for(fleet_config) as url, in_background(Fleet(dataclass_replace(fleet_config, url=url))):
        wait_until(lambda: Endpoint.objects.filter(online=True).count() == 20, within=WAIT)
        devices = list(Endpoint.objects.all())

        # 1. Waves of 50 % and 100 %, 10 % may fail: one of ten fails in each wave, so it completes.
        completes = firmware.campaign_create(
            actor=admin, name="spring", firmware=_upload(admin, "1.1.0"), endpoints=devices, waves=[50, 100]
        )
        assert completes.max_failure_rate == 0.1
        wait_until(lambda: Rollout.objects.get(pk=completes.pk).status != "RUNNING", within=3 * WAIT)
        completes.refresh_from_db()
        assert completes.status == "COMPLETED", completes.reason
        assert completes.reason == "all 2 waves done: 18 of 20 devices updated, 2 failed"
        assert _updates(completes, "FAILED") == fails_first
        assert len(_updates(completes, "SUCCEEDED")) == 18
        failed = FirmwareUpdate.objects.filter(rollout_device__rollout=completes, status="FAILED")
        assert {u.result for u in failed} == {8}  # firmware update failed: the device runs the old version
        updated = [e for e in devices if e.name not in fails_first]
        wait_until(lambda: all(_latest(e, "/3/0/3") == "1.1.0" for e in updated), within=WAIT)

        # 2. No failure allowed: one device of wave 1 fails, so wave 2 never starts.
        halts = firmware.campaign_create(
            actor=admin,
            name="summer",
            firmware=_upload(admin, "1.2.0"),
            endpoints=devices,
            waves=[50, 100],
            max_failure_rate=0.0,
        )
        wait_until(lambda: Rollout.objects.get(pk=halts.pk).status != "RUNNING", within=3 * WAIT)
        halts.refresh_from_db()
        assert halts.status == "HALTED"
        assert halts.reason == "wave 1: 1 of 10 devices failed (10 % > 0 % allowed); later waves not started"
        assert _updates(halts, "FAILED") == fails_again
        assert _updates(halts, "SUCCEEDED") == set(first_wave) - fails_again
        assert FirmwareUpdate.objects.filter(rollout_device__rollout=halts).count() == 10


@pytestmark_live
def test_a_download_failure_reports_its_result_code() -> None:
    operator, admin = make_user(Role.OPERATOR), make_user(Role.ADMIN)
    fleet_config = config(devices=1, firmware_failure=1.0, failure_result=5)
    with fieldhub_for(fleet_config) as url, in_background(Fleet(dataclass_replace(fleet_config, url=url))) as fleet:
        wait_until(lambda: Endpoint.objects.filter(online=True).count() == 1, within=WAIT)
        device = Endpoint.objects.get()
        update = firmware.firmware_update_start(actor=operator, endpoint=device, firmware=_upload(admin, "2.0.0"))
        wait_until(lambda: FirmwareUpdate.objects.get(pk=update.pk).status == "FAILED", within=WAIT)
        update.refresh_from_db()
        assert (update.result, update.error) == (5, "integrity check failure for the downloaded package")
        assert update.execute_operation_id is None  # never downloaded: never executed
        assert fleet.devices[0].value("/3/0/3") == "1.0.0"


@pytestmark_live
def test_a_device_reports_what_it_cannot_download() -> None:
    fleet_config = config(devices=1)
    with fieldhub_for(fleet_config) as url:
        fleet = Fleet(dataclass_replace(fleet_config, url=url))

        async def fetch_all() -> list[int]:
            await fleet.start()
            try:
                return [
                    (await fleet.fetch_image(uri))[0]
                    for uri in ("/firmware/package/nope/x.bin", "coap://example.com/fw", "mailto:x@example.com")
                ]
            finally:
                await fleet.close()

        assert asyncio.run(fetch_all()) == [7, 9, 7]  # invalid URI, unsupported protocol, invalid URI


# --- helpers -------------------------------------------------------------------------------------------


def dataclass_replace(fleet_config: FleetConfig, **changes: Any) -> FleetConfig:
    return dataclasses.replace(fleet_config, **changes)


def _status(operation: EndpointOperation) -> str:
    return EndpointOperation.objects.get(pk=operation.pk).status


def _latest(endpoint: Endpoint, path: str) -> Any:
    row = LatestValue.objects.filter(endpoint=endpoint, path=path).select_related("resource").first()
    return row.resource.value if row else None


def _upload(admin: Any, version: str) -> Any:
    content = f"simulated image {version} ".encode() * 500
    return firmware.firmware_upload(
        actor=admin, version=version, upload=SimpleUploadedFile(f"app-{version}.bin", content)
    )


def _updates(campaign: Rollout, status: str) -> set[str]:
    updates = FirmwareUpdate.objects.filter(rollout_device__rollout=campaign, status=status)
    return set(updates.values_list("endpoint__name", flat=True))
