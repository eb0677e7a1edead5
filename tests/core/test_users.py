"""The users page: admins create users, set roles, deactivate, reset passwords; nobody else may."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from core.permissions import role_of
from core.roles import Role
from core.services import token_create
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
