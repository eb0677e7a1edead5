"""core.services.user_set_site_role: who may give or remove a role on a site, what it stores, and that the
user's open sockets are told after the commit (and only then)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from core import services
from core.errors import FieldhubError, PermissionDenied
from core.models import Site, SiteRole
from core.permissions import scope_of
from core.roles import Role
from core.signals import user_access_changed
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def sites() -> tuple[Site, Site]:
    return Site.objects.create(name="A"), Site.objects.create(name="B")


@pytest.fixture
def told() -> Iterator[list[int]]:
    """The user ids user_access_changed was sent for."""
    heard: list[int] = []

    def listener(sender: Any, user_id: int, **kwargs: Any) -> None:
        heard.append(user_id)

    user_access_changed.connect(listener, weak=False, dispatch_uid="test_site_roles")
    yield heard
    user_access_changed.disconnect(dispatch_uid="test_site_roles")


def test_a_global_admin_gives_changes_and_removes_a_role_on_a_site(
    admin_user, sites, told, django_capture_on_commit_callbacks
) -> None:
    a = sites[0]
    user = make_user()
    with django_capture_on_commit_callbacks(execute=True):
        held = services.user_set_site_role(actor=admin_user, user=user, site=a, role="operator")
    assert held is not None
    assert (held.site, held.role) == (a, "operator")
    assert told == [user.pk]
    assert scope_of(user, Role.OPERATOR).site_ids == {a.pk}  # the user object's kept roles were dropped
    with django_capture_on_commit_callbacks(execute=True):
        services.user_set_site_role(actor=admin_user, user=user, site=a, role="viewer")
    assert list(SiteRole.objects.values_list("site", "role")) == [(a.pk, "viewer")]  # replaced, not added
    with django_capture_on_commit_callbacks(execute=True):
        assert services.user_set_site_role(actor=admin_user, user=user, site=a, role=None) is None
    assert not SiteRole.objects.exists()
    assert not scope_of(user, Role.VIEWER)
    assert told == [user.pk] * 3


def test_removing_a_role_the_user_does_not_hold_is_no_error(admin_user, sites) -> None:
    assert services.user_set_site_role(actor=admin_user, user=make_user(), site=sites[0], role=None) is None


def test_a_site_admin_manages_the_roles_of_their_site_only(sites) -> None:
    a, b = sites
    site_admin = make_user()
    SiteRole.objects.create(user=site_admin, site=a, role="admin")
    user = make_user()
    services.user_set_site_role(actor=site_admin, user=user, site=a, role="viewer")
    with pytest.raises(PermissionDenied, match="admin role on its site"):
        services.user_set_site_role(actor=site_admin, user=user, site=b, role="viewer")
    assert list(SiteRole.objects.filter(user=user).values_list("site", flat=True)) == [a.pk]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
def test_below_admin_nobody_gives_roles(sites, role: Role) -> None:
    actor = make_user(role)
    SiteRole.objects.create(user=actor, site=sites[0], role="operator")
    with pytest.raises(PermissionDenied):
        services.user_set_site_role(actor=actor, user=make_user(), site=sites[0], role="viewer")
    assert SiteRole.objects.count() == 1


@pytest.mark.parametrize("role", ["", "root", "Admin", "viewer "])
def test_an_unknown_role_is_a_400_naming_the_roles(admin_user, sites, role: str) -> None:
    with pytest.raises(FieldhubError, match="viewer, operator or admin") as caught:
        services.user_set_site_role(actor=admin_user, user=make_user(), site=sites[0], role=role)
    assert caught.value.path == "role"
    assert not SiteRole.objects.exists()


def test_nobody_changes_their_own_role(sites) -> None:
    site_admin = make_user()
    SiteRole.objects.create(user=site_admin, site=sites[0], role="admin")
    with pytest.raises(FieldhubError, match="your own role"):
        services.user_set_site_role(actor=site_admin, user=site_admin, site=sites[0], role=None)
    assert SiteRole.objects.get().role == "admin"


def test_a_superuser_holds_no_site_role_they_are_an_admin_everywhere(admin_user, sites) -> None:
    superuser = make_user(is_superuser=True)
    for actor in (admin_user, make_user(is_superuser=True)):
        with pytest.raises(FieldhubError, match="is a superuser: an admin everywhere"):
            services.user_set_site_role(actor=actor, user=superuser, site=sites[0], role="viewer")
    assert not SiteRole.objects.exists()


def test_nothing_is_told_for_a_change_rolled_back(admin_user, sites, told, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(FieldhubError):
        services.user_set_site_role(actor=admin_user, user=make_user(), site=sites[0], role="nobody")
    assert told == []
