"""Rollouts against the Leshan double over real HTTP: waves delivered by the dispatcher, a sleeping device
served when it wakes, a halt on failures, resume after the halt, abort cancelling what is queued."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from core.lwm2m.nodes import Path, Reading
from core.lwm2m.types import DataType
from core.models import Endpoint
from core.simulator.client import SimulatedClient
from core.simulator.double.scripts import ScriptedOutcome
from core.simulator.double.server import LeshanDouble
from telemetry import ingest
from telemetry.downlink.dispatcher import Dispatcher
from telemetry.models import EndpointOperation, Rollout, RolloutDevice
from telemetry.rollouts import selectors, services
from telemetry.rollouts.selectors import Selection

pytestmark = pytest.mark.django_db(transaction=True)
Op = EndpointOperation.Status
NAMES = [f"dev-{n}" for n in range(4)]


def simulated(name: str, **fields: Any) -> SimulatedClient:
    resources = {"/3/0/14": (DataType.STRING, "+00"), "/3/0/4": (DataType.NONE, None)}
    return SimulatedClient(endpoint=name, resources=resources, **fields)


def heard_from(name: str) -> None:
    """A post from the device (a registration update): it is online and awake, the dispatcher is woken."""
    ingest.ingest(endpoint_name=name, readings=[Reading(Path(10240, 0, 0), DataType.TIME, 1)])


@pytest.fixture
def double(settings: Any) -> Iterator[LeshanDouble]:
    clients = [simulated(name) for name in NAMES[:3]]
    clients.append(simulated(NAMES[3], binding_mode="UQ", queue_mode=True, sleeping=True))
    leshan = LeshanDouble(clients=clients)
    with leshan.run_in_thread() as url:
        settings.LESHAN_URL = url
        settings.LESHAN_TIMEOUT = 2
        for name in NAMES:
            heard_from(name)
        Endpoint.objects.filter(name=NAMES[3]).update(sleeping=True, queue_mode=True)
        yield leshan


def drain() -> int:
    """Send what can be sent; again, for a wave that the last completion started."""
    sent = 0
    for _ in range(3):
        sent += asyncio.run(Dispatcher(listen=False).drain(within=30))
    return sent


def statuses(rollout: Rollout) -> dict[str, str]:
    members = selectors.rollout_devices(user=_system(), rollout=rollout)
    return {m.endpoint.name: selectors.device_status(m) for m in members}


def _system() -> Any:
    from core.permissions import SYSTEM

    return SYSTEM


def start(operator: Any, **fields: Any) -> Rollout:
    values: dict[str, Any] = {
        "name": "zone",
        "kind": "WRITE",
        "path": "/3/0/14",
        "value": "+02",
        "selection": Selection(endpoints=NAMES),
        "waves": [2, 0],
        "unit": "devices",
    }
    values.update(fields)
    return services.rollout_create(actor=operator, **values)


def test_two_waves_reach_every_device_and_the_sleeping_one_when_it_wakes(double: LeshanDouble, operator: Any) -> None:
    rollout = start(operator)
    assert statuses(rollout) == {"dev-0": "queued", "dev-1": "queued", "dev-2": "waiting", "dev-3": "waiting"}
    drain()
    # Wave 1 confirmed, so wave 2 was queued: dev-2 got it, dev-3 sleeps and keeps it queued.
    assert statuses(rollout) == {"dev-0": "confirmed", "dev-1": "confirmed", "dev-2": "confirmed", "dev-3": "queued"}
    assert Rollout.objects.get().current_wave == 1
    assert Rollout.objects.get().status == Rollout.Status.RUNNING
    assert double.clients["dev-3"].resources["/3/0/14"] == (DataType.STRING, "+00")
    double.wake("dev-3")
    heard_from("dev-3")
    drain()
    assert statuses(rollout)["dev-3"] == "confirmed"
    assert double.clients["dev-3"].resources["/3/0/14"] == (DataType.STRING, "+02")
    done = Rollout.objects.get()
    assert done.status == Rollout.Status.COMPLETED
    assert done.reason == "all 2 waves done: 4 of 4 devices confirmed"
    assert all(client.resources["/3/0/14"] == (DataType.STRING, "+02") for client in double.clients.values())


def test_a_wave_with_too_many_failures_halts_and_resume_goes_on(double: LeshanDouble, operator: Any) -> None:
    double.script("dev-0", ScriptedOutcome.coap_error("NOT_FOUND", "no such resource"))
    rollout = start(operator, max_failure_rate=0.4)
    drain()
    halted = Rollout.objects.get()
    assert halted.status == Rollout.Status.HALTED
    assert halted.reason == "wave 1: 1 of 2 devices failed (50 % > 40 % allowed); later waves not started"
    assert statuses(rollout) == {"dev-0": "failed", "dev-1": "confirmed", "dev-2": "waiting", "dev-3": "waiting"}
    failed = RolloutDevice.objects.get(endpoint__name="dev-0").operation
    assert failed is not None
    assert "NOT_FOUND" in failed.last_error or "no such resource" in failed.last_error
    services.rollout_resume(actor=operator, rollout=rollout)
    resumed = Rollout.objects.get()
    assert resumed.status == Rollout.Status.RUNNING
    assert resumed.reason.startswith("resumed after halt by ")
    assert resumed.current_wave == 1
    drain()
    assert statuses(rollout)["dev-2"] == "confirmed"
    assert statuses(rollout)["dev-3"] == "queued"  # asleep


def test_failures_within_the_threshold_do_not_halt(double: LeshanDouble, operator: Any) -> None:
    double.script("dev-0", ScriptedOutcome.coap_error("METHOD_NOT_ALLOWED"))
    start(operator, max_failure_rate=0.5)
    drain()
    assert Rollout.objects.get().status == Rollout.Status.RUNNING
    assert Rollout.objects.get().current_wave == 1


def test_abort_cancels_every_queued_operation_and_starts_no_wave(double: LeshanDouble, operator: Any) -> None:
    rollout = start(operator, waves=[3, 0], selection=Selection(endpoints=NAMES))
    # dev-3 sleeps, wave 1 is dev-0..dev-2: abort before anything is sent.
    services.rollout_abort(actor=operator, rollout=rollout)
    assert set(EndpointOperation.objects.values_list("status", flat=True)) == {Op.CANCELLED}
    assert drain() == 0
    aborted = Rollout.objects.get()
    assert aborted.status == Rollout.Status.ABORTED
    assert aborted.reason.endswith("3 queued operations cancelled")
    assert statuses(rollout) == {"dev-0": "cancelled", "dev-1": "cancelled", "dev-2": "cancelled", "dev-3": "waiting"}
    assert all(client.resources["/3/0/14"] == (DataType.STRING, "+00") for client in double.clients.values())


def test_pause_starts_no_further_wave_until_resumed(double: LeshanDouble, operator: Any) -> None:
    rollout = start(operator, kind="EXECUTE", path="/3/0/4", value=None)
    services.rollout_pause(actor=operator, rollout=rollout)
    drain()
    assert statuses(rollout) == {"dev-0": "confirmed", "dev-1": "confirmed", "dev-2": "waiting", "dev-3": "waiting"}
    services.rollout_resume(actor=operator, rollout=rollout)
    assert statuses(rollout)["dev-2"] == "queued"
    drain()
    assert statuses(rollout)["dev-2"] == "confirmed"


@pytest.mark.postgres
def test_two_dispatchers_finishing_one_wave_start_the_next_once(settings: Any, operator: Any) -> None:
    import threading

    names = [f"race-{n:02d}" for n in range(12)]
    leshan = LeshanDouble(latency=0.01, clients=[simulated(name) for name in names])
    with leshan.run_in_thread() as url:
        settings.LESHAN_URL = url
        for name in names:
            heard_from(name)
        rollout = start(operator, selection=Selection(name="race-"), waves=[4, 4, 0])

        def run() -> None:
            for _ in range(3):
                asyncio.run(Dispatcher(listen=False, concurrency=3).drain(within=30))

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        drain()
    done = Rollout.objects.get()
    assert done.status == Rollout.Status.COMPLETED, done.reason
    assert done.reason == "all 3 waves done: 12 of 12 devices confirmed"
    assert EndpointOperation.objects.count() == 12  # each wave queued once
    assert set(statuses(rollout).values()) == {"confirmed"}
    assert [r.method for r in leshan.requests].count("PUT") == 12
