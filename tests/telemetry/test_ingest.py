"""The Leshan bridge API stores every shape and type Leshan produces, exactly, with instance ids and events."""

import datetime as dt

import pytest
from django.test import Client

from core.lwm2m.types import INT64_MAX, INT64_MIN, UINT64_MAX, ObjectLink
from core.models import Endpoint, ResourceType
from telemetry.models import Event, Resource
from tests.telemetry.bridge_client import post, reference_payload, single, stored

pytestmark = pytest.mark.django_db

EP = "urn:imei:350000000000001"


def ms(value: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=value)


class TestReferencePayloads:
    def test_a_single_notification_is_stored_at_instance_zero(self, client: Client) -> None:
        response = post(client, "single", reference_payload("single.json"))
        assert response.status_code == 201
        assert response.json() == {"endpoint": EP, "resources": 1, "event_id": None}
        assert stored() == {"/3303/0/5700": 21.5}
        endpoint = Endpoint.objects.get(name=EP)
        assert (endpoint.online, endpoint.registration_state) == (True, "REGISTERED")

    def test_a_composite_read_of_an_object_keeps_every_resource_instance(self, client: Client) -> None:
        response = post(client, "composite", reference_payload("composite-read.json"))
        assert response.status_code == 201
        body = response.json()
        assert body["resources"] == 7
        assert stored() == {
            "/3/0/0": "Acme",
            "/3/0/3": "1.2.0",
            "/3/0/6/0": 1,
            "/3/0/6/1": 5,
            "/3/0/9": 87,
            "/3/0/13": 1764336000000,
            "/3/0/16": "UQ",
        }
        event = Event.objects.get(pk=body["event_id"])
        assert (event.event_type, event.description) == ("3", "Device")
        assert event.resources.count() == 7

    def test_a_composite_notification_becomes_one_event(self, client: Client) -> None:
        response = post(client, "composite", reference_payload("composite-observe.json"))
        assert response.status_code == 201
        assert stored() == {"/3303/0/5700": 21.75, "/3304/0/5700": 48.1, "/3323/0/5700": 101.3}
        event = Event.objects.get()
        assert event.event_type == "3303+3304+3323"
        assert event.description == "Temperature + Humidity + Pressure"
        assert sorted(r.path for r in event.resources.select_related("resource_type")) == [
            "/3303/0/5700",
            "/3304/0/5700",
            "/3323/0/5700",
        ]

    def test_timestamped_readings_keep_their_device_times(self, client: Client) -> None:
        before = dt.datetime.now(dt.UTC)
        response = post(client, "timestamped", reference_payload("timestamped.json"))
        assert response.status_code == 201
        rows = list(Resource.objects.select_related("resource_type").order_by("id"))
        assert [(r.path, r.value) for r in rows] == [
            ("/3303/0/5700", 20.5),
            ("/3303/0/5700", 20.75),
            ("/3304/0/5700", 47.0),
        ]
        assert rows[0].measured_at == ms(1764336000000)
        assert rows[1].measured_at == ms(1764336060000)
        # "null": the device sent no time, so the time of receipt stands in.
        assert rows[2].measured_at == rows[2].received_at >= before
        assert Event.objects.get().measured_at == rows[2].measured_at

    def test_a_registration_registers_the_endpoint_and_is_stored_as_telemetry(self, client: Client) -> None:
        response = post(client, "single", reference_payload("registration.json"))
        assert response.status_code == 201
        endpoint = Endpoint.objects.get(name=EP)
        assert endpoint.registration_state == "REGISTERED"
        assert endpoint.online
        assert endpoint.registered_at == ms(1764336000000)
        assert stored() == {"/10240/0/0": 1764336000000}


