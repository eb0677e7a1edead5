"""The provisioning pages: the server identity Leshan shows, the CSV upload and its refusals by line, an
import's progress and its one export, a device's credentials (the key shown once), and who sees what."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from core.models import Credential, Endpoint, ImportBatch
from core.simulator.double.server import LeshanDouble
from telemetry.downlink.dispatcher import Dispatcher
from telemetry.provisioning import services
from tests.factories import make_endpoint
from tests.servers import free_port

HEADER = "endpoint,mode,identity,key,site,labels\n"


def page(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def leshan(settings: Any) -> Iterator[LeshanDouble]:
    double = LeshanDouble()
    with double.run_in_thread() as url:
        settings.LESHAN_URL = url
        settings.LESHAN_TIMEOUT = 2
        yield double


@pytest.mark.django_db
class TestOverview:
    def test_it_shows_leshan_s_identity(self, leshan: LeshanDouble, operator) -> None:
        body = page(operator).get("/provisioning/").content.decode()
        pubkey = leshan.server_identity.json()["certificate"]["pubkey"]
        assert pubkey["x"] in body
        assert "-----BEGIN CERTIFICATE-----" in body
        assert "secp256r1" in body
        assert "Onboard a fleet" not in body  # operators do not import
        assert "Sync now" not in body

    def test_leshan_down_is_said(self, settings, admin_user) -> None:
        settings.LESHAN_URL = f"http://127.0.0.1:{free_port()}"
        response = page(admin_user).get("/provisioning/")
        assert response.status_code == 200
        body = response.content.decode()
        assert "identity could not be read: Leshan unreachable" in body, body[body.find("server-title") :][:600]
        assert "Onboard a fleet" in response.content.decode()

    def test_viewers_are_refused(self, viewer) -> None:
        assert page(viewer).get("/provisioning/").status_code == 403

    def test_a_bad_file_is_listed_by_line_and_nothing_stored(self, settings, admin_user) -> None:
        settings.LESHAN_URL = f"http://127.0.0.1:{free_port()}"
        data = (HEADER + "dev-1,psk,,generate,,\ndev-2,psk,,zz,,\ndev-3,rpk,,,,\n").encode()
        response = page(admin_user).post("/provisioning/import/", {"file": SimpleUploadedFile("f.csv", data)})
        assert response.status_code == 422
        body = response.content.decode()
        assert "Not imported: file: 2 of 3 rows refused; nothing was stored" in body
        assert "<td>3</td><td>key</td>" in body
        assert "<td>4</td><td>key</td>" in body
        assert not Endpoint.objects.exists()

    def test_no_file_is_said(self, settings, admin_user) -> None:
        settings.LESHAN_URL = f"http://127.0.0.1:{free_port()}"
        response = page(admin_user).post("/provisioning/import/", {})
        assert response.status_code == 422
        assert "Choose a CSV file" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_an_import_s_page_shows_its_progress_then_exports_once(leshan: LeshanDouble, admin_user, operator) -> None:
    data = (HEADER + "dev-1,psk,,generate,,\ndev-2,x509,,,,\n").encode()
    response = page(admin_user).post("/provisioning/import/", {"file": SimpleUploadedFile("f.csv", data)})
    batch = ImportBatch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/provisioning/imports/{batch.pk}/"
    body = page(operator).get(response["Location"]).content.decode()
    assert "0 of 2 in Leshan, 2 waiting" in body
    assert 'hx-trigger="every 2s"' in body
    assert "Download credentials" not in body  # operators do not export
    asyncio.run(Dispatcher(listen=False).drain(within=30))
    fragment = page(operator).get(response["Location"], headers={"HX-Request": "true"}).content.decode()
    assert fragment.lstrip().startswith('<section id="progress"')
    assert "2 of 2 in Leshan." in fragment
    assert "every 2s" not in fragment  # done: no more polling
    exported = page(admin_user).post(f"/provisioning/imports/{batch.pk}/export/")
    assert exported.status_code == 200
    assert exported["Content-Disposition"] == f'attachment; filename="credentials-import-{batch.pk}.csv"'
    key = leshan.security_entries()["dev-1"]["tls"]["details"]["key"]
    assert key in exported.content.decode()
    again = page(admin_user).post(f"/provisioning/imports/{batch.pk}/export/", follow=True)
    assert "already exported" in again.content.decode()
    assert key not in again.content.decode()


@pytest.mark.django_db
class TestDevice:
    def test_the_key_is_shown_once_on_the_answer_to_the_form(self, admin_user) -> None:
        make_endpoint(name="dev-1")
        response = page(admin_user).post("/provisioning/devices/dev-1/", {"mode": "psk", "key": "generate:256"})
        assert response.status_code == 200
        assert response["Cache-Control"] == "no-store"
        key = response.context["shown_key"]
        assert len(key) == 64
        assert f'<code class="wrap" id="shown-key">{key}</code>' in response.content.decode()
        assert "push queued" in response.content.decode()
        again = page(admin_user).get("/provisioning/devices/dev-1/").content.decode()
        assert key not in again
        assert "a 256-bit key" in again

    def test_a_refusal_is_said_and_nothing_stored(self, admin_user) -> None:
        make_endpoint(name="dev-1")
        response = page(admin_user).post("/provisioning/devices/dev-1/", {"mode": "psk", "key": "abc"})
        assert response.status_code == 422
        assert "Not saved: key: a PSK key is hex" in response.content.decode()
        assert not Credential.objects.exists()

    def test_remove(self, admin_user) -> None:
        endpoint = make_endpoint(name="dev-1")
        services.credential_set(actor=admin_user, endpoint=endpoint, mode="x509")
        response = page(admin_user).post("/provisioning/devices/dev-1/", {"remove": "1"})
        assert "Credentials removed" in response.content.decode()
        assert Credential.objects.get().mode == "none"

    def test_operators_see_the_mode_and_state_without_the_form(self, admin_user, operator) -> None:
        endpoint = make_endpoint(name="dev-1")
        services.credential_set(actor=admin_user, endpoint=endpoint, mode="psk", identity="id-7", key="generate")
        body = page(operator).get("/provisioning/devices/dev-1/").content.decode()
        assert "pre-shared key (PSK), identity <code>id-7</code>, a 128-bit key" in body
        assert "push queued" in body
        assert "<form" not in body.split('id="credentials"')[1]
        assert page(operator).post("/provisioning/devices/dev-1/", {"mode": "none"}).status_code == 403

    def test_the_device_page_loads_the_section_for_operators_only(self, viewer, operator) -> None:
        from core.lwm2m.nodes import Path, Reading
        from core.lwm2m.types import DataType
        from telemetry.ingest import ingest

        ingest(endpoint_name="dev-1", readings=[Reading(Path(3303, 0, 5700), DataType.FLOAT, 1.0)])
        assert 'hx-get="/provisioning/devices/dev-1/"' in page(operator).get("/endpoints/dev-1/").content.decode()
        assert "/provisioning/devices/" not in page(viewer).get("/endpoints/dev-1/").content.decode()

    def test_the_nav_links_the_page_for_operators(self, viewer, operator) -> None:
        assert 'href="/provisioning/"' in page(operator).get("/").content.decode()
        assert 'href="/provisioning/"' not in page(viewer).get("/").content.decode()


@pytest.mark.django_db
def test_the_sync_button_reports(settings, admin_user) -> None:
    settings.LESHAN_URL = f"http://127.0.0.1:{free_port()}"
    response = page(admin_user).post("/provisioning/sync/", follow=True)
    assert "Not synced: Leshan did not answer" in response.content.decode()
