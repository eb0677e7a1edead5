"""The users page: admins create users, set roles, deactivate, reset passwords; nobody else may."""

import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from core.errors import Conflict
from core.permissions import role_of
from core.roles import Role
from core.services import token_create, user_set_active, user_set_role
from tests.factories import make_user

pytestmark = pytest.mark.django_db

PASSWORD = re.compile(r'<code class="secret" id="new-password">([^<]+)</code>')


def logged_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def can_log_in(username: str, password: str) -> bool:
    return Client().login(username=username, password=password)


@pytest.mark.parametrize("persona", ["viewer", "operator"])
def test_only_admins_see_the_page(request, persona: str) -> None:
    response = logged_in(request.getfixturevalue(persona)).get("/users/")
    assert response.status_code == 403
    assert "this needs the admin role" in response.content.decode()


def test_an_admin_creates_a_user_whose_password_is_shown_once(admin_user) -> None:
    client = logged_in(admin_user)
    response = client.post("/users/", {"action": "create", "username": "newbie", "role": "operator"})
    assert response.status_code == 201
    password = PASSWORD.search(response.content.decode())[1]
    assert can_log_in("newbie", password)
    newbie = get_user_model().objects.get(username="newbie")
    assert role_of(newbie) == Role.OPERATOR
    assert password not in client.get("/users/").content.decode()


@pytest.mark.parametrize(
    ("username", "role", "status", "message"),
    [
        ("two words", "viewer", 422, "a user name is 1 to 150 letters"),
        ("ok", "emperor", 422, "role is viewer, operator or admin"),
        ("ada-admin", "viewer", 409, "a user named &#x27;ada-admin&#x27; exists already"),
    ],
)
def test_bad_new_users_are_refused(admin_user, username, role, status, message) -> None:
    response = logged_in(admin_user).post("/users/", {"action": "create", "username": username, "role": role})
    assert response.status_code == status
    assert message in response.content.decode()


def test_roles_are_set_but_not_ones_own(admin_user, viewer) -> None:
    client = logged_in(admin_user)
    assert client.post("/users/", {"action": "role", "user": viewer.pk, "role": "admin"}).status_code == 200
    viewer.refresh_from_db()
    assert role_of(viewer) == Role.ADMIN
    assert viewer.is_staff
    response = client.post("/users/", {"action": "role", "user": admin_user.pk, "role": "viewer"})
    assert response.status_code == 422
    assert "you cannot change your own role" in response.content.decode()


def test_a_deactivated_user_can_no_longer_log_in_or_use_a_token(admin_user) -> None:
    worker = make_user(Role.VIEWER, username="worker", password="correct horse battery staple")
    _, secret = token_create(actor=worker, user=worker, name="script")
    client = logged_in(admin_user)
    client.post("/users/", {"action": "deactivate", "user": worker.pk})
    assert not can_log_in("worker", "correct horse battery staple")
    assert Client(HTTP_AUTHORIZATION=f"Bearer {secret}").get("/api/v1/endpoints").status_code == 401
    client.post("/users/", {"action": "activate", "user": worker.pk})
    assert can_log_in("worker", "correct horse battery staple")
    response = client.post("/users/", {"action": "deactivate", "user": admin_user.pk})
    assert "you cannot deactivate yourself" in response.content.decode()


def test_a_reset_password_works_and_the_old_one_does_not(admin_user) -> None:
    make_user(Role.VIEWER, username="forgetful", password="old password 123")
    forgetful = get_user_model().objects.get(username="forgetful")
    response = logged_in(admin_user).post("/users/", {"action": "password", "user": forgetful.pk})
    password = PASSWORD.search(response.content.decode())[1]
    assert can_log_in("forgetful", password)
    assert not can_log_in("forgetful", "old password 123")


def test_actions_need_the_csrf_token(admin_user) -> None:
    response = logged_in(admin_user, enforce_csrf_checks=True).post(
        "/users/", {"action": "create", "username": "x", "role": "viewer"}
    )
    assert response.status_code == 403
    assert not get_user_model().objects.filter(username="x").exists()


@pytest.mark.parametrize(
    ("form", "status", "message"),
    [
        ({"action": "role", "user": "abc", "role": "viewer"}, 422, "user must be the id of a user"),
        ({"action": "role", "user": "", "role": "viewer"}, 422, "user must be the id of a user"),
        ({"action": "role", "user": "9" * 40, "role": "viewer"}, 422, "user must be the id of a user"),
        ({"action": "password", "user": "999999"}, 404, "no user with id 999999"),
        ({"action": "nuke", "user": "1"}, 422, "unknown action"),
    ],
)
def test_bad_actions_are_refused_by_name(admin_user, form, status, message) -> None:
    response = logged_in(admin_user).post("/users/", form)
    assert response.status_code == status
    assert message in response.content.decode()


