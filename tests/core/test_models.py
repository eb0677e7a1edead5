"""What the database itself guarantees: unique types, one active firmware update, exact values, no cascades."""

import pytest
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from core.lwm2m.types import INT64_MAX, INT64_MIN, UINT64_MAX, DataType, ObjectLink
from core.models import Endpoint, ResourceType
from firmware.models import FirmwareUpdate
from telemetry.models import EndpointOperation, Event, EventResource, Resource
from tests.factories import make_endpoint, make_firmware, make_firmware_update, make_resource, make_resource_type

pytestmark = pytest.mark.django_db


def test_it_refuses_a_second_resource_type_with_the_same_ids() -> None:
    make_resource_type(object_id=40000, resource_id=1, slug="a")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_resource_type(object_id=40000, resource_id=1, slug="b")


def test_it_refuses_a_duplicate_machine_name() -> None:
    make_resource_type(object_id=40000, resource_id=1, slug="same")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_resource_type(object_id=40000, resource_id=2, slug="same")


def test_it_refuses_a_duplicate_endpoint_name() -> None:
    make_endpoint(name="dev1")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_endpoint(name="dev1")


def test_an_endpoint_name_may_be_255_characters() -> None:
    name = "urn:dev:" + "x" * 247
    make_endpoint(name=name)
    assert Endpoint.objects.get(name=name).name == name


def test_the_database_refuses_a_second_active_firmware_update_for_one_endpoint() -> None:
    endpoint = make_endpoint()
    make_firmware_update(endpoint=endpoint, status=FirmwareUpdate.Status.DOWNLOADING)
    with pytest.raises(IntegrityError), transaction.atomic():
        # bulk_create skips Python-side validation: this is the database's own constraint speaking.
        FirmwareUpdate.objects.bulk_create(
            [FirmwareUpdate(endpoint=endpoint, firmware=make_firmware(), status=FirmwareUpdate.Status.QUEUED)]
        )


def test_finished_updates_do_not_block_a_new_one() -> None:
    endpoint = make_endpoint()
    for status in (FirmwareUpdate.Status.SUCCEEDED, FirmwareUpdate.Status.FAILED, FirmwareUpdate.Status.CANCELLED):
        make_firmware_update(endpoint=endpoint, status=status)
    make_firmware_update(endpoint=endpoint, status=FirmwareUpdate.Status.QUEUED)
    assert FirmwareUpdate.objects.filter(endpoint=endpoint).count() == 4


def test_two_devices_may_each_have_an_active_update() -> None:
    make_firmware_update(status=FirmwareUpdate.Status.UPDATING)
    make_firmware_update(status=FirmwareUpdate.Status.UPDATING)
    assert FirmwareUpdate.objects.filter(status=FirmwareUpdate.Status.UPDATING).count() == 2


@pytest.mark.parametrize(
    ("data_type", "value"),
    [
        (DataType.INTEGER, INT64_MIN),
        (DataType.INTEGER, INT64_MAX),
        (DataType.INTEGER, 0),
        (DataType.UNSIGNED_INTEGER, UINT64_MAX),
        (DataType.UNSIGNED_INTEGER, 2**63),
        (DataType.UNSIGNED_INTEGER, 2**63 - 1),
        (DataType.FLOAT, 0.1),
        (DataType.FLOAT, -1.7976931348623157e308),
        (DataType.BOOLEAN, True),
        (DataType.TIME, 1764336000000),
        (DataType.STRING, "Grüße 🌡"),
        (DataType.OBJLNK, ObjectLink(3, 0)),
        (DataType.CORELINK, "</3/0>,</4/0>"),
        (DataType.OPAQUE, bytes(range(256))),
        (DataType.OPAQUE, b"\x00\x00"),
        (DataType.OPAQUE, b""),
    ],
)
def test_values_round_trip_exactly_through_the_database(data_type: DataType, value: object) -> None:
    resource_type = make_resource_type(data_type=data_type.value)
    stored = make_resource(endpoint=make_endpoint(), resource_type=resource_type, value=value)
    loaded = Resource.objects.select_related("resource_type").get(pk=stored.pk)
    assert loaded.value == value
    assert type(loaded.value) is type(value)


def test_object_and_resource_instance_ids_are_kept() -> None:
    endpoint = make_endpoint()
    temperature = ResourceType.objects.get(slug="temperature")
    make_resource(endpoint=endpoint, resource_type=temperature, value=20.0, object_instance_id=0)
    make_resource(endpoint=endpoint, resource_type=temperature, value=30.0, object_instance_id=1)
    voltage = ResourceType.objects.get(object_id=3, resource_id=7)
    make_resource(endpoint=endpoint, resource_type=voltage, value=3300, resource_instance_id=1)
    paths = sorted(r.path for r in Resource.objects.select_related("resource_type"))
    assert paths == ["/3/0/7/1", "/3303/0/5700", "/3303/1/5700"]


def test_deleting_an_endpoint_never_takes_its_telemetry_with_it() -> None:
    endpoint = make_endpoint()
    make_resource(endpoint=endpoint, resource_type=ResourceType.objects.get(slug="temperature"), value=1.0)
    with pytest.raises(ProtectedError):
        endpoint.delete()
    assert Resource.objects.count() == 1


def test_deleting_a_resource_type_in_use_is_refused() -> None:
    resource_type = make_resource_type()
    make_resource(endpoint=make_endpoint(), resource_type=resource_type, value=1.0)
    with pytest.raises(ProtectedError):
        resource_type.delete()


def test_deleting_an_endpoint_with_events_or_operations_is_refused() -> None:
    endpoint = make_endpoint()
    EndpointOperation.objects.create(endpoint=endpoint, kind="READ", path="/3/0/9")
    with pytest.raises(ProtectedError):
        endpoint.delete()


def test_an_event_links_its_resources_once() -> None:
    endpoint = make_endpoint()
    resource = make_resource(endpoint=endpoint, resource_type=ResourceType.objects.get(slug="temperature"), value=1.0)
    event = Event.objects.create(
        endpoint=endpoint, event_type="3303", measured_at=resource.measured_at, created_at=resource.received_at
    )
    EventResource.objects.create(event=event, resource=resource)
    with pytest.raises(IntegrityError), transaction.atomic():
        EventResource.objects.create(event=event, resource=resource)
    assert list(event.resources.all()) == [resource]


def test_endpoint_status_in_words() -> None:
    assert Endpoint(online=False).status == "offline"
    assert Endpoint(online=True, sleeping=True).status == "sleeping"
    assert Endpoint(online=True).status == "online"