class TestNodeKinds:
    def test_an_instance_node_keeps_its_instance_id(self, client: Client) -> None:
        node = {
            "kind": "instance",
            "id": 2,
            "resources": [{"kind": "singleResource", "id": 5700, "type": "FLOAT", "value": "3.5"}],
        }
        assert post(client, "single", {"ep": "d", "obj_id": 3303, "val": node}).status_code == 201
        assert stored() == {"/3303/2/5700": 3.5}

    def test_an_object_node_with_two_instances_is_two_sensors(self, client: Client) -> None:
        node = {
            "kind": "obj",
            "id": 3303,
            "instances": [
                {
                    "kind": "instance",
                    "id": 0,
                    "resources": [{"kind": "singleResource", "id": 5700, "type": "FLOAT", "value": "20.0"}],
                },
                {
                    "kind": "instance",
                    "id": 1,
                    "resources": [{"kind": "singleResource", "id": 5700, "type": "FLOAT", "value": "30.0"}],
                },
            ],
        }
        assert post(client, "composite", {"ep": "d", "val": node}).status_code == 201
        assert stored() == {"/3303/0/5700": 20.0, "/3303/1/5700": 30.0}

    def test_a_multi_resource_stores_every_instance(self, client: Client) -> None:
        node = {"kind": "multiResource", "id": 7, "type": "INTEGER", "values": {"0": "3300", "1": "5000", "7": "12"}}
        assert post(client, "single", {"ep": "d", "obj_id": 3, "val": node}).status_code == 201
        assert stored() == {"/3/0/7/0": 3300, "/3/0/7/1": 5000, "/3/0/7/7": 12}

    def test_a_resource_instance_at_its_path(self, client: Client) -> None:
        body = {"ep": "d", "val": {"/3/0/7/1": {"kind": "resourceInstance", "id": 1, "type": "INTEGER", "value": "42"}}}
        assert post(client, "composite", body).status_code == 201
        assert stored() == {"/3/0/7/1": 42}

    def test_composite_paths_at_every_level(self, client: Client) -> None:
        body = {
            "ep": "d",
            "val": {
                "/3": {
                    "kind": "obj",
                    "id": 3,
                    "instances": [
                        {
                            "kind": "instance",
                            "id": 0,
                            "resources": [{"kind": "singleResource", "id": 0, "type": "STRING", "value": "Acme"}],
                        }
                    ],
                },
                "/3303/1": {
                    "kind": "instance",
                    "id": 1,
                    "resources": [{"kind": "singleResource", "id": 5700, "type": "FLOAT", "value": "1.5"}],
                },
                "/3304/0/5700": {"kind": "singleResource", "id": 5700, "type": "FLOAT", "value": "50"},
                "/3/0/7/1": {"kind": "resourceInstance", "id": 1, "type": "INTEGER", "value": "42"},
            },
        }
        response = post(client, "composite", body)
        assert response.status_code == 201
        assert stored() == {"/3/0/0": "Acme", "/3303/1/5700": 1.5, "/3304/0/5700": 50.0, "/3/0/7/1": 42}

    def test_a_single_post_may_name_its_path(self, client: Client) -> None:
        assert post(client, "single", single("d", "/3303/4/5700", "FLOAT", "-3.25")).status_code == 201
        assert stored() == {"/3303/4/5700": -3.25}

    def test_a_kind_is_inferred_when_absent(self, client: Client) -> None:
        body = {"ep": "d", "val": {"/3303/0/5700": {"id": 5700, "type": "float", "value": 21}}}
        assert post(client, "composite", body).status_code == 201
        assert stored() == {"/3303/0/5700": 21.0}


