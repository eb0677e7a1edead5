"""Following Leshan's event stream: every event type, malformed lines, reconnect and resynchronisation."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from core.lwm2m.types import DataType
from core.models import Endpoint
from core.simulator.client import SimulatedClient
from core.simulator.double.server import LeshanDouble
from telemetry.leshan_events import LeshanFollower
from telemetry.models import EndpointOperation, Event, Resource
from tests.telemetry.workers import WorkerThread, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def client(name: str, **fields: Any) -> SimulatedClient:
    resources = {
        "/3/0/0": (DataType.STRING, "Acme"),
        "/3/0/9": (DataType.INTEGER, 77),
        "/3303/0/5700": (DataType.FLOAT, 21.5),
        "/3304/0/5700": (DataType.FLOAT, 48.0),
    }
    return SimulatedClient(endpoint=name, resources=resources, **fields)


@pytest.fixture
def leshan() -> Iterator[tuple[LeshanDouble, WorkerThread]]:
    double = LeshanDouble(heartbeat=0.2)
    with double.run_in_thread() as url, WorkerThread(LeshanFollower(leshan_url=url)) as follower:
        wait_until(lambda: follower.worker.connections >= 1)
        yield double, follower


def endpoint(name: str) -> Endpoint | None:
    return Endpoint.objects.filter(name=name).first()


def values(name: str) -> dict[str, Any]:
    rows = Resource.objects.filter(endpoint__name=name).select_related("resource_type").order_by("id")
    return {row.path: row.value for row in rows}


def test_a_registration_registers_the_device_with_its_details(leshan, settings) -> None:
    settings.LESHAN_OBSERVE = ["/3303/0/5700", "/3/0/9"]
    double, _ = leshan
    double.register(client("dev-r", lifetime=600, binding_mode="UQ", queue_mode=True))
    wait_until(lambda: endpoint("dev-r") is not None)
    device = endpoint("dev-r")
    assert (device.registration_state, device.online, device.lifetime, device.binding) == (
        "REGISTERED",
        True,
        600,
        "UQ",
    )
    assert device.registration_id == double.clients["dev-r"].registration_id
    assert "/10240/0/0" in values("dev-r")
    observed = EndpointOperation.objects.filter(endpoint=device, kind="OBSERVE").values_list("path", flat=True)
    assert sorted(observed) == ["/3/0/9", "/3303/0/5700"]


def test_update_and_deregistration(leshan) -> None:
    double, _ = leshan
    double.register(client("dev-u"))
    wait_until(lambda: endpoint("dev-u") is not None)
    double.update("dev-u", lifetime=900)
    wait_until(lambda: endpoint("dev-u").lifetime == 900)
    assert "/10240/0/2" in values("dev-u")
    double.deregister("dev-u")
    wait_until(lambda: not endpoint("dev-u").online)
    assert endpoint("dev-u").registration_state == "UNREGISTERED"


def test_sleeping_and_awake(leshan) -> None:
    double, _ = leshan
    double.register(client("dev-q", binding_mode="UQ", queue_mode=True))
    wait_until(lambda: endpoint("dev-q") is not None)
    double.sleep("dev-q")
    wait_until(lambda: endpoint("dev-q").sleeping)
    assert endpoint("dev-q").status == "sleeping"
    double.wake("dev-q")
    wait_until(lambda: not endpoint("dev-q").sleeping)
    assert endpoint("dev-q").status == "online"


def test_notifications_and_sends_are_telemetry(leshan) -> None:
    double, _ = leshan
    double.register(client("dev-n"))
    wait_until(lambda: endpoint("dev-n") is not None)
    double.notify("dev-n", "/3303/0/5700")
    wait_until(lambda: "/3303/0/5700" in values("dev-n"))
    assert values("dev-n")["/3303/0/5700"] == 21.5
    double.notify_composite("dev-n", ["/3304/0/5700", "/3/0/9"])
    wait_until(lambda: "/3304/0/5700" in values("dev-n"))
    assert values("dev-n")["/3/0/9"] == 77
    assert Event.objects.filter(endpoint__name="dev-n", event_type="3+3304").exists()
    double.send("dev-n", ["/3/0/0"])
    wait_until(lambda: "/3/0/0" in values("dev-n"))


def test_malformed_lines_are_logged_and_skipped(leshan, caplog: pytest.LogCaptureFixture) -> None:
    double, _ = leshan
    with caplog.at_level(logging.WARNING, logger="core.leshan"):
        double.emit_raw("event: NOTIFICATION\r\ndata: {not json\r\n\r\n")
        double.emit_raw("event: NOTIFICATION\r\ndata: [1, 2]\r\n\r\n")
        double.emit_raw("gibberish without a colon\r\n\r\n")
        double.register(client("dev-after"))
        wait_until(lambda: endpoint("dev-after") is not None)  # the stream goes on
    messages = " ".join(record.getMessage() for record in caplog.records)
    assert "unreadable data ignored" in messages
    assert "unexpected line ignored" in messages


def test_an_event_for_data_that_cannot_be_stored_is_skipped(leshan, caplog: pytest.LogCaptureFixture) -> None:
    double, _ = leshan
    with caplog.at_level(logging.WARNING, logger="telemetry.leshan_events"):
        double.emit_raw(
            'event: NOTIFICATION\r\ndata: {"ep":"x","kind":"single","res":"/3303/0/5700","val":{"id":1}}\r\n\r\n'
        )
        double.register(client("dev-next"))
        wait_until(lambda: endpoint("dev-next") is not None)
    assert any("Leshan event NOTIFICATION ignored" in record.getMessage() for record in caplog.records)


def test_after_a_reconnect_the_registrations_are_resynchronised(leshan) -> None:
    double, follower = leshan
    double.register(client("stays"))
    double.register(client("leaves"))
    wait_until(lambda: endpoint("leaves") is not None and endpoint("stays") is not None)
    connections = follower.worker.connections
    double.disconnect_streams()
    # While the follower is away (it reconnects after a second), events are lost, as with Leshan.
    double.deregister("leaves")
    double.register(client("arrived"))
    wait_until(lambda: follower.worker.connections > connections, within=15)
    wait_until(lambda: endpoint("arrived") is not None and not endpoint("leaves").online)
    assert endpoint("stays").online
    assert endpoint("leaves").registration_state == "UNREGISTERED"
    assert endpoint("arrived").registration_state == "REGISTERED"


def test_a_registration_under_a_name_fieldhub_refuses_is_logged_and_skipped(
    leshan, caplog: pytest.LogCaptureFixture
) -> None:
    double, _ = leshan
    with caplog.at_level(logging.WARNING, logger="telemetry.leshan_events"):
        double.register(client(".."))
        double.register(client("dev-\u202eevil"))
        double.register(client("dev-fine"))
        wait_until(lambda: endpoint("dev-fine") is not None)
    assert list(Endpoint.objects.values_list("name", flat=True)) == ["dev-fine"]
    messages = [record.getMessage() for record in caplog.records]
    assert any("consists only of dots" in message for message in messages), messages
    assert any("U+202E RIGHT-TO-LEFT OVERRIDE" in message for message in messages), messages


def test_a_refused_name_in_leshans_list_does_not_stop_the_resynchronisation(
    leshan, caplog: pytest.LogCaptureFixture
) -> None:
    double, follower = leshan
    connections = follower.worker.connections
    double.disconnect_streams()
    # Registered while the follower is away: only the resynchronisation from GET /api/clients sees them.
    double.register(client("."))
    double.register(client("dev-\u200bzero-width"))
    double.register(client("arrived-too"))
    with caplog.at_level(logging.WARNING, logger="telemetry.lifecycle.services"):
        wait_until(lambda: follower.worker.connections > connections, within=15)
        wait_until(lambda: endpoint("arrived-too") is not None)
    assert list(Endpoint.objects.values_list("name", flat=True)) == ["arrived-too"]
    assert endpoint("arrived-too").registration_state == "REGISTERED"
    assert any("Leshan registration of '.' ignored" in record.getMessage() for record in caplog.records)
