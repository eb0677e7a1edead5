"""Who may do what: the one place roles are checked. Services and selectors call ``require``."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from core.errors import PermissionDenied
from core.roles import Role

_ROLE_NAMES = {role.value: role for role in Role}
_ROLE_CACHE = "_fieldhub_role"  # the attribute of a user object that keeps its role once looked up


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
    """May ``actor`` change ``user``'s account (role, active, password)? Admins may, but a superuser's only
    a superuser: superusers are above the admin role."""
    if actor is SYSTEM:
        return False
    return has_role(actor, Role.ADMIN) and (not user.is_superuser or actor.is_superuser)