class TestTypes:
    @pytest.mark.parametrize(
        ("path", "data_type", "sent", "expected"),
        [
            ("/3/0/0", "STRING", "Grüße 🌡 <b>&", "Grüße 🌡 <b>&"),
            ("/3/0/9", "INTEGER", "87", 87),
            ("/3/0/9", "INTEGER", 87, 87),
            ("/3/0/10", "INTEGER", str(INT64_MAX), INT64_MAX),
            ("/3/0/10", "INTEGER", str(INT64_MIN), INT64_MIN),
            ("/5/0/13", "UNSIGNED_INTEGER", str(UINT64_MAX), UINT64_MAX),
            ("/5/0/13", "UNSIGNED_INTEGER", 2**63, 2**63),
            ("/3303/0/5700", "FLOAT", "1.0E10", 1.0e10),
            ("/3303/0/5700", "FLOAT", "-1.5E-4", -1.5e-4),
            ("/3303/0/5700", "FLOAT", 21.5, 21.5),
            ("/5/0/14", "BOOLEAN", True, True),
            ("/5/0/0", "OPAQUE", "00ff10ABcd", b"\x00\xff\x10\xab\xcd"),
            ("/3/0/13", "TIME", 1764336000000, 1764336000000),
            ("/3/0/22", "OBJLNK", {"objectId": 3303, "objectInstanceId": 1, "nullLink": False}, ObjectLink(3303, 1)),
            ("/3/0/22", "OBJLNK", "3304:0", ObjectLink(3304, 0)),
            ("/3387/0/909", "CORELINK", "</3/0>,</3303/0>", "</3/0>,</3303/0>"),
        ],
    )
    def test_every_type_round_trips(
        self, client: Client, path: str, data_type: str, sent: object, expected: object
    ) -> None:
        body = {"ep": "d", "val": {path: _node(path, data_type, sent)}}
        response = post(client, "composite", body)
        assert response.status_code == 201, response.json()
        value = stored()[path]
        assert value == expected
        assert type(value) is type(expected)

    def test_a_none_typed_resource_is_stored_without_value(self, client: Client) -> None:
        body = {"ep": "d", "val": {"/3/0/4": {"kind": "singleResource", "id": 4, "type": "NONE", "value": None}}}
        assert post(client, "composite", body).status_code == 201
        assert stored() == {"/3/0/4": None}

    def test_an_integer_for_a_float_resource_is_converted(self, client: Client) -> None:
        assert post(client, "single", single("d", "/3303/0/5700", "INTEGER", "21")).status_code == 201
        assert stored() == {"/3303/0/5700": 21.0}

    def test_an_older_bridge_registration_as_integer_one_is_accepted(self, client: Client) -> None:
        body = {"ep": "d", "obj_id": 10240, "val": {"kind": "singleResource", "id": 0, "type": "INTEGER", "value": 1}}
        assert post(client, "single", body).status_code == 201
        endpoint = Endpoint.objects.get(name="d")
        assert endpoint.registration_state == "REGISTERED"
        assert endpoint.registered_at is not None
        assert endpoint.registered_at.year >= 2026


def _node(path: str, data_type: str, value: object) -> dict:
    return {"kind": "singleResource", "id": int(path.split("/")[3]), "type": data_type, "value": value}


class TestRegistration:
    def _event(self, client: Client, resource_id: int, value: int = 1764336000000) -> None:
        body = {
            "ep": "d",
            "obj_id": 10240,
            "val": {"kind": "singleResource", "id": resource_id, "type": "TIME", "value": value},
        }
        assert post(client, "single", body).status_code == 201

    def test_registered_then_unregistered_then_registered_again(self, client: Client) -> None:
        self._event(client, 0)
        endpoint = Endpoint.objects.get(name="d")
        assert (endpoint.registration_state, endpoint.online, endpoint.status) == ("REGISTERED", True, "online")
        self._event(client, 1)
        endpoint.refresh_from_db()
        assert (endpoint.registration_state, endpoint.online, endpoint.status) == ("UNREGISTERED", False, "offline")
        self._event(client, 0)
        endpoint.refresh_from_db()
        assert (endpoint.registration_state, endpoint.online) == ("REGISTERED", True)

    def test_an_update_refreshes_last_seen_and_wakes_a_sleeping_device(self, client: Client) -> None:
        self._event(client, 0)
        Endpoint.objects.filter(name="d").update(sleeping=True, last_seen_at=ms(0))
        self._event(client, 2)
        endpoint = Endpoint.objects.get(name="d")
        assert endpoint.status == "online"
        assert endpoint.last_seen_at > ms(1764336000000)
        assert endpoint.registered_at == ms(1764336000000)

    def test_every_registration_event_is_telemetry(self, client: Client) -> None:
        for resource_id in (0, 2, 1):
            self._event(client, resource_id)
        paths = [r.path for r in Resource.objects.select_related("resource_type").order_by("id")]
        assert paths == ["/10240/0/0", "/10240/0/2", "/10240/0/1"]

    def test_data_from_a_device_marks_it_online(self, client: Client) -> None:
        self._event(client, 1)
        post(client, "single", single("d", "/3303/0/5700", "FLOAT", "1"))
        assert Endpoint.objects.get(name="d").status == "online"


