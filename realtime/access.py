"""Whether an open socket may stay open: its session must still allow what it allowed at the handshake.

A socket is authorised once, at the handshake, from the session cookie; the session can end afterwards --
logout, expiry, the user deactivated, a new password (which changes the session auth hash Django keeps in
every session), a lower role -- by any path, the users page, the Django admin, ``manage.py changepassword``
or a plain ``save()``. So open sockets are checked again, periodically and when told to
(realtime.sockets), by the rule ``django.contrib.auth.get_user`` applies to each request: the session
exists and has not expired, names the same user and a configured backend, carries the user's current
session auth hash, the user is active; and the user still holds the socket's role where the socket needs it.

Where: a fleet page's socket was let in with the user's scope for its role (every device, or some sites:
``core.permissions.scope_of``) and joined that scope's groups (realtime.groups). A user who no longer holds
the role anywhere loses the socket (4403). A user whose set of sites changed (a site role given, removed or
lowered below the socket's role, a global role given or taken while a site role remains) has the socket
closed with 4409: the page reloads (fieldhub.js) and is let in again with its new scope, so it shows exactly
what the user may now see (a socket cannot leave the page's rows it showed already). A device's socket
stays open while the user holds the role on the device's site as it is now (a device moved to a site the
user has no role on: 4403, as for a role removed).

``sockets_refused`` reads every session, user (with their groups and site roles) and device of a device
socket at once, so one check of all of a process's sockets costs five queries (with the database session
backend), however many sockets there are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from core.permissions import Scope, scope_of
from core.roles import Role
from realtime.groups import CLOSE_FORBIDDEN, CLOSE_NOT_AUTHENTICATED, CLOSE_SCOPE_CHANGED

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


@dataclass(frozen=True)
class SocketAccess:
    """What a socket was let in with: its session, its user, the role the socket needs, and where: a fleet
    socket's sites (None: everywhere, a global role), or the device of a device's socket."""

    session_key: str
    user_id: int
    role: Role
    sites: frozenset[int] | None = None
    endpoint_id: int | None = None

    @property
    def session_digest(self) -> str:
        return session_digest(self.session_key)


def session_digest(session_key: str) -> str:
    """Names a session in messages through the channel layer without handing out the key itself."""
    return hashlib.sha256(session_key.encode()).hexdigest()


def scope_user(scope: Mapping[str, Any]) -> User | AnonymousUser | None:
    """The user AuthMiddlewareStack put in the scope (the user model's instance or AnonymousUser, behind a
    lazy proxy), or None without that middleware."""
    user: User | AnonymousUser | None = scope.get("user")
    return user


def socket_access(*, scope: Mapping[str, Any], role: Role) -> SocketAccess | None:
    """The access of a socket whose handshake was authenticated (AuthMiddlewareStack), else None; where it
    applies (``sites``, ``endpoint_id``) the consumer sets once it knows (``FragmentConsumer.groups_for``)."""
    user, session = scope.get("user"), scope.get("session")
    if user is None or not user.is_authenticated or session is None or not session.session_key:
        return None
    return SocketAccess(session_key=session.session_key, user_id=user.pk, role=role)


def sites_of(scope: Scope) -> frozenset[int] | None:
    """A scope as ``SocketAccess.sites`` keeps it: None for everywhere."""
    return None if scope.everywhere else scope.site_ids


def sockets_refused(*, sockets: Collection[SocketAccess]) -> dict[SocketAccess, int]:
    """The sockets that may no longer stay open, each with its close code (4401, 4403 or 4409)."""
    if not sockets:
        return {}
    sessions = _live_sessions({socket.session_key for socket in sockets})
    user_model = get_user_model()
    users = {
        user.pk: user
        for user in user_model.objects.filter(pk__in={socket.user_id for socket in sockets}).prefetch_related(
            "groups", "site_roles"
        )
    }
    device_sites = _device_sites({socket.endpoint_id for socket in sockets if socket.endpoint_id is not None})
    refused = {}
    for socket in sockets:
        code = _verdict(socket, sessions.get(socket.session_key), users.get(socket.user_id))
        if not code:
            code = _where_verdict(socket, users[socket.user_id], device_sites)
        if code:
            refused[socket] = code
    return refused


def _device_sites(endpoint_ids: set[int]) -> dict[int, int | None]:
    """The site of each of these devices now (none for a device gone: its socket hears nothing more)."""
    if not endpoint_ids:
        return {}
    from core.models import Endpoint

    return dict(Endpoint.objects.filter(pk__in=endpoint_ids).values_list("pk", "site_id"))


def _where_verdict(socket: SocketAccess, user: User, device_sites: dict[int, int | None]) -> int:
    """Does the user still hold the socket's role where the socket needs it (see the module's doc)?"""
    scope = scope_of(user, socket.role)
    if not scope:
        return CLOSE_FORBIDDEN
    if socket.endpoint_id is not None:
        if socket.endpoint_id in device_sites and not scope.includes(device_sites[socket.endpoint_id]):
            return CLOSE_FORBIDDEN
        return 0
    return CLOSE_SCOPE_CHANGED if sites_of(scope) != socket.sites else 0


def _verdict(socket: SocketAccess, session: dict[str, Any] | None, user: User | None) -> int:
    if not session or user is None or not user.is_active:
        return CLOSE_NOT_AUTHENTICATED
    try:
        session_user = get_user_model()._meta.pk.to_python(session.get(SESSION_KEY))
    except Exception:  # a session naming no valid user is no session
        return CLOSE_NOT_AUTHENTICATED
    if session_user != socket.user_id or session.get(BACKEND_SESSION_KEY) not in settings.AUTHENTICATION_BACKENDS:
        return CLOSE_NOT_AUTHENTICATED
    if not _hash_matches(session.get(HASH_SESSION_KEY), user):
        return CLOSE_NOT_AUTHENTICATED
    return 0


def _hash_matches(session_hash: str | None, user: User) -> bool:
    """As django.contrib.auth.get_user: the current hash, or one made with a SECRET_KEY_FALLBACKS key."""
    if not session_hash:
        return False
    if constant_time_compare(session_hash, user.get_session_auth_hash()):
        return True
    return any(constant_time_compare(session_hash, other) for other in user.get_session_auth_fallback_hash())


def _live_sessions(keys: set[str]) -> dict[str, dict[str, Any]]:
    """The data of each session that exists and has not expired (keyed by session key)."""
    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    if issubclass(store_class, DatabaseSessionStore):  # db and cached_db: the table is the truth, one query
        store = store_class()
        rows = store_class.get_model_class().objects.filter(session_key__in=keys, expire_date__gt=timezone.now())
        return {key: store.decode(data) for key, data in rows.values_list("session_key", "session_data")}
    return {key: data for key in keys if (data := store_class(session_key=key).load())}
