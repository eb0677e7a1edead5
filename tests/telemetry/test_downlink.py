"""The downlink queue against the Leshan double over real HTTP: every outcome row, order, backoff, recovery."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from core.errors import Conflict, FieldhubError, PermissionDenied
from core.lwm2m.nodes import Path, Reading
from core.lwm2m.types import DataType
from core.models import Endpoint
from core.permissions import SYSTEM
from core.simulator.client import SimulatedClient
from core.simulator.double.protocol import LeshanVersion
from core.simulator.double.scripts import ScriptedOutcome
from core.simulator.double.server import LeshanDouble
from telemetry import ingest
from telemetry.downlink import queue
from telemetry.downlink.dispatcher import Dispatcher
from telemetry.models import EndpointOperation, Resource
from tests.servers import free_port
from tests.telemetry.workers import WorkerThread, wait_until

Status = EndpointOperation.Status


def device(name: str = "dev-1", **fields: Any) -> Endpoint:
    """A registered, online device, as after a registration post."""
    ingest.ingest(endpoint_name=name, readings=[Reading(Path(10240, 0, 0), DataType.TIME, 1)])
    if fields:
        Endpoint.objects.filter(name=name).update(**fields)
    return Endpoint.objects.get(name=name)


def simulated(name: str = "dev-1", **fields: Any) -> SimulatedClient:
    resources = {
        "/3/0/0": (DataType.STRING, "Acme"),
        "/3/0/9": (DataType.INTEGER, 80),
        "/3/0/13": (DataType.TIME, 1764336000000),
        "/3/0/14": (DataType.STRING, "+01"),
        "/3/0/4": (DataType.NONE, None),
        "/3303/0/5700": (DataType.FLOAT, 21.5),
    }
    return SimulatedClient(endpoint=name, resources=resources, **fields)


@pytest.fixture
def leshan(settings: Any) -> Iterator[LeshanDouble]:
    double = LeshanDouble(clients=[simulated()])
    with double.run_in_thread() as url:
        settings.LESHAN_URL = url
        settings.LESHAN_TIMEOUT = 2
        yield double


def drain() -> int:
    return asyncio.run(Dispatcher(listen=False).drain(within=30))


def enqueue(endpoint: Endpoint, kind: str, path: str, **kwargs: Any) -> EndpointOperation:
    return queue.operation_enqueue(actor=SYSTEM, endpoint=endpoint, kind=kind, path=path, **kwargs)


def refreshed(operation: EndpointOperation) -> EndpointOperation:
    operation.refresh_from_db()
    return operation


# --- queueing: checked before anything is queued ---------------------------------------------------------


@pytest.mark.django_db
class TestEnqueue:
    @pytest.mark.parametrize(
        ("kind", "path", "fields", "message"),
        [
            ("WRITE", "/3/0/9", {"value": 50}, "/3/0/9 (battery_level) is not writable"),
            ("WRITE", "/3/0/13", {"value": "soon"}, '/3/0/13: TIME value "soon" is not an integer'),
            ("WRITE", "/3/0/14", {"value": 5}, "/3/0/14: STRING value must be a JSON string, not a number"),
            ("WRITE", "/3/0/14", {}, "/3/0/14: a value is needed"),
            ("WRITE", "/3", {"value": 1}, "write needs an instance or resource path, not a whole object"),
            ("WRITE", "/1/0", {}, "writing an instance needs values: {resource id: value}"),
            ("WRITE", "/1/0", {"values": {"x": 1}}, '"x" is not an LwM2M id (0..65535)'),
            ("WRITE", "/1/0", {"values": {"1": "often"}}, '/1/0/1: INTEGER value "often" is not an integer'),
            ("WRITE", "/40000/0/1", {"value": 1}, "/40000/0/1 is not a resource the registry knows"),
            ("WRITE", "/3/0/15", {"value": "x" * 256}, "/3/0/15: the value is 256 bytes long; at most 255 fit"),
            ("WRITE", "/5/0/1", {"value": "http://h/" + "p" * 250}, "/5/0/1: the value is 259 bytes long; at most 255"),
            ("WRITE", "/1/0/26", {"value": 2}, "/1/0/26: the value is 2; the allowed range is 0 to 1"),
            ("EXECUTE", "/3/0/9", {}, "/3/0/9 (battery_level) is not executable"),
            ("EXECUTE", "/3/0", {}, "execute needs a resource path, e.g. /3/0/4"),
            ("EXECUTE", "/3/0/4", {"arguments": "a\\nb"}, "arguments must be printable ASCII (e.g. 0='reason',1)"),
            ("READ", "/5/0/2", {}, "/5/0/2 (update) is not readable"),
            ("READ", "three", {}, "not an LwM2M path like /3303/0/5700"),
            ("SHOUT", "/3/0/9", {}, "kind must be one of write, execute, read, observe, observe_cancel"),
        ],
    )
    def test_a_bad_operation_is_refused_and_nothing_queued(self, kind, path, fields, message) -> None:
        if "arguments" in fields:
            fields = {"arguments": fields["arguments"].replace("\\n", "\n")}
        endpoint = device()
        with pytest.raises(FieldhubError) as info:
            enqueue(endpoint, kind, path, **fields)
        assert message in str(info.value)
        assert info.value.status == 422
        assert not EndpointOperation.objects.exists()

    def test_writes_become_leshan_nodes(self) -> None:
        endpoint = device()
        assert enqueue(endpoint, "WRITE", "/3/0/14", value="+02").payload == {
            "node": {"id": 14, "kind": "singleResource", "type": "STRING", "value": "+02"}
        }
        assert enqueue(endpoint, "WRITE", "/1/0/1", value=300).payload["node"]["value"] == "300"
        assert enqueue(endpoint, "WRITE", "/1/0", values={"1": 60, "2": 1}).payload == {
            "node": {
                "id": 0,
                "kind": "instance",
                "resources": [
                    {"id": 1, "kind": "singleResource", "type": "INTEGER", "value": "60"},
                    {"id": 2, "kind": "singleResource", "type": "INTEGER", "value": "1"},
                ],
            }
        }
        assert enqueue(endpoint, "WRITE", "/3311/0/5850", value="true").payload["node"]["value"] is True

    def test_only_operators_queue(self, viewer, operator) -> None:
        endpoint = device()
        with pytest.raises(PermissionDenied):
            queue.operation_enqueue(actor=viewer, endpoint=endpoint, kind="READ", path="/3/0/9")
        operation = queue.operation_enqueue(actor=operator, endpoint=endpoint, kind="READ", path="/3/0/9")
        assert (operation.status, operation.created_by) == (Status.QUEUED, operator)

    def test_cancel_and_retry(self, operator) -> None:
        operation = enqueue(device(), "READ", "/3/0/9")
        queue.operation_cancel(actor=operator, operation=operation)
        assert refreshed(operation).status == Status.CANCELLED
        with pytest.raises(Conflict, match="only a queued one can be cancelled"):
            queue.operation_cancel(actor=operator, operation=operation)
        queue.operation_retry(actor=operator, operation=operation)
        assert (refreshed(operation).status, operation.attempts) == (Status.QUEUED, 0)
        with pytest.raises(Conflict, match="only a failed or cancelled one can be retried"):
            queue.operation_retry(actor=operator, operation=operation)


@pytest.mark.django_db
class TestOperationsApi:
    def logged_in(self, user: Any, **kwargs: Any) -> Client:
        client = Client(**kwargs)
        client.force_login(user)
        return client

    def test_an_operator_queues_lists_and_cancels(self, operator) -> None:
        device()
        client = self.logged_in(operator)
        body = {"kind": "write", "path": "/3/0/14", "value": "+02"}
        response = client.post("/api/v1/endpoints/dev-1/operations", json.dumps(body), content_type="application/json")
        assert response.status_code == 201
        created = response.json()
        assert (created["kind"], created["status"], created["created_by"]) == ("WRITE", "QUEUED", operator.username)
        listed = client.get("/api/v1/operations?status=queued&endpoint=dev-1").json()
        assert [item["id"] for item in listed["items"]] == [created["id"]]
        cancelled = client.post(f"/api/v1/operations/{created['id']}/cancel")
        assert cancelled.json()["status"] == "CANCELLED"
        again = client.post(f"/api/v1/operations/{created['id']}/cancel")
        assert again.status_code == 409
        assert again.json()["detail"].endswith("only a queued one can be cancelled")

    def test_a_viewer_is_403_and_nothing_is_queued(self, viewer) -> None:
        device()
        body = {"kind": "read", "path": "/3/0/9"}
        response = self.logged_in(viewer).post(
            "/api/v1/endpoints/dev-1/operations", json.dumps(body), content_type="application/json"
        )
        assert response.status_code == 403
        assert response.json() == {"detail": "this needs the operator role"}
        assert not EndpointOperation.objects.exists()

    def test_a_session_post_needs_the_csrf_token(self, operator) -> None:
        device()
        client = self.logged_in(operator, enforce_csrf_checks=True)
        body = json.dumps({"kind": "read", "path": "/3/0/9"})
        response = client.post("/api/v1/endpoints/dev-1/operations", body, content_type="application/json")
        assert response.status_code == 403
        assert "CSRF" in response.json()["detail"]
        client.get("/")  # sets the csrftoken cookie
        token = client.cookies["csrftoken"].value
        response = client.post(
            "/api/v1/endpoints/dev-1/operations", body, content_type="application/json", HTTP_X_CSRFTOKEN=token
        )
        assert response.status_code == 201

    def test_a_bad_value_is_422_naming_it(self, operator) -> None:
        device()
        body = json.dumps({"kind": "write", "path": "/3/0/13", "value": "noon"})
        response = self.logged_in(operator).post(
            "/api/v1/endpoints/dev-1/operations", body, content_type="application/json"
        )
        assert response.status_code == 422
        assert response.json() == {"detail": 'value: /3/0/13: TIME value "noon" is not an integer', "path": "value"}

    def test_an_unknown_operation_is_404(self, viewer) -> None:
        response = self.logged_in(viewer).get("/api/v1/operations/999")
        assert response.status_code == 404


# --- sending: every outcome of the contract ------------------------------------------------------------------

pytestmark_send = pytest.mark.django_db(transaction=True)


@pytestmark_send
class TestOutcomes:
    def test_a_confirmed_write_changes_the_device(self, leshan: LeshanDouble) -> None:
        operation = enqueue(device(), "WRITE", "/3/0/14", value="+02")
        assert drain() == 1
        operation = refreshed(operation)
        assert (operation.status, operation.attempts, operation.last_error) == (Status.CONFIRMED, 1, "")
        assert operation.result["coap_status"] == "CHANGED(204)"
        assert leshan.clients["dev-1"].resources["/3/0/14"] == (DataType.STRING, "+02")
        request = next(r for r in leshan.requests if r.method == "PUT")
        assert request.path == "/api/clients/dev-1/3/0/14"
        assert json.loads(request.body) == {"id": 14, "kind": "singleResource", "type": "STRING", "value": "+02"}
        assert request.query["timeout"] == "2"

    def test_a_device_error_fails_at_once(self, leshan: LeshanDouble) -> None:
        leshan.script("dev-1", ScriptedOutcome.coap_error("METHOD_NOT_ALLOWED", "read only"))
        operation = enqueue(device(), "WRITE", "/3/0/14", value="x")
        drain()
        operation = refreshed(operation)
        assert (operation.status, operation.attempts) == (Status.FAILED, 1)
        assert operation.last_error == "METHOD_NOT_ALLOWED(405): read only"

    def test_a_sleeping_device_keeps_it_queued_without_an_attempt(self, leshan: LeshanDouble) -> None:
        leshan.script("dev-1", ScriptedOutcome.sleeping())
        operation = enqueue(device(), "READ", "/3/0/9")
        drain()
        operation = refreshed(operation)
        assert (operation.status, operation.attempts) == (Status.QUEUED, 0)
        assert "sleeping" in operation.last_error
        endpoint = Endpoint.objects.get(name="dev-1")
        assert (endpoint.sleeping, endpoint.queue_mode) == (True, True)  # it sleeps between wake-ups from now on
        assert drain() == 0  # asleep: not tried again until it is heard from
        ingest.ingest(endpoint_name="dev-1", readings=[Reading(Path(3303, 0, 5700), DataType.FLOAT, 1.0)])
        drain()
        assert refreshed(operation).status == Status.CONFIRMED

    def test_an_unregistered_device_keeps_it_queued(self, leshan: LeshanDouble) -> None:
        operation = enqueue(device("ghost"), "READ", "/3/0/9")  # Leshan has no client "ghost"
        drain()
        operation = refreshed(operation)
        assert (operation.status, operation.attempts) == (Status.QUEUED, 0)
        ghost = Endpoint.objects.get(name="ghost")
        assert (ghost.online, ghost.registration_state) == (False, "UNREGISTERED")

    @pytest.mark.parametrize(
        ("outcome", "error"),
        [
            (ScriptedOutcome.timeout(), "Request timeout"),
            (ScriptedOutcome.http(500, "Unexpected exception: boom"), "Unexpected exception: boom"),
        ],
    )
    def test_a_timeout_or_server_error_is_retried_with_backoff_then_fails(
        self, leshan: LeshanDouble, settings: Any, outcome: ScriptedOutcome, error: str
    ) -> None:
        settings.OPERATION_MAX_ATTEMPTS = 2
        leshan.script("dev-1", outcome, outcome)
        operation = enqueue(device(), "READ", "/3/0/9")
        before = timezone.now()
        drain()
        operation = refreshed(operation)
        assert (operation.status, operation.attempts, operation.last_error) == (Status.QUEUED, 1, error)
        assert operation.next_attempt_at >= before + dt.timedelta(seconds=settings.OPERATION_BACKOFF_SECONDS)
        assert drain() == 0  # not due yet
        EndpointOperation.objects.filter(pk=operation.pk).update(next_attempt_at=timezone.now())
        drain()
        operation = refreshed(operation)
        assert (operation.status, operation.attempts) == (Status.FAILED, 2)

    def test_the_backoff_doubles(self, leshan: LeshanDouble, settings: Any) -> None:
        leshan.script("dev-1", ScriptedOutcome.timeout(), ScriptedOutcome.timeout())
        operation = enqueue(device(), "READ", "/3/0/9")
        drain()
        # From the moment the attempt ended (the row's save), not from when it was sent: a loaded machine's
        # slow timeout must not look like a longer backoff.
        first = refreshed(operation).next_attempt_at - refreshed(operation).updated_at
        EndpointOperation.objects.filter(pk=operation.pk).update(next_attempt_at=timezone.now())
        drain()
        second = refreshed(operation).next_attempt_at - refreshed(operation).updated_at
        assert round(first.total_seconds()) == settings.OPERATION_BACKOFF_SECONDS
        assert round(second.total_seconds()) == 2 * settings.OPERATION_BACKOFF_SECONDS

    def test_leshan_down_keeps_it_queued_without_spending_attempts(self, settings: Any) -> None:
        """No connection to Leshan: the request never left, so however long Leshan is down (a restart, an
        upgrade), nothing fails; it is tried again after the backoff and delivered once Leshan is back."""
        port = free_port()
        settings.LESHAN_URL = f"http://127.0.0.1:{port}"
        settings.OPERATION_MAX_ATTEMPTS = 1
        operation = enqueue(device(), "WRITE", "/3/0/14", value="after the outage")
        for _ in range(3):
            drain()
            EndpointOperation.objects.filter(pk=operation.pk).update(next_attempt_at=timezone.now())
        operation = refreshed(operation)
        assert (operation.status, operation.attempts) == (Status.QUEUED, 0)
        assert operation.last_error.startswith("Leshan unreachable")
        double = LeshanDouble(clients=[simulated()])
        with double.run_in_thread(port=port):
            drain()
        assert refreshed(operation).status == Status.CONFIRMED
        assert [r.method for r in double.requests] == ["PUT"]

    def test_leshan_down_waits_for_the_backoff(self, settings: Any) -> None:
        settings.LESHAN_URL = f"http://127.0.0.1:{free_port()}"
        operation = enqueue(device(), "READ", "/3/0/9")
        drain()
        operation = refreshed(operation)
        wait = (operation.next_attempt_at - operation.updated_at).total_seconds()
        assert round(wait) == settings.OPERATION_BACKOFF_SECONDS

    def test_a_read_is_stored_as_telemetry(self, leshan: LeshanDouble) -> None:
        enqueue(device(), "READ", "/3/0")
        drain()
        stored = {r.path: r.value for r in Resource.objects.select_related("resource_type").order_by("id")}
        assert stored["/3/0/9"] == 80
        assert stored["/3/0/0"] == "Acme"

    def test_an_execute_sends_its_arguments(self, leshan: LeshanDouble) -> None:
        operation = enqueue(device(), "EXECUTE", "/3/0/4", arguments="0='maintenance'")
        drain()
        assert refreshed(operation).status == Status.CONFIRMED
        request = next(r for r in leshan.requests if r.method == "POST")
        assert (request.path, request.body) == ("/api/clients/dev-1/3/0/4", "0='maintenance'")

    def test_observe_then_cancel(self, leshan: LeshanDouble) -> None:
        endpoint = device()
        observe = enqueue(endpoint, "OBSERVE", "/3303/0/5700")
        drain()
        assert refreshed(observe).status == Status.CONFIRMED
        assert "/3303/0/5700" in leshan.clients["dev-1"].observations
        assert Resource.objects.filter(endpoint=endpoint, resource_type__slug="temperature").exists()
        cancel = enqueue(endpoint, "OBSERVE_CANCEL", "/3303/0/5700")
        drain()
        assert refreshed(cancel).status == Status.CONFIRMED
        request = [r for r in leshan.requests if r.method == "DELETE"][-1]
        assert (request.path, "active" in request.query) == ("/api/clients/dev-1/3303/0/5700/observe", True)

    def test_a_device_s_operations_go_in_order_one_at_a_time(self, leshan: LeshanDouble) -> None:
        endpoint = device()
        values = ["+01", "+02", "+03", "+04"]
        operations = [enqueue(endpoint, "WRITE", "/3/0/14", value=v) for v in values]
        drain()
        assert [refreshed(op).status for op in operations] == [Status.CONFIRMED] * 4
        sent = [json.loads(r.body)["value"] for r in leshan.requests if r.method == "PUT"]
        assert sent == values
        assert leshan.clients["dev-1"].resources["/3/0/14"] == (DataType.STRING, "+04")

    def test_a_failed_operation_does_not_block_the_next(self, leshan: LeshanDouble) -> None:
        leshan.script("dev-1", ScriptedOutcome.coap_error("NOT_FOUND"))
        endpoint = device()
        first, second = enqueue(endpoint, "READ", "/3/0/9"), enqueue(endpoint, "READ", "/3/0/0")
        drain()
        assert (refreshed(first).status, refreshed(second).status) == (Status.FAILED, Status.CONFIRMED)

    def test_a_retrying_operation_holds_back_the_ones_after_it(self, leshan: LeshanDouble) -> None:
        leshan.script("dev-1", ScriptedOutcome.timeout())
        endpoint = device()
        first, second = (
            enqueue(endpoint, "WRITE", "/3/0/14", value="a"),
            enqueue(endpoint, "WRITE", "/3/0/14", value="b"),
        )
        drain()
        assert (refreshed(first).status, refreshed(second).status) == (Status.QUEUED, Status.QUEUED)

    def test_a_cancelled_operation_is_never_sent(self, leshan: LeshanDouble, operator) -> None:
        operation = enqueue(device(), "WRITE", "/3/0/14", value="never")
        queue.operation_cancel(actor=operator, operation=operation)
        assert drain() == 0
        assert not [r for r in leshan.requests if r.method == "PUT"]

    def test_an_operation_left_sending_by_a_stopped_dispatcher_is_recovered(
        self, leshan: LeshanDouble, settings
    ) -> None:
        operation = enqueue(device(), "READ", "/3/0/9")
        claims = queue.operations_claim(endpoint_ids=None, limit=10)
        assert [c.id for c in claims] == [operation.pk]
        assert queue.operations_recover() == 0  # not stale yet
        stale = timezone.now() - dt.timedelta(seconds=settings.OPERATION_SENDING_TIMEOUT + 1)
        EndpointOperation.objects.filter(pk=operation.pk).update(last_attempt_at=stale)
        assert queue.operations_recover() == 1
        operation = refreshed(operation)
        assert (operation.status, operation.attempts) == (Status.QUEUED, 1)
        drain()
        assert refreshed(operation).status == Status.CONFIRMED

    def test_an_execute_left_sending_fails_instead_of_running_twice(self, leshan: LeshanDouble, settings) -> None:
        operation = enqueue(device(), "EXECUTE", "/3/0/4")
        queue.operations_claim(endpoint_ids=None, limit=10)
        stale = timezone.now() - dt.timedelta(seconds=settings.OPERATION_SENDING_TIMEOUT + 1)
        EndpointOperation.objects.filter(pk=operation.pk).update(last_attempt_at=stale)
        assert queue.operations_recover() == 1
        operation = refreshed(operation)
        assert (operation.status, operation.attempts) == (Status.FAILED, 1)
        assert operation.last_error == (
            "the dispatcher stopped while sending; whether the device executed it is unknown: "
            "check the device, then retry"
        )
        drain()
        assert not [r for r in leshan.requests if r.method == "POST" and r.path.endswith("/3/0/4")]

    def test_a_sending_operation_is_not_cancellable_and_not_claimed_twice(self, operator) -> None:
        operation = enqueue(device(), "READ", "/3/0/9")
        assert len(queue.operations_claim(endpoint_ids=None, limit=10)) == 1
        assert queue.operations_claim(endpoint_ids=None, limit=10) == []
        with pytest.raises(Conflict):
            queue.operation_cancel(actor=operator, operation=operation)


@pytestmark_send
def test_master_delays_a_request_for_a_sleeping_device_until_it_wakes(settings: Any) -> None:
    from telemetry.leshan_events import LeshanFollower

    client = simulated(binding_mode="UQ", queue_mode=True, sleeping=True)
    double = LeshanDouble(version=LeshanVersion.MASTER, clients=[client])
    with double.run_in_thread() as url:
        settings.LESHAN_URL = url
        operation = enqueue(device(), "WRITE", "/3/0/14", value="later")
        drain()
        operation = refreshed(operation)
        assert operation.status == Status.SENDING
        assert operation.request_id
        follower = WorkerThread(LeshanFollower(leshan_url=url))
        with follower:
            wait_until(lambda: follower.worker.connections >= 1)
            double.wake("dev-1")
            wait_until(lambda: refreshed(operation).status == Status.CONFIRMED)
    assert client.resources["/3/0/14"] == (DataType.STRING, "later")


@pytest.mark.postgres
@pytestmark_send
def test_two_dispatchers_racing_send_every_operation_exactly_once(settings: Any) -> None:
    names = [f"race-{i}" for i in range(12)]
    double = LeshanDouble(latency=0.01, clients=[simulated(name) for name in names])
    with double.run_in_thread() as url:
        settings.LESHAN_URL = url
        for name in names:
            endpoint = device(name)
            for n in range(8):
                enqueue(endpoint, "WRITE", "/3/0/14", value=f"{name}:{n}")

        results: list[int] = []

        def run() -> None:
            results.append(asyncio.run(Dispatcher(listen=False, concurrency=5).drain(within=60)))

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        drain()  # anything a racer left for the other, in the rare case both backed off at once

    sent = [json.loads(r.body)["value"] for r in double.requests if r.method == "PUT"]
    assert len(sent) == len(set(sent)) == 96  # every write sent, none twice
    assert set(EndpointOperation.objects.values_list("status", flat=True)) == {Status.CONFIRMED}
    for name in names:  # each device's writes in the order they were queued
        assert [v for v in sent if v.startswith(f"{name}:")] == [f"{name}:{n}" for n in range(8)]
    assert all(count > 0 for count in results)


@pytestmark_send
def test_the_embedded_server_runs_the_dispatcher(settings: Any) -> None:
    """`make run`: one process serves the bridge and sends the operations a post makes due."""
    import urllib.request

    from tests.servers import embedded

    double = LeshanDouble(clients=[simulated()])
    with double.run_in_thread() as leshan_url, embedded(LESHAN_URL=leshan_url, EMBEDDED_WORKERS="1") as url:
        operation = enqueue(device(), "WRITE", "/3/0/14", value="from the server")
        body = {"ep": "dev-1", "obj_id": 10240, "val": {"kind": "singleResource", "id": 2, "type": "TIME", "value": 1}}
        request = urllib.request.Request(
            f"{url}/leshan_api/resource/single", json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request) as answer:
            assert answer.status == 201
        wait_until(lambda: refreshed(operation).status == Status.CONFIRMED, within=15)
    assert double.clients["dev-1"].resources["/3/0/14"] == (DataType.STRING, "from the server")


@pytest.mark.postgres
@pytestmark_send
def test_a_dispatcher_in_another_process_is_woken_by_notify(settings: Any) -> None:
    """A worker LISTENs: a post that makes a device reachable NOTIFYs it inside the ingest statement."""
    import subprocess
    import sys

    from tests.servers import ROOT, server_env

    double = LeshanDouble(clients=[simulated()])
    with double.run_in_thread() as url:
        env = server_env(LESHAN_URL=url, DISPATCH_SWEEP_SECONDS="3600")  # no sweep: only the NOTIFY wakes it
        worker = subprocess.Popen([sys.executable, "manage.py", "dispatch"], cwd=ROOT, env=env)
        try:
            endpoint = device(online=False)
            operation = enqueue(endpoint, "WRITE", "/3/0/14", value="notified")
            wait_until(lambda: _listening(), within=15)
            ingest.ingest(endpoint_name="dev-1", readings=[Reading(Path(10240, 0, 2), DataType.TIME, 1)])
            wait_until(lambda: refreshed(operation).status == Status.CONFIRMED, within=15)
        finally:
            worker.terminate()
            worker.wait(timeout=15)
    assert double.clients["dev-1"].resources["/3/0/14"] == (DataType.STRING, "notified")


def _listening() -> bool:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN fieldhub_downlink%%'")
        return cursor.fetchone()[0] > 0
