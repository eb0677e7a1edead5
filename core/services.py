"""Writes to the device registry: loading the LwM2M object registry, roles, the first admin."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.db import transaction
from django.utils import timezone

from core.lwm2m.ddf import definitions
from core.models import ResourceType
from core.registry import resource_types
from core.roles import Role


@dataclass(frozen=True)
class RegistryLoadResult:
    created: int
    updated: int
    unchanged: int


# ResourceType fields that the shipped registry defines (everything but the ids and bookkeeping).
_DEFINED_FIELDS = (
    "object_name",
    "name",
    "slug",
    "data_type",
    "units",
    "operations",
    "multiple",
    "mandatory",
    "range_enumeration",
    "description",
    "defined",
)


def resource_types_load_registry() -> RegistryLoadResult:
    """Create or update one ResourceType per resource of the shipped registry; running it again changes nothing.

    A type first registered from a payload (``defined=False``) is taken over by the definition.
    """
    wanted = {}
    for definition in definitions():
        fields = asdict(definition)
        fields["data_type"] = str(definition.data_type)
        fields["defined"] = True
        wanted[(definition.object_id, definition.resource_id)] = {k: fields[k] for k in _DEFINED_FIELDS}

    created = updated = 0
    now = timezone.now()
    with transaction.atomic():
        existing = {(rt.object_id, rt.resource_id): rt for rt in ResourceType.objects.select_for_update()}
        wanted_slugs = {fields["slug"] for fields in wanted.values()}
        to_create, to_update = [], []
        for key, fields in wanted.items():
            current = existing.get(key)
            if current is None:
                to_create.append(ResourceType(object_id=key[0], resource_id=key[1], **fields))
            elif any(getattr(current, name) != value for name, value in fields.items()):
                for name, value in fields.items():
                    setattr(current, name, value)
                current.updated_at = now
                to_update.append(current)
        # A payload-registered type elsewhere may hold a slug the registry now needs: rename it first.
        for key, current in existing.items():
            if key not in wanted and current.slug in wanted_slugs:
                current.slug = f"{current.slug}_{key[0]}_{key[1]}"
                current.save(update_fields=["slug", "updated_at"])
        if to_update:
            # Two passes so that swapped slugs never collide with the unique constraint mid-update.
            for rt in to_update:
                ResourceType.objects.filter(pk=rt.pk).update(slug=f"~{rt.pk}")
            ResourceType.objects.bulk_update(to_update, [*_DEFINED_FIELDS, "updated_at"], batch_size=500)
            updated = len(to_update)
        if to_create:
            ResourceType.objects.bulk_create(to_create, batch_size=500)
            created = len(to_create)
        transaction.on_commit(resource_types.clear)
    return RegistryLoadResult(created=created, updated=updated, unchanged=len(wanted) - created - updated)


def roles_ensure() -> None:
    """The three role groups exist (viewer, operator, admin)."""
    for role in Role:
        Group.objects.get_or_create(name=role.value)


def user_create_first_admin(*, username: str) -> tuple[AbstractUser, str] | None:
    """Create the first administrator with a random password, returned once; None if a superuser exists."""
    user_model = get_user_model()
    with transaction.atomic():
        if user_model.objects.filter(is_superuser=True).exists():
            return None
        password = secrets.token_urlsafe(15)
        user = user_model.objects.create_superuser(username=username, email="", password=password)
        user.groups.add(Group.objects.get_or_create(name=Role.ADMIN.value)[0])
    return user, password


def resource_type_save(*, resource_type: ResourceType, update_fields: list[str] | None = None) -> None:
    """Save an edited resource type (admin); every process sees the change within the cache refresh time."""
    with transaction.atomic():
        resource_type.save(update_fields=update_fields)
        transaction.on_commit(resource_types.clear)
