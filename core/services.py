"""Writes to the device registry: the LwM2M object registry, roles, the first admin, API tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.db import transaction
from django.utils import timezone

from core.errors import FieldhubError
from core.lwm2m.ddf import definitions
from core.models import ApiToken, ResourceType
from core.permissions import require
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


# --- API tokens ----------------------------------------------------------------------------------------

TOKEN_PREFIX = "fh_"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_create(*, actor: Any, user: Any, name: str) -> tuple[ApiToken, str]:
    """A new token for ``user`` (the actor's own, or any user's for an admin); returns it and its secret,
    which is never stored and cannot be shown again."""
    if actor.pk != user.pk:
        require(actor, Role.ADMIN)
    else:
        require(actor, Role.VIEWER)
    name = name.strip()
    if not name:
        raise FieldhubError("a token needs a name", path="name")
    if len(name) > 100:
        raise FieldhubError("a token name has at most 100 characters", path="name")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, key_hash=token_hash(secret), prefix=secret[:10])
    return token, secret


def token_revoke(*, actor: Any, token: ApiToken) -> ApiToken:
    """Revoke a token: its owner may, and an admin may revoke anyone's. Revoking twice changes nothing."""
    if token.user_id != actor.pk:
        require(actor, Role.ADMIN)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def token_authenticate(secret: str) -> Any | None:
    """The active user a token belongs to, or None; its last-used time is kept to the minute."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 100:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=token_hash(secret), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > TOKEN_LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


TOKEN_LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
