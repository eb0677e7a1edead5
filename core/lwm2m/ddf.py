"""The LwM2M object registry as shipped: OMA DDF files, object 10240, and the flownexus resource names.

``definitions()`` returns one ``ResourceDefinition`` per resource of every object in ``models/`` (core
objects 0-7 and 9, IPSO 3200-3399; BSD-3 licensed by the Open Mobile Alliance, see ``models/LICENSE``),
plus object 10240, which the flownexus Leshan bridge uses for registration events.

Machine names (``slug``): the 35 names flownexus seeds (``flownexus-resource-types.json``: ``temperature``
for 3303/5700, ``firmware_version`` for 3/3, ...) win; every other resource is named
``<object>_<resource>`` from the DDF names (``temperature_min_measured_value``), and names that would
collide get ``_<object id>_<resource id>`` appended. Resource types first seen in a payload are named
``<object id>_<resource id>`` (see ``unknown_slug``).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from core.lwm2m.types import DataType

MODELS_DIR = Path(__file__).parent / "models"
FLOWNEXUS_NAMES = Path(__file__).parent / "flownexus-resource-types.json"

REGISTRATION_OBJECT_ID = 10240


class Registration:
    """Resource ids of object 10240 (registration events sent by the flownexus bridge)."""

    REGISTERED = 0
    UNREGISTERED = 1
    UPDATED = 2


@dataclass(frozen=True, slots=True)
class ResourceDefinition:
    object_id: int
    resource_id: int
    object_name: str
    name: str
    slug: str
    data_type: DataType
    operations: str = "R"
    units: str = ""
    multiple: bool = False
    mandatory: bool = False
    range_enumeration: str = ""
    description: str = ""


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def unknown_slug(object_id: int, resource_id: int) -> str:
    return f"{object_id}_{resource_id}"


def _text(element: ET.Element, tag: str) -> str:
    return (element.findtext(tag) or "").strip()


def _parse_ddf(path: Path) -> list[ResourceDefinition]:
    obj = ET.parse(path).getroot().find("Object")
    if obj is None:
        raise ValueError(f"{path.name}: no <Object> element")
    object_id = int(_text(obj, "ObjectID"))
    object_name = _text(obj, "Name")
    resources = obj.find("Resources")
    items = resources.findall("Item") if resources is not None else []
    return [
        ResourceDefinition(
            object_id=object_id,
            resource_id=int(item.get("ID", "")),
            object_name=object_name,
            name=_text(item, "Name"),
            slug="",
            data_type=DataType.from_ddf(item.findtext("Type")),
            operations=_text(item, "Operations").upper(),
            units=_text(item, "Units"),
            multiple=_text(item, "MultipleInstances") == "Multiple",
            mandatory=_text(item, "Mandatory") == "Mandatory",
            range_enumeration=_text(item, "RangeEnumeration"),
            description=_text(item, "Description"),
        )
        for item in items
    ]


def _registration_object() -> list[ResourceDefinition]:
    def resource(resource_id: int, name: str, slug: str, description: str) -> ResourceDefinition:
        return ResourceDefinition(
            object_id=REGISTRATION_OBJECT_ID,
            resource_id=resource_id,
            object_name="Registration",
            name=name,
            slug=slug,
            data_type=DataType.TIME,
            description=description + " Value: the registration time (epoch ms) or 1 from older bridges.",
        )

    return [
        resource(Registration.REGISTERED, "Registered", "ep_registered", "The device registered with Leshan."),
        resource(
            Registration.UNREGISTERED,
            "Unregistered",
            "ep_unregistered",
            "The device deregistered or its registration expired.",
        ),
        resource(
            Registration.UPDATED,
            "Registration Updated",
            "ep_registration_update",
            "The device sent a registration update.",
        ),
    ]


def flownexus_names() -> dict[tuple[int, int], str]:
    rows = json.loads(FLOWNEXUS_NAMES.read_text())
    return {(row["fields"]["object_id"], row["fields"]["resource_id"]): row["fields"]["name"] for row in rows}


@cache
def definitions() -> tuple[ResourceDefinition, ...]:
    """Every resource of the shipped registry, with its unique machine name, ordered by ids."""
    parsed = [d for path in sorted(MODELS_DIR.glob("*.xml")) for d in _parse_ddf(path)]
    parsed += _registration_object()
    fixed = flownexus_names()
    fixed.update({(d.object_id, d.resource_id): d.slug for d in parsed if d.slug})

    derived = {
        (d.object_id, d.resource_id): f"{slugify(d.object_name)}_{slugify(d.name)}"
        for d in parsed
        if (d.object_id, d.resource_id) not in fixed
    }
    taken = Counter(list(derived.values()) + list(fixed.values()))
    slugs = dict(fixed)
    for key, slug in derived.items():
        slugs[key] = slug if taken[slug] == 1 else f"{slug}_{key[0]}_{key[1]}"
    if len(set(slugs.values())) != len(slugs):
        raise ValueError("the shipped registry has colliding machine names")

    result = [replace(d, slug=slugs[(d.object_id, d.resource_id)]) for d in parsed]
    result.sort(key=lambda d: (d.object_id, d.resource_id))
    return tuple(result)
