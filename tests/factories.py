"""Rows for tests, with defaults that make a valid object; pass keyword arguments to change a field."""

from __future__ import annotations

import hashlib
import itertools
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.utils import timezone

from core.models import Endpoint, ResourceType
from core.roles import Role
from firmware.models import Firmware, FirmwareUpdate
from telemetry.models import Resource

_numbers = itertools.count(1)


def make_endpoint(**fields: Any) -> Endpoint:
    fields.setdefault("name", f"urn:imei:35000000000{next(_numbers):04d}")
    return Endpoint.objects.create(**fields)


def make_resource_type(**fields: Any) -> ResourceType:
    number = next(_numbers)
    fields.setdefault("object_id", 30000 + number)
    fields.setdefault("resource_id", 1)
    fields.setdefault("object_name", "Test Object")
    fields.setdefault("name", "Test Resource")
    fields.setdefault("slug", f"test_{fields['object_id']}_{fields['resource_id']}")
    fields.setdefault("data_type", "FLOAT")
    fields.setdefault("operations", "R")
    return ResourceType.objects.create(**fields)


def make_resource(*, endpoint: Endpoint, resource_type: ResourceType, value: Any, **fields: Any) -> Resource:
    now = timezone.now()
    fields.setdefault("measured_at", now)
    fields.setdefault("received_at", now)
    resource = Resource(endpoint=endpoint, resource_type=resource_type, **fields)
    resource.set_value(value)
    resource.save()
    return resource


def make_user(role: Role | None = None, **fields: Any) -> Any:
    fields.setdefault("username", f"user{next(_numbers)}")
    password = fields.pop("password", "correct horse battery staple")
    user = get_user_model().objects.create_user(password=password, **fields)
    if role is not None:
        user.groups.add(Group.objects.get_or_create(name=role.value)[0])
    return user


def make_firmware(**fields: Any) -> Firmware:
    content = fields.pop("content", b"\x7fELF firmware image " + str(next(_numbers)).encode())
    fields.setdefault("version", f"1.0.{next(_numbers)}")
    firmware = Firmware(
        filename=f"{fields['version']}.bin", size=len(content), sha256=hashlib.sha256(content).hexdigest(), **fields
    )
    firmware.file.save(f"{fields['version']}.bin", ContentFile(content), save=False)
    firmware.save()
    return firmware


def make_firmware_update(**fields: Any) -> FirmwareUpdate:
    if "endpoint" not in fields:
        fields["endpoint"] = make_endpoint()
    if "firmware" not in fields:
        fields["firmware"] = make_firmware()
    return FirmwareUpdate.objects.create(**fields)
