"""Writes to the device registry: the LwM2M object registry, roles, the first admin, API tokens, login throttling."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from core.errors import Conflict, FieldhubError, LockedOut, PermissionDenied
from core.http import client_address
from core.lwm2m.ddf import definitions
from core.models import ApiToken, LoginThrottle, ResourceType, Site, SiteRole
from core.permissions import Principal, forget_roles, may_manage_account, require, require_on, require_scope
from core.registry import resource_types
from core.roles import Role
from core.signals import user_access_changed


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


def user_create_first_admin(*, username: str) -> tuple[User, str] | None:
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


def token_create(*, actor: Principal, user: User, name: str) -> tuple[ApiToken, str]:
    """A new token for ``user`` (the actor's own, or any user's for an admin); returns it and its secret,
    which is never stored and cannot be shown again."""
    if actor.pk != user.pk:
        require(actor, Role.ADMIN)
    else:
        require_scope(actor, Role.VIEWER)
    name = name.strip()
    if not name:
        raise FieldhubError("a token needs a name", path="name")
    if len(name) > 100:
        raise FieldhubError("a token name has at most 100 characters", path="name")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, key_hash=token_hash(secret), prefix=secret[:10])
    return token, secret


def token_revoke(*, actor: Principal, token: ApiToken) -> ApiToken:
    """Revoke a token: its owner may, and an admin may revoke anyone's. Revoking twice changes nothing."""
    if token.user_id != actor.pk:
        require(actor, Role.ADMIN)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def token_authenticate(secret: str) -> User | None:
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


# --- users (the users page, admins only) -------------------------------------------------------------------

USERNAME_RE = r"^[\w.@+-]{1,150}$"


def user_create(*, actor: Principal, username: str, role: str, site: Site | None = None) -> tuple[User, str]:
    """A new user with a random password, returned once, and a role: global (global admins), or on ``site``
    only (global admins and that site's admins)."""
    if site is None:
        require(actor, Role.ADMIN)
    else:
        require_on(actor, Role.ADMIN, site.pk, what=f"site {site.name!r}")
    username = (username or "").strip()
    if not re.fullmatch(USERNAME_RE, username):
        raise FieldhubError("a user name is 1 to 150 letters, digits and @ . + - _", path="username")
    chosen = _role(role)
    user_model = get_user_model()
    if user_model.objects.filter(username__iexact=username).exists():
        raise Conflict(f"a user named {username!r} exists already", path="username")
    password = secrets.token_urlsafe(12)
    with transaction.atomic():
        user = user_model.objects.create_user(username=username, password=password)
        if site is None:
            _assign(user, chosen)
        else:
            SiteRole.objects.create(user=user, site=site, role=chosen.value)
    return user, password


NO_ROLE = "none"  # user_set_role: no global role (the user's site roles only)


def user_set_site_role(*, actor: Principal, user: User, site: Site, role: str | None) -> SiteRole | None:
    """Give ``user`` ``role`` on ``site`` (replacing the one they had there), or take it (``role`` None or
    "none"): global admins, and that site's admins; not on themselves, nor on a superuser (an admin
    everywhere). After the commit the user's open sockets check their access again (realtime.access: a role
    removed or lowered closes them, a fleet page whose set of sites changed reloads)."""
    require_on(actor, Role.ADMIN, site.pk, what=f"site {site.name!r}")
    chosen = None if role is None or role == NO_ROLE else _role(role)
    if user.pk == actor.pk:
        raise FieldhubError("you cannot change your own role", path="role")
    if user.is_superuser:
        raise FieldhubError(f"{user.get_username()} is a superuser: an admin everywhere", path="role")
    with transaction.atomic():
        held = None
        if chosen is None:
            SiteRole.objects.filter(user=user, site=site).delete()
        else:
            held, _ = SiteRole.objects.update_or_create(user=user, site=site, defaults={"role": chosen.value})
        forget_roles(user)
        _access_changed(user)
    return held


def user_set_role(*, actor: Principal, user: User, role: str) -> User:
    """Set the user's global role, or take it (``role`` "none": their site roles remain): global admins."""
    require(actor, Role.ADMIN)
    chosen = None if role == NO_ROLE else _role(role)
    if user.pk == actor.pk:
        raise FieldhubError("you cannot change your own role", path="role")
    _require_may_manage(actor, user, "change the role of")
    if user.is_superuser:
        raise FieldhubError(
            f"{user.get_username()} is a superuser: always an admin (change it in the admin)", path="role"
        )
    with transaction.atomic():
        if chosen != Role.ADMIN:
            keep_an_administrator(user, "demoted")
        _assign(user, chosen)
        forget_roles(user)
        _access_changed(user)
    return user


def user_set_active(*, actor: Principal, user: User, active: bool) -> User:
    """Deactivate (the user can no longer log in, their tokens stop working, their open sockets close) or
    reactivate a user: global admins, and site admins for the users of their sites (``may_manage_account``)."""
    require_scope(actor, Role.ADMIN)
    if user.pk == actor.pk and not active:
        raise FieldhubError("you cannot deactivate yourself", path="active")
    _require_may_manage(actor, user, "deactivate" if not active else "activate")
    with transaction.atomic():
        if not active:
            keep_an_administrator(user, "deactivated")
        user.is_active = active
        user.save(update_fields=["is_active"])
        _access_changed(user)
    return user


