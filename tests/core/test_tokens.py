"""Personal API tokens: created and revoked by their owner in the web interface, by admins in the admin."""

import re

import pytest
from django.test import Client

from core.models import ApiToken
from core.services import token_create, token_hash
from tests.factories import make_user

pytestmark = pytest.mark.django_db

SECRET = re.compile(r"fh_[A-Za-z0-9_-]{40,}")


def logged_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def test_the_tokens_page_needs_a_login(client: Client) -> None:
    response = client.get("/tokens/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/tokens/"


def test_a_new_token_is_shown_once_and_only_its_hash_is_stored(viewer) -> None:
    client = logged_in(viewer)
    response = client.post("/tokens/", {"name": "grafana"})
    assert response.status_code == 201
    secret = SECRET.search(response.content.decode())[0]
    token = ApiToken.objects.get(user=viewer)
    assert token.name == "grafana"
    assert token.key_hash == token_hash(secret)
    assert secret not in {token.key_hash, token.prefix, token.name}
    assert secret.startswith(token.prefix)
    page = client.get("/tokens/").content.decode()
    assert secret not in page
    assert "grafana" in page
    assert Client(HTTP_AUTHORIZATION=f"Bearer {secret}").get("/api/v1/endpoints").status_code == 200


def test_a_token_needs_a_name(viewer) -> None:
    response = logged_in(viewer).post("/tokens/", {"name": "  "})
    assert response.status_code == 422
    assert "a token needs a name" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_a_user_without_a_role_cannot_create_a_token(outsider) -> None:
    response = logged_in(outsider).post("/tokens/", {"name": "x"})
    assert response.status_code == 403
    assert "this needs the viewer role" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_creating_a_token_needs_the_csrf_token(viewer) -> None:
    response = logged_in(viewer, enforce_csrf_checks=True).post("/tokens/", {"name": "x"})
    assert response.status_code == 403
    assert not ApiToken.objects.exists()


def test_the_owner_revokes_a_token_and_it_stops_working(viewer) -> None:
    token, secret = token_create(actor=viewer, user=viewer, name="ci")
    response = logged_in(viewer).post(f"/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert Client(HTTP_AUTHORIZATION=f"Bearer {secret}").get("/api/v1/endpoints").status_code == 401


def test_nobody_else_but_an_admin_revokes_a_token(viewer, operator, admin_user) -> None:
    token, _ = token_create(actor=viewer, user=viewer, name="ci")
    response = logged_in(operator).post(f"/tokens/{token.pk}/revoke/")
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert logged_in(admin_user).post(f"/tokens/{token.pk}/revoke/").status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_revoking_needs_post(viewer) -> None:
    token, _ = token_create(actor=viewer, user=viewer, name="ci")
    assert logged_in(viewer).get(f"/tokens/{token.pk}/revoke/").status_code == 405


def test_an_admin_creates_a_token_for_a_user_in_the_admin_and_sees_it_once() -> None:
    from core.roles import Role

    admin = make_user(Role.ADMIN, is_staff=True, is_superuser=True)
    owner = make_user(Role.VIEWER)
    client = logged_in(admin)
    response = client.post("/admin/core/apitoken/add/", {"user": owner.pk, "name": "for-owner"}, follow=True)
    assert response.status_code == 200
    secret = SECRET.search(response.content.decode())[0]
    token = ApiToken.objects.get(user=owner)
    assert token.key_hash == token_hash(secret)
    assert Client(HTTP_AUTHORIZATION=f"Bearer {secret}").get("/api/v1/endpoints").status_code == 200


def test_an_admin_revokes_tokens_in_the_admin() -> None:
    from core.roles import Role

    admin = make_user(Role.ADMIN, is_staff=True, is_superuser=True)
    owner = make_user(Role.VIEWER)
    token, _ = token_create(actor=owner, user=owner, name="old")
    response = logged_in(admin).post(
        "/admin/core/apitoken/", {"action": "revoke", "_selected_action": [token.pk]}, follow=True
    )
    assert response.status_code == 200
    token.refresh_from_db()
    assert token.revoked_at is not None


class TestLogin:
    def test_log_in_and_out(self, viewer, client: Client) -> None:
        page = client.get("/accounts/login/")
        assert page.status_code == 200
        assert b'name="username"' in page.content
        response = client.post(
            "/accounts/login/", {"username": viewer.username, "password": "correct horse battery staple"}
        )
        assert response.status_code == 302
        assert client.get("/").status_code == 200
        assert client.post("/accounts/logout/").status_code == 302
        assert client.get("/").status_code == 302

    def test_a_wrong_password_is_refused(self, viewer, client: Client) -> None:
        response = client.post("/accounts/login/", {"username": viewer.username, "password": "wrong"})
        assert response.status_code == 200
        assert b"Please enter a correct username and password" in response.content

    def test_every_page_sends_anonymous_users_to_the_login(self, client: Client) -> None:
        for url in ("/", "/tokens/", "/accounts/password_change/"):
            response = client.get(url)
            assert response.status_code == 302
            assert response["Location"].startswith("/accounts/login/")
