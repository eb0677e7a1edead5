"""Error pages are pages of the site: its layout and stylesheet, what went wrong in words, a way on."""

from __future__ import annotations

import pytest
from django.template.loader import render_to_string
from django.test import Client

from telemetry.downlink.queue import operation_enqueue
from telemetry.models import EndpointOperation
from tests.factories import make_endpoint

pytestmark = pytest.mark.django_db


def assert_in_the_layout(html: str) -> None:
    assert '<link rel="stylesheet" href="/static/core/fieldhub.css">' in html
    assert '<link rel="icon" href="/static/core/favicon.svg"' in html
    assert "Back to the dashboard" in html
    assert "<style" not in html  # Django's own error pages carry inline styles, which the policy refuses


def test_an_unknown_page_is_a_404_in_the_layout(viewer) -> None:
    client = Client()
    client.force_login(viewer)
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert_in_the_layout(html)
    assert "<h1>Not found</h1>" in html
    assert "There is no page at <code>/no/such/page/</code>" in html


def test_a_forbidden_action_is_a_403_in_the_layout(viewer) -> None:
    client = Client()
    client.force_login(viewer)
    response = client.post("/endpoints/nope/commands/", {"kind": "read", "path": "/3/0/0"})
    assert response.status_code in (403, 404)
    assert_in_the_layout(response.content.decode())


def test_a_form_without_its_token_is_a_403_that_says_what_to_do(operator) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    response = client.post("/tokens/", {"name": "laptop"})
    assert response.status_code == 403
    html = response.content.decode()
    assert_in_the_layout(html)
    assert "<h1>The form expired</h1>" in html
    assert "Nothing was changed: reload the page and send it again." in html
    assert not operator.api_tokens.exists()


def test_a_server_error_page_needs_no_request() -> None:
    html = render_to_string("500.html")  # Django renders it without a request or a context
    assert_in_the_layout(html)
    assert "Something went wrong" in html


def test_browsers_asking_for_favicon_ico_get_the_icon() -> None:
    response = Client().get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"] == "/static/core/favicon.svg"
    assert Client().get("/static/core/favicon.svg").status_code == 200


def test_a_missing_user_page_is_in_the_layout_for_anonymous_visitors_too() -> None:
    response = Client().get("/no/such/page/")
    assert response.status_code == 404
    assert_in_the_layout(response.content.decode())


def test_a_plain_form_goes_back_only_to_a_page_of_this_site(operator) -> None:
    operation = operation_enqueue(actor=operator, endpoint=make_endpoint(), kind="READ", path="/3/0/0")
    client = Client()
    client.force_login(operator)
    home = client.post(
        f"/operations/{operation.pk}/cancel/", HTTP_REFERER="http://testserver/operations/?status=queued"
    )
    assert home["Location"] == "http://testserver/operations/?status=queued"
    client.post(f"/operations/{operation.pk}/retry/")
    away = client.post(f"/operations/{operation.pk}/cancel/", HTTP_REFERER="https://evil.example/phish")
    assert away["Location"] == "/operations/"
    assert EndpointOperation.objects.get().status == "CANCELLED"