def user_reset_password(*, actor: Principal, user: User) -> str:
    """A new random password for ``user``, returned once; the user's sessions (and open sockets) end. Global
    admins, and site admins for the users of their sites (``may_manage_account``)."""
    require_scope(actor, Role.ADMIN)
    _require_may_manage(actor, user, "reset the password of")
    password = secrets.token_urlsafe(12)
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        _access_changed(user)
    return password


def _require_may_manage(actor: Principal, user: User, what: str) -> None:
    if not may_manage_account(actor, user):
        if user.is_superuser:
            raise PermissionDenied(f"only a superuser may {what} a superuser ({user.get_username()})")
        raise PermissionDenied(
            f"only a global admin may {what} {user.get_username()}: a site admin manages the accounts of "
            "users whose roles are all on sites they administer"
        )


def keep_an_administrator(user: User, what: str) -> None:
    """Refuse (409) to leave no active administrator (the admin role or a superuser). The active
    administrators are locked first, in one order, so that two admins removing each other at once cannot
    both succeed: the second sees the first's change and is refused."""
    administrators = set(
        get_user_model()
        .objects.select_for_update(of=("self",))
        .filter(Q(is_superuser=True) | Q(groups__name=Role.ADMIN.value), is_active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if user.pk in administrators and not administrators - {user.pk}:
        raise Conflict(
            f"{user.get_username()} is the last active administrator and cannot be {what}: "
            "make another user an admin first",
            path="user",
        )


def _access_changed(user: User) -> None:
    """After the commit, the user's open sockets check their access again (realtime)."""
    user_id = user.pk
    transaction.on_commit(lambda: user_access_changed.send(sender=type(user), user_id=user_id))


def _role(name: str) -> Role:
    try:
        return Role(name)
    except ValueError:
        raise FieldhubError("role is viewer, operator or admin", path="role") from None


def _assign(user: User, role: Role | None) -> None:
    user.groups.remove(*Group.objects.filter(name__in=[r.value for r in Role]))
    if role is not None:
        user.groups.add(Group.objects.get_or_create(name=role.value)[0])
    user.is_staff = role == Role.ADMIN  # global admins may use the Django admin
    user.save(update_fields=["is_staff"])


# --- login throttling --------------------------------------------------------------------------------------


def login_authenticate(*, request: HttpRequest, username: str, password: str) -> User | None:
    """The user these credentials belong to, or None; every password login (the login page, the admin's)
    goes through here.

    Raises LockedOut (429) while the user name has LOGIN_FAILURE_LIMIT recent failures, or the client
    address LOGIN_ADDRESS_FAILURE_LIMIT, without checking the password; and when this failure reaches a
    limit. A successful login forgets the user name's failures (not the address's: an attacker with an
    account of their own could otherwise clear them between guesses)."""
    now = timezone.now()
    user_key = _login_user_key(username)
    limits = {user_key: settings.LOGIN_FAILURE_LIMIT}
    address = str(client_address(request) or "")
    if settings.LOGIN_ADDRESS_FAILURE_LIMIT and address:
        limits[f"address:{address}"] = settings.LOGIN_ADDRESS_FAILURE_LIMIT
    _refuse_if_locked(LoginThrottle.objects.filter(key__in=limits, locked_until__gt=now), now)

    user = authenticate(request, username=username, password=password)
    if user is not None:
        LoginThrottle.objects.filter(key=user_key).delete()
        return user
    window = dt.timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)
    with transaction.atomic():
        LoginThrottle.objects.filter(last_failure_at__lt=now - window, locked_until__isnull=True).delete()
        LoginThrottle.objects.filter(locked_until__lte=now).delete()
        LoginThrottle.objects.bulk_create([LoginThrottle(key=key) for key in limits], ignore_conflicts=True)
        rows = list(LoginThrottle.objects.select_for_update().filter(key__in=limits).order_by("key"))
        for row in rows:
            row.failures += 1
            row.last_failure_at = now
            if row.failures >= limits[row.key]:
                row.locked_until = now + window
        LoginThrottle.objects.bulk_update(rows, ["failures", "last_failure_at", "locked_until"])
    _refuse_if_locked([row for row in rows if row.locked_until is not None], now)
    return None


def _login_user_key(username: str) -> str:
    # Case-folded: ALICE and alice are one name to count (user names are unique regardless of case).
    return f"user:{username.strip().casefold()[:180]}"


def _refuse_if_locked(rows: Iterable[LoginThrottle], now: dt.datetime) -> None:
    until = max((row.locked_until for row in rows if row.locked_until is not None), default=None)
    if until is None:
        return
    minutes = max(1, math.ceil((until - now).total_seconds() / 60))
    raise LockedOut(
        f"Too many failed logins: logging in is locked for {minutes} minute{'s' if minutes != 1 else ''}. "
        "Try again later, or ask an administrator to reset your password.",
        until=until,
    )
