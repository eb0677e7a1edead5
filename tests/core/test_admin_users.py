"""The Django admin keeps the last-administrator rule that /users/ keeps (core.services.keep_an_administrator):
no change through its user form, and no deletion, leaves Fieldhub without an active administrator."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from core.admin import FieldhubUserChangeForm
from core.roles import Role
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def submitted(user: Any, **changes: Any) -> FieldhubUserChangeForm:
    """The admin's form for ``user`` as its page shows it, sent back with ``changes``."""
    shown = FieldhubUserChangeForm(instance=user)
    data: dict[str, Any] = {}
    for name, field in shown.fields.items():
        value = shown[name].value()
        if field.disabled or value is None or value is False:
            continue
        data[name] = list(value) if name in ("groups", "user_permissions") else value
    for name, value in changes.items():
        if value is False:
            data.pop(name, None)  # an unticked box is not sent
        else:
            data[name] = value
    return FieldhubUserChangeForm(instance=user, data=data)


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_last_administrator_cannot_be_deactivated_or_demoted_in_the_admin() -> None:
    root = make_user(Role.ADMIN, is_staff=True, is_superuser=True)
    for changes in ({"is_active": False}, {"is_superuser": False, "groups": []}):
        form = submitted(root, **changes)
        assert not form.is_valid()
        assert "last active administrator" in str(form.non_field_errors())
    root.refresh_from_db()
    assert root.is_active
    assert root.is_superuser


def test_with_another_administrator_the_admin_deactivates_one() -> None:
    root = make_user(Role.ADMIN, is_staff=True, is_superuser=True)
    make_user(Role.ADMIN)
    form = submitted(root, is_active=False)
    assert form.is_valid(), form.errors
    form.save()
    root.refresh_from_db()
    assert not root.is_active


def test_a_superuser_without_the_admin_group_is_still_an_administrator() -> None:
    root = make_user(None, is_staff=True, is_superuser=True)
    assert submitted(root, groups=[group_id(Role.VIEWER)]).is_valid()  # still a superuser
    assert not submitted(root, is_superuser=False).is_valid()


def group_id(role: Role) -> int:
    from django.contrib.auth.models import Group

    return Group.objects.get_or_create(name=role.value)[0].pk


def test_the_last_administrator_cannot_be_deleted_and_users_have_no_bulk_deletion() -> None:
    root = make_user(Role.ADMIN, is_staff=True, is_superuser=True)
    viewer = make_user(Role.VIEWER)
    client = logged_in(root)
    assert client.get(f"/admin/auth/user/{root.pk}/delete/").status_code == 403
    assert client.post(f"/admin/auth/user/{root.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get(f"/admin/auth/user/{viewer.pk}/delete/").status_code == 200
    changelist = client.get("/admin/auth/user/")
    assert changelist.status_code == 200
    assert b"delete_selected" not in changelist.content
    root.refresh_from_db()
    assert root.is_active