def test_a_viewer_s_forged_action_is_refused(viewer, operator) -> None:
    response = logged_in(viewer).post("/users/", {"action": "role", "user": operator.pk, "role": "admin"})
    assert response.status_code == 403
    assert role_of(operator) == Role.OPERATOR


# --- superusers are above the admin role; an administrator always remains --------------------------------


@pytest.fixture
def root(db: None) -> Any:
    """As `bootstrap` makes the first administrator."""
    return make_user(Role.ADMIN, username="root", is_staff=True, is_superuser=True, password="root password 123")


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"action": "password"}, "only a superuser may reset the password of a superuser (root)"),
        ({"action": "deactivate"}, "only a superuser may deactivate a superuser (root)"),
        ({"action": "role", "role": "viewer"}, "only a superuser may change the role of a superuser (root)"),
    ],
    ids=["password", "deactivate", "role"],
)
def test_an_admin_cannot_take_over_a_superuser(admin_user, root, form, message) -> None:
    response = logged_in(admin_user).post("/users/", {**form, "user": root.pk})
    assert response.status_code == 403
    assert message in response.content.decode()
    root.refresh_from_db()
    assert root.is_active
    assert root.is_superuser
    assert can_log_in("root", "root password 123")


def test_an_admin_sees_no_controls_on_a_superuser_s_row(admin_user, root, viewer) -> None:
    page = logged_in(admin_user).get("/users/").content.decode()
    row = re.search(rf'<tr id="user-{root.pk}">.*?</tr>', page, re.S)[0]
    assert "<form" not in row
    assert "<form" in re.search(rf'<tr id="user-{viewer.pk}">.*?</tr>', page, re.S)[0]


def test_a_superuser_may_reset_another_superuser_s_password(root) -> None:
    other = make_user(Role.ADMIN, username="root2", is_staff=True, is_superuser=True, password="old password 123")
    response = logged_in(root).post("/users/", {"action": "password", "user": other.pk})
    assert response.status_code == 200
    assert can_log_in("root2", PASSWORD.search(response.content.decode())[1])
    page = logged_in(root).get("/users/").content.decode()
    assert "<form" in re.search(rf'<tr id="user-{other.pk}">.*?</tr>', page, re.S)[0]


def test_the_last_active_administrator_cannot_be_deactivated(db) -> None:
    """Two admins deactivating each other at once: each request authenticated its admin before the other's
    change; the second is refused, so an administrator remains."""
    ada = make_user(Role.ADMIN, username="ada")
    bob = make_user(Role.ADMIN, username="bob")
    bob_as_his_request_saw_him = get_user_model().objects.get(pk=bob.pk)
    user_set_active(actor=ada, user=get_user_model().objects.get(pk=bob.pk), active=False)
    with pytest.raises(Conflict, match="ada is the last active administrator and cannot be deactivated"):
        user_set_active(actor=bob_as_his_request_saw_him, user=get_user_model().objects.get(pk=ada.pk), active=False)
    assert get_user_model().objects.get(pk=ada.pk).is_active


def test_the_last_active_administrator_cannot_be_demoted(db) -> None:
    ada = make_user(Role.ADMIN, username="ada")
    bob = make_user(Role.ADMIN, username="bob")
    bob_as_his_request_saw_him = get_user_model().objects.get(pk=bob.pk)
    assert role_of(bob_as_his_request_saw_him) == Role.ADMIN  # his request checked his role before ada's change
    user_set_role(actor=ada, user=get_user_model().objects.get(pk=bob.pk), role="viewer")
    with pytest.raises(Conflict, match="ada is the last active administrator and cannot be demoted"):
        user_set_role(actor=bob_as_his_request_saw_him, user=get_user_model().objects.get(pk=ada.pk), role="viewer")
    assert role_of(get_user_model().objects.get(pk=ada.pk)) == Role.ADMIN


def test_an_admin_may_be_removed_while_another_remains(admin_user, root) -> None:
    second = make_user(Role.ADMIN, username="second")
    client = logged_in(admin_user)
    assert client.post("/users/", {"action": "role", "user": second.pk, "role": "operator"}).status_code == 200
    assert client.post("/users/", {"action": "deactivate", "user": second.pk}).status_code == 200
    second.refresh_from_db()
    assert not second.is_active