class TestHooks:
    def test_firmware_resources_reach_the_firmware_listener_inside_the_transaction(
        self, client: Client, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from telemetry import hooks

        seen = []
        monkeypatch.setattr(
            hooks, "_firmware_listener", lambda endpoint_id, readings: seen.append([str(r.path) for r in readings])
        )
        post(client, "composite", reference_payload("composite-read.json"))
        body = {
            "ep": EP,
            "val": {
                "/5/0/3": _node("/5/0/3", "INTEGER", "1"),
                "/5/0/5": _node("/5/0/5", "INTEGER", "0"),
                "/3303/0/5700": _node("/3303/0/5700", "FLOAT", "1"),
            },
        }
        post(client, "composite", body)
        assert seen == [["/3/0/3"], ["/5/0/3", "/5/0/5"]]

    def test_a_failing_listener_rolls_the_whole_post_back(
        self, client: Client, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from core.errors import FieldhubError
        from telemetry import hooks

        def refuse(endpoint_id, readings):
            raise FieldhubError("firmware state out of order", path="/5/0/3")

        monkeypatch.setattr(hooks, "_firmware_listener", refuse)
        response = post(client, "single", single("d", "/5/0/3", "INTEGER", "1"))
        assert response.status_code == 422
        assert (Endpoint.objects.count(), Resource.objects.count()) == (0, 0)

    def test_data_wakes_the_dispatcher_but_a_deregistration_does_not(
        self, client: Client, django_capture_on_commit_callbacks
    ) -> None:
        from telemetry.downlink import wakeup

        woken: list[int] = []
        wakeup.register_local(woken.append)
        try:
            with django_capture_on_commit_callbacks(execute=True):
                post(client, "single", single("d", "/3303/0/5700", "FLOAT", "1"))
            unregister = {
                "ep": "d",
                "obj_id": 10240,
                "val": {"kind": "singleResource", "id": 1, "type": "TIME", "value": 1},
            }
            post(client, "single", unregister)
        finally:
            wakeup.unregister_local(woken.append)
        assert woken == [Endpoint.objects.get(name="d").pk]


class TestUnknownResources:
    def test_an_unknown_object_is_registered_from_the_payload(self, client: Client) -> None:
        body = {
            "ep": "d",
            "val": {
                "/10300/0/5": _node("/10300/0/5", "FLOAT", "2.5"),
                "/10300/0/6": _node("/10300/0/6", "STRING", "x"),
            },
        }
        assert post(client, "composite", body).status_code == 201
        registered = ResourceType.objects.get(object_id=10300, resource_id=5)
        assert (registered.slug, registered.data_type, registered.defined) == ("10300_5", "FLOAT", False)
        assert registered.object_name == "Object 10300"
        assert stored() == {"/10300/0/5": 2.5, "/10300/0/6": "x"}

    def test_a_new_resource_of_a_known_object_takes_the_object_name(self, client: Client) -> None:
        assert post(client, "single", single("d", "/3303/0/9999", "INTEGER", "7")).status_code == 201
        registered = ResourceType.objects.get(object_id=3303, resource_id=9999)
        assert (registered.slug, registered.object_name) == ("3303_9999", "Temperature")

    def test_later_posts_reuse_the_registered_type_and_check_against_it(self, client: Client) -> None:
        post(client, "single", single("d", "/10300/0/5", "FLOAT", "1"))
        assert post(client, "single", single("d", "/10300/0/5", "FLOAT", "2")).status_code == 201
        response = post(client, "single", single("d", "/10300/0/5", "STRING", "three"))
        assert response.status_code == 422
        assert (
            response.json()["detail"] == "/10300/0/5: STRING value conflicts with the registered type FLOAT (10300_5)"
        )
        assert ResourceType.objects.filter(object_id=10300).count() == 1

    def test_a_multi_instance_unknown_resource_is_registered_as_multiple(self, client: Client) -> None:
        node = {"kind": "multiResource", "id": 1, "type": "INTEGER", "values": {"0": "1"}}
        post(client, "single", {"ep": "d", "obj_id": 10301, "val": node})
        assert ResourceType.objects.get(object_id=10301, resource_id=1).multiple
