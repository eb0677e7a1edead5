"""The LwM2M object registry: loaded from the shipped DDF files, named like flownexus, idempotent."""

import json
from pathlib import Path

import pytest
from django.core.management import call_command

from core.lwm2m.ddf import MODELS_DIR, definitions
from core.lwm2m.types import DataType
from core.models import ResourceType
from core.registry import resource_types
from core.services import resource_types_load_registry
from tests.factories import make_resource_type

pytestmark = pytest.mark.django_db

FLOWNEXUS = json.loads((Path(__file__).parents[2] / "core/lwm2m/flownexus-resource-types.json").read_text())


def test_every_shipped_object_and_resource_is_loaded() -> None:
    object_files = list(MODELS_DIR.glob("*.xml"))
    assert len(object_files) == 111
    assert ResourceType.objects.count() == 1038 + 3
    loaded_objects = set(ResourceType.objects.values_list("object_id", flat=True))
    assert {0, 1, 2, 3, 4, 5, 6, 7, 9, 3200, 3303, 3399, 10240} <= loaded_objects
    assert len(loaded_objects) == 112


def test_the_ddf_facts_are_kept() -> None:
    battery = ResourceType.objects.get(object_id=3, resource_id=9)
    assert (battery.object_name, battery.name, battery.data_type) == ("Device", "Battery Level", "INTEGER")
    assert (battery.operations, battery.units, battery.range_enumeration) == ("R", "/100", "0..100")
    voltage = ResourceType.objects.get(object_id=3, resource_id=7)
    assert voltage.multiple
    reboot = ResourceType.objects.get(object_id=3, resource_id=4)
    assert (reboot.data_type, reboot.operations, reboot.executable) == ("NONE", "E", True)
    package_uri = ResourceType.objects.get(object_id=5, resource_id=1)
    assert (package_uri.data_type, package_uri.writable) == ("STRING", True)
    assert ResourceType.objects.get(object_id=3, resource_id=22).data_type == "OBJLNK"
    assert ResourceType.objects.filter(data_type="UNSIGNED_INTEGER").exists()
    assert ResourceType.objects.filter(data_type="CORELINK").exists()


@pytest.mark.parametrize("row", FLOWNEXUS, ids=lambda row: row["fields"]["name"])
def test_the_flownexus_names_resolve_to_the_same_ids(row: dict) -> None:
    fields = row["fields"]
    resource_type = ResourceType.objects.get(slug=fields["name"])
    assert (resource_type.object_id, resource_type.resource_id) == (fields["object_id"], fields["resource_id"])


def test_registration_object_10240_is_defined() -> None:
    rows = ResourceType.objects.filter(object_id=10240).order_by("resource_id")
    assert [(r.resource_id, r.slug, r.data_type) for r in rows] == [
        (0, "ep_registered", "TIME"),
        (1, "ep_unregistered", "TIME"),
        (2, "ep_registration_update", "TIME"),
    ]


def test_other_resources_get_object_and_resource_names() -> None:
    assert ResourceType.objects.get(object_id=3303, resource_id=5601).slug == "temperature_min_measured_value"
    # Two IPSO objects are both called "Location": the colliding names carry their ids.
    assert ResourceType.objects.get(object_id=6, resource_id=4).slug == "location_velocity_6_4"
    assert len({d.slug for d in definitions()}) == len(definitions())


def test_loading_again_changes_nothing() -> None:
    before = {rt.pk: rt.updated_at for rt in ResourceType.objects.all()}
    result = resource_types_load_registry()
    assert (result.created, result.updated, result.unchanged) == (0, 0, 1041)
    assert {rt.pk: rt.updated_at for rt in ResourceType.objects.all()} == before


def test_loading_repairs_an_edited_definition() -> None:
    ResourceType.objects.filter(slug="temperature").update(units="K", data_type="STRING")
    result = resource_types_load_registry()
    assert (result.created, result.updated) == (0, 1)
    temperature = ResourceType.objects.get(slug="temperature")
    assert (temperature.units, temperature.data_type) == ("", "FLOAT")


def test_loading_takes_over_a_type_first_seen_in_a_payload() -> None:
    ResourceType.objects.filter(object_id=3303, resource_id=5700).delete()
    make_resource_type(object_id=3303, resource_id=5700, slug="3303_5700", defined=False, object_name="Object 3303")
    resource_types_load_registry()
    taken_over = ResourceType.objects.get(object_id=3303, resource_id=5700)
    assert (taken_over.slug, taken_over.defined, taken_over.object_name) == ("temperature", True, "Temperature")


def test_a_payload_type_holding_a_needed_name_is_renamed() -> None:
    ResourceType.objects.filter(slug="temperature").delete()
    make_resource_type(object_id=40001, resource_id=7, slug="temperature", defined=False)
    resource_types_load_registry()
    assert ResourceType.objects.get(slug="temperature").object_id == 3303
    assert ResourceType.objects.get(object_id=40001, resource_id=7).slug == "temperature_40001_7"


def test_the_command_reports_what_it_did(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("load_registry")
    assert "0 created, 0 updated, 1041 unchanged" in capsys.readouterr().out


def test_the_cache_resolves_ids_and_sees_types_created_elsewhere() -> None:
    found = resource_types.get_many([(3303, 5700), (3, 0), (999, 999)])
    assert found[(3303, 5700)].slug == "temperature"
    assert (999, 999) not in found
    make_resource_type(object_id=999, resource_id=999, slug="late")
    assert resource_types.get_many([(999, 999)])[(999, 999)].slug == "late"


def test_the_cache_is_cleared_when_the_registry_changes(django_capture_on_commit_callbacks) -> None:
    resource_types.get_many([(3303, 5700)])
    ResourceType.objects.filter(slug="temperature").update(units="K")
    with django_capture_on_commit_callbacks(execute=True):
        resource_types_load_registry()
    assert resource_types.get_many([(3303, 5700)])[(3303, 5700)].units == ""


def test_ddf_types_map_to_lwm2m_types() -> None:
    assert {d.data_type for d in definitions()} == set(DataType)
