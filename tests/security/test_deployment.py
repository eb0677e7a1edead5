"""A production configuration: `check --deploy` clean, security headers on every response, secure cookies,
firmware images that a browser can only download, API tokens that the database holds only as hashes."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.apps import apps
from django.test import Client

from core.roles import Role
from tests.factories import make_endpoint, make_firmware, make_user
from tests.subprocess_env import PRODUCTION_KEY, clean_env, run_manage, run_python

PRODUCTION = {
    "SECRET_KEY": PRODUCTION_KEY,
    "ALLOWED_HOSTS": "fieldhub.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://fieldhub.example.com",
    "SECURE_SSL_REDIRECT": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
    "SECURE_PROXY_SSL_HEADER": "1",
}


def test_check_deploy_reports_nothing_with_production_settings() -> None:
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=clean_env(**PRODUCTION))
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNINGS" not in result.stderr


def test_no_check_is_silenced() -> None:
    result = run_python(
        "import django; django.setup(); from django.conf import settings as s; print(s.SILENCED_SYSTEM_CHECKS)",
        env=clean_env(**PRODUCTION),
    )
    assert result.stdout.strip() == "[]", result.stderr


def test_production_cookies_are_secure_http_only_and_same_site() -> None:
    result = run_python(
        "import django, json; django.setup(); from django.conf import settings as s; print(json.dumps(["
        "s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, "
        "s.SESSION_COOKIE_SAMESITE, s.CSRF_COOKIE_SAMESITE, s.SECURE_HSTS_SECONDS]))",
        env=clean_env(**PRODUCTION),
    )
    assert json.loads(result.stdout) == [False, True, True, True, "Lax", "Lax", 31536000], result.stderr


@pytest.mark.django_db
def test_a_login_sets_secure_cookies_in_production(settings: Any) -> None:
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    user = make_user(Role.VIEWER)
    client = Client()
    client.get("/accounts/login/")
    assert client.cookies["csrftoken"]["secure"] is True
    response = client.post("/accounts/login/", {"username": user.username, "password": "correct horse battery staple"})
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert (session["secure"], session["httponly"], session["samesite"]) == (True, True, "Lax")


# --- headers -----------------------------------------------------------------------------------------------

COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def assert_security_headers(response: Any) -> None:
    for name, value in COMMON_HEADERS.items():
        assert response.get(name) == value, (name, response.get(name))
    policy = response["Content-Security-Policy"]
    for directive in ("script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'"):
        assert directive in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["/", "/events/", "/firmware/", "/tokens/", "/admin/", "/api/v1/docs", "/leshan_api/docs"]
)
def test_pages_carry_the_security_headers(url: str) -> None:
    client = Client()
    client.force_login(make_user(Role.ADMIN, is_staff=True, is_superuser=True))
    response = client.get(url)
    assert response.status_code == 200
    assert_security_headers(response)


@pytest.mark.django_db
def test_the_login_page_carries_the_security_headers() -> None:
    assert_security_headers(Client().get("/accounts/login/"))


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "status"), [("/api/v1/endpoints", 200), ("/api/v1/events", 401), ("/healthz", 200)])
def test_api_responses_carry_the_security_headers(url: str, status: int) -> None:
    client = Client()
    if status == 200:
        client.force_login(make_user(Role.VIEWER))
    response = client.get(url)
    assert response.status_code == status
    assert_security_headers(response)


@pytest.mark.django_db
def test_bridge_responses_carry_the_security_headers() -> None:
    response = Client().post(
        "/leshan_api/resource/single", "{}", content_type="application/json", REMOTE_ADDR="192.0.2.1"
    )
    assert response.status_code == 401
    assert_security_headers(response)


def test_no_template_has_inline_script_or_style() -> None:
    """The Content-Security-Policy forbids them: scripts and styles live in static files."""
    from django.conf import settings

    for template in (settings.BASE_DIR / "templates").rglob("*.html"):
        text = re.sub(r"\{#.*?#\}", "", template.read_text())  # not comments
        for forbidden in ("<script>", "<style", " style=", " hx-on", "javascript:"):
            assert forbidden not in text, f"{template}: {forbidden!r} would be refused by the policy"
        handler = re.search(r"\son[a-z]+\s*=", text, re.IGNORECASE)  # onclick=, onsubmit=, onload=, …
        assert handler is None, f"{template}: the inline handler {handler and handler[0]!r} would be refused"


# --- firmware images -----------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("extra", [{}, {"HTTP_RANGE": "bytes=0-9"}])
def test_a_firmware_package_is_only_ever_downloaded(extra: dict[str, str]) -> None:
    image = make_firmware(content=b"<html><script>alert(1)</script></html>" * 4)
    response = Client().get(f"/firmware/package/{image.download_token}/{image.filename}", **extra)
    assert response.status_code in (200, 206)
    assert response["Content-Type"] == "application/octet-stream"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"] == f'attachment; filename="{image.filename}"'
    assert "default-src 'self'" in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_a_firmware_package_needs_its_token() -> None:
    image = make_firmware()
    client = Client()
    assert client.get(f"/firmware/package/{'x' * 43}/{image.filename}").status_code == 404
    assert client.get(f"/firmware/package/{image.download_token}/other.bin").status_code == 404


@pytest.mark.django_db
def test_uploaded_files_are_not_served_from_media() -> None:
    image = make_firmware()
    client = Client()
    client.force_login(make_user(Role.ADMIN))
    assert client.get(f"/media/{image.file.name}").status_code == 404


# --- API tokens --------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_database_never_holds_an_api_token_secret() -> None:
    user = make_user(Role.VIEWER)
    client = Client()
    client.force_login(user)
    response = client.post("/tokens/", {"name": "grafana"})
    assert response.status_code == 201
    secret = response.context["new_secret"]
    make_endpoint()
    assert Client().get("/api/v1/endpoints", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    # Every column of every row of every table: the secret (or its random part) is nowhere.
    random_part = secret[len("fh_") :]
    for model in apps.get_models():
        for row in model.objects.values_list():
            text = repr(row)
            assert random_part[:16] not in text, f"{model.__name__} holds the token secret"
    # The token page shows the token's prefix, never the secret again.
    assert random_part[:16] not in client.get("/tokens/").content.decode()


@pytest.mark.django_db
def test_the_admin_never_shows_a_token_hash() -> None:
    from core.services import token_create

    owner = make_user(Role.VIEWER)
    token, _secret = token_create(actor=owner, user=owner, name="ci")
    client = Client()
    client.force_login(make_user(Role.ADMIN, is_staff=True, is_superuser=True))
    for url in ("/admin/core/apitoken/", f"/admin/core/apitoken/{token.pk}/change/"):
        response = client.get(url)
        assert response.status_code == 200
        assert token.key_hash not in response.content.decode()
