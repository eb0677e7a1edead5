"""Who may do what: the one place roles are checked. Services and selectors call ``require`` (a global
role: users, tokens, resource types, firmware images, sites), ``require_scope`` (the sites where the user
holds a role, to filter what they read) or ``require_on`` (a role on one device's site, to write there).

A user's role is global (a group: every device, devices in no site included) or per site (``SiteRole``);
on a site a user holds the higher of the two. Both are looked up once per user object and kept on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias, TypeVar

from django.db.models import Model, QuerySet

from core.errors import PermissionDenied
from core.roles import Role

_ROLE_NAMES = {role.value: role for role in Role}
_ROLE_CACHE = "_fieldhub_role"  # the attribute of a user object that keeps its role once looked up
_SITE_ROLES_CACHE = "_fieldhub_site_roles"  # ... and its roles per site


class SystemPrincipal:
    """Fieldhub acting on its own account (the dispatcher, the hooks, fragments rendered for a group whose
    members were checked when they joined): the one way to read or write without a user. ``require``
    accepts it for every role; it is never a request's user and manages no account."""

    is_authenticated = True
    is_active = True
    is_superuser = False
    pk = None
    username = "system"

    def __repr__(self) -> str:
        return "SYSTEM"

    def get_username(self) -> str:
        return self.username


SYSTEM = SystemPrincipal()

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

# Who reads or writes: a request's user (the user model, or anonymous), or SYSTEM.
Principal: TypeAlias = "User | AnonymousUser | SystemPrincipal"


def author_of(actor: Principal | None) -> User | None:
    """Whom a row records as having made it (``created_by``): the user, or None for SYSTEM."""
    from django.contrib.auth import get_user_model

    return actor if isinstance(actor, get_user_model()) else None


def role_of(user: Principal | None) -> Role | None:
    """The user's highest role; superusers are admins; SYSTEM holds every role; inactive or anonymous users
    have none."""
    if isinstance(user, SystemPrincipal):
        return Role.ADMIN
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.is_superuser:
        return Role.ADMIN
    cached = getattr(user, _ROLE_CACHE, False)  # False: not looked up yet; None: no role
    if cached is None or isinstance(cached, Role):
        return cached
    # .all(): a query, or none where the groups were prefetched (the users page, realtime.access)
    names = {group.name for group in user.groups.all() if group.name in _ROLE_NAMES}
    role = max((_ROLE_NAMES[name] for name in names), key=lambda r: r.rank, default=None)
    setattr(user, _ROLE_CACHE, role)
    return role


def has_role(user: Principal | None, role: Role) -> bool:
    held = role_of(user)
    return held is not None and held.rank >= role.rank


def require(user: Principal | None, role: Role) -> None:
    """Raise PermissionDenied (403) unless ``user`` holds ``role`` or a higher one."""
    if not has_role(user, role):
        raise PermissionDenied(f"this needs the {role.value} role")


def may_manage_account(actor: Principal, user: User) -> bool:
    """May ``actor`` change ``user``'s account (active, password)? Global admins may, but a superuser's only
    a superuser: superusers are above the admin role. A site admin may for a user of their sites only: one
    with no global role whose every site role is on a site the actor administers."""
    if actor is SYSTEM:
        return False
    if has_role(actor, Role.ADMIN):
        return not user.is_superuser or bool(actor.is_superuser)
    if user.is_superuser or stored_role(user) is not None:
        return False
    theirs = {held.site_id for held in user.site_roles.all()}
    return bool(theirs) and theirs <= scope_of(actor, Role.ADMIN).site_ids


def stored_role(user: User) -> Role | None:
    """The account's global role as stored, active or not (``role_of`` counts none for an inactive user):
    what the users page shows. Superusers are admins. No query where the groups were prefetched."""
    if user.is_superuser:
        return Role.ADMIN
    names = {group.name for group in user.groups.all() if group.name in _ROLE_NAMES}
    return max((_ROLE_NAMES[name] for name in names), key=lambda r: r.rank, default=None)


def site_roles_of(user: Principal | None) -> dict[int, Role]:
    """The user's roles per site (site id -> role), not counting the global role: none for SYSTEM (which
    holds every role everywhere), anonymous or inactive users. One query per user object, or none where
    ``site_roles`` was prefetched."""
    if isinstance(user, SystemPrincipal) or user is None:
        return {}
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return {}
    cached: dict[int, Role] | None = getattr(user, _SITE_ROLES_CACHE, None)
    if cached is None:
        cached = {held.site_id: _ROLE_NAMES[held.role] for held in user.site_roles.all() if held.role in _ROLE_NAMES}
        setattr(user, _SITE_ROLES_CACHE, cached)
    return cached


def forget_roles(user: Principal) -> None:
    """Drop the roles kept on this user object (after changing them), so that the next check looks again."""
    for name in (_ROLE_CACHE, _SITE_ROLES_CACHE):
        if hasattr(user, name):
            delattr(user, name)


M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Scope:
    """Where a user holds a role: everywhere (a global role), or on these sites only (never on devices in
    no site). False when nowhere."""

    everywhere: bool
    site_ids: frozenset[int] = field(default_factory=frozenset)

    def __bool__(self) -> bool:
        return self.everywhere or bool(self.site_ids)

    def includes(self, site_id: int | None) -> bool:
        return self.everywhere or (site_id is not None and site_id in self.site_ids)

    def filter(self, queryset: QuerySet[M], site_field: str = "site") -> QuerySet[M]:
        """``queryset`` narrowed to the rows whose ``site_field`` (a foreign key to Site, through joins as
        ``endpoint__site``) is one of the scope's sites; unchanged for a global scope."""
        if self.everywhere:
            return queryset
        return queryset.filter(**{f"{site_field}__in": sorted(self.site_ids)})


EVERYWHERE = Scope(everywhere=True)
NOWHERE = Scope(everywhere=False)


def scope_of(user: Principal | None, role: Role) -> Scope:
    """The sites where ``user`` holds ``role`` or a higher one: everywhere with that role globally."""
    if has_role(user, role):
        return EVERYWHERE
    sites = frozenset(site for site, held in site_roles_of(user).items() if held.rank >= role.rank)
    return Scope(everywhere=False, site_ids=sites) if sites else NOWHERE


def require_scope(user: Principal | None, role: Role) -> Scope:
    """The user's scope for ``role`` (``scope_of``); 403 when they hold it nowhere."""
    scope = scope_of(user, role)
    if not scope:
        raise PermissionDenied(f"this needs the {role.value} role")
    return scope


def highest_role(user: Principal | None) -> Role | None:
    """The highest role the user holds anywhere (globally or on some site): what the pages offer them."""
    held = [role for role in (role_of(user), *site_roles_of(user).values()) if role is not None]
    return max(held, key=lambda r: r.rank, default=None)


def has_role_on(user: Principal | None, role: Role, site_id: int | None) -> bool:
    """Does ``user`` hold ``role`` on the site ``site_id`` (None: a device in no site, global roles only)?"""
    return scope_of(user, role).includes(site_id)


def require_on(user: Principal | None, role: Role, site_id: int | None, *, what: str = "this device") -> None:
    """403 unless ``user`` holds ``role`` globally or on the site ``site_id`` (of ``what``)."""
    scope = scope_of(user, role)
    if not scope:
        raise PermissionDenied(f"this needs the {role.value} role")
    if not scope.includes(site_id):
        where = "on its site" if site_id is not None else "globally (it is in no site)"
        raise PermissionDenied(f"{what} needs the {role.value} role {where}")
