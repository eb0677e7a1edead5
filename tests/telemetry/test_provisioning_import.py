"""Onboarding a fleet from CSV: every row checked first (one bad row refuses the file, nothing stored), then
devices pre-registered with their sites, labels and credentials, pushed in the background; the one export."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from core.errors import Conflict, FieldhubError
from core.models import Credential, Endpoint, ImportBatch, Label, Site, SiteRole
from core.roles import Role
from core.simulator.double.server import LeshanDouble
from telemetry.downlink.dispatcher import Dispatcher
from telemetry.models import EndpointOperation
from telemetry.provisioning import imports, selectors, services
from tests.factories import make_endpoint, make_user

KEY = "00112233445566778899aabbccddeeff"
HEADER = "endpoint,mode,identity,key,site,labels\n"


def drain() -> int:
    return asyncio.run(Dispatcher(listen=False).drain(within=120))


def fleet(count: int, *, bad_line: int | None = None) -> bytes:
    lines = [HEADER]
    for n in range(count):
        if bad_line is not None and n + 2 == bad_line:
            lines.append(f"dev-{n:04d},psk,id-{n:04d},not-hex,north,beta\n")
        else:
            lines.append(f"dev-{n:04d},psk,id-{n:04d},generate,north,beta;batch-1\n")
    return "".join(lines).encode()


def upload(client: Client, data: bytes, name: str = "fleet.csv") -> Any:
    return client.post("/api/v1/provisioning/import", {"file": SimpleUploadedFile(name, data, content_type="text/csv")})


def api(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def nothing_stored() -> bool:
    return not (
        Endpoint.objects.exists()
        or Credential.objects.exists()
        or ImportBatch.objects.exists()
        or EndpointOperation.objects.exists()
        or Label.objects.exists()
    )


@pytest.fixture
def north(db: None) -> Site:
    return Site.objects.create(name="North")


@pytest.mark.django_db
class TestRefused:
    def test_one_bad_row_among_a_thousand_refuses_the_file_and_stores_nothing(self, admin_user, north) -> None:
        response = upload(api(admin_user), fleet(1000, bad_line=500))
        assert response.status_code == 422
        body = response.json()
        assert body["detail"] == "file: 1 of 1000 rows refused; nothing was stored"
        assert body["errors"] == [
            {"line": 500, "field": "key", "detail": 'a PSK key is hex (an even number of 0-9, a-f), or "generate"'}
        ]
        assert nothing_stored()

    def test_every_problem_is_listed_by_line(self, admin_user, north) -> None:
        key = ec.generate_private_key(ec.SECP256R1()).public_key()
        spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo).hex()
        make_endpoint(name="taken")
        services.credential_set(actor=admin_user, endpoint=Endpoint.objects.get(), mode="psk", identity="held", key=KEY)
        text = (
            HEADER
            + "dev-1,psk,,generate,North,\n"  # fine
            + "dev-1,x509,,,North,\n"  # twice
            + ",psk,,generate,,\n"  # no name
            + "dev 3,psk,,generate,,\n"  # a space
            + "dev-4,tls,,,,\n"  # mode
            + "dev-5,psk,id-5,generate,Nowhere,\n"  # site
            + "dev-6,psk,dev-1,generate,,\n"  # identity of line 2
            + "dev-7,psk,held,generate,,\n"  # identity of a device not in the file
            + "dev-8,psk,,generate,,Bad Label!\n"  # label
            + f"dev-9,rpk,,{spki},,\n"  # fine
            + "dev-10,rpk,,abcd,,\n"  # not a key
            + "dev-11,x509,,1234,,\n"  # key with x509
        )
        body = upload(api(admin_user), text.encode()).json()
        found = [(e["line"], e["field"]) for e in body["errors"]]
        assert found == [
            (3, "endpoint"),
            (4, "endpoint"),
            (5, "endpoint"),
            (6, "mode"),
            (7, "site"),
            (8, "identity"),
            (9, "identity"),
            (10, "labels"),
            (12, "key"),
            (13, "key"),
        ]
        assert "'dev-1' is already on line 2" in body["errors"][0]["detail"]
        assert body["errors"][5]["detail"] == "PSK identity 'dev-1' is already on line 2"
        assert body["errors"][6]["detail"] == "PSK identity 'held' is used by device 'taken'"
        assert Endpoint.objects.count() == 1
        assert not ImportBatch.objects.exists()

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            (b"", "the file is empty"),
            (b"endpoint,mode,colour\n", "line 1: unknown column 'colour'"),
            (b"endpoint,identity\n", "line 1: the column 'mode' is missing"),
            (b"endpoint,mode\n", "the file has no rows after its header"),
            (b"\xff\xfe", "the file is not UTF-8 text"),
            (b'endpoint,mode\n"dev-1,psk\n', "not CSV"),
        ],
    )
    def test_a_file_that_is_not_the_format_is_refused(self, admin_user, data, message) -> None:
        response = upload(api(admin_user), data)
        assert response.status_code == 422
        assert message in response.json()["detail"]
        assert nothing_stored()

    def test_too_many_rows_are_refused(self, admin_user, settings, monkeypatch) -> None:
        monkeypatch.setattr(imports, "IMPORT_ROWS_MAX", 3)
        response = upload(api(admin_user), fleet(4))
        assert (response.status_code, response.json()["detail"]) == (
            422,
            "file: the file has more than 3 rows: split it",
        )

    def test_roles(self, viewer, operator, north) -> None:
        for user in (viewer, operator):
            assert upload(api(user), fleet(2)).status_code == 403
        nadia = make_user(None, username="nadia")
        SiteRole.objects.create(user=nadia, site=north, role=Role.ADMIN)
        body = upload(api(nadia), (HEADER + "dev-1,x509,,,,\n").encode()).json()
        assert body["errors"][0]["detail"] == "a new device in no site needs the global admin role: name its site"
        assert nothing_stored()
        assert upload(api(nadia), (HEADER + "dev-1,x509,,,north,\n").encode()).status_code == 201

    def test_a_file_is_needed(self, admin_user) -> None:
        response = api(admin_user).post("/api/v1/provisioning/import", {})
        assert response.status_code == 422
        assert nothing_stored()


@pytest.fixture
def leshan(settings: Any) -> Iterator[LeshanDouble]:
    double = LeshanDouble()
    with double.run_in_thread() as url:
        settings.LESHAN_URL = url
        settings.LESHAN_TIMEOUT = 2
        yield double


@pytest.mark.django_db(transaction=True)
def test_a_thousand_devices_are_onboarded_and_all_pushed(leshan: LeshanDouble, admin_user, operator, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    north = Site.objects.create(name="North")
    make_endpoint(name="dev-0007")  # known already (in no site): updated and moved
    response = upload(api(admin_user), fleet(1000))
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["devices"], body["created"], body["updated"], body["pushes"]) == (1000, 999, 1, 1000)
    assert body["progress"] == {"total": 1000, "pushed": 0, "failed": 0, "waiting": 1000, "done": False}
    batch = ImportBatch.objects.get()
    new = Endpoint.objects.get(name="dev-0001")
    assert (new.registration_state, new.online, new.last_seen_at, new.site) == ("UNREGISTERED", False, None, north)
    assert Endpoint.objects.get(name="dev-0007").site == north
    assert sorted(new.labels.values_list("name", flat=True)) == ["batch-1", "beta"]
    assert drain() == 1000
    progress = api(operator).get(f"/api/v1/provisioning/imports/{batch.pk}").json()["progress"]
    assert progress == {"total": 1000, "pushed": 1000, "failed": 0, "waiting": 0, "done": True}
    entries = leshan.security_entries()
    assert len(entries) == 1000
    assert entries["dev-0042"]["tls"]["details"]["identity"] == "id-0042"

    # The factory's export, once, admins only; the keys are the ones Leshan holds.
    assert api(operator).post(f"/api/v1/provisioning/imports/{batch.pk}/export").status_code == 403
    exported = api(admin_user).post(f"/api/v1/provisioning/imports/{batch.pk}/export")
    assert exported.status_code == 200
    assert exported["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert len(rows) == 1000
    assert rows[42]["key"] == entries[rows[42]["endpoint"]]["tls"]["details"]["key"]
    again = api(admin_user).post(f"/api/v1/provisioning/imports/{batch.pk}/export")
    assert again.status_code == 409
    assert "already exported" in again.json()["detail"]
    with pytest.raises(Conflict):
        imports.batch_export(actor=admin_user, batch=batch)

    # The keys are on no page, in no API answer and in no fragment after that.
    key = rows[42]["key"]
    for url in (
        "/provisioning/",
        f"/provisioning/imports/{batch.pk}/",
        "/endpoints/dev-0042/",
        "/provisioning/devices/dev-0042/",
        "/operations/",
        "/api/v1/endpoints/dev-0042/credentials",
        f"/api/v1/provisioning/imports/{batch.pk}",
        "/api/v1/operations?limit=200",
    ):
        page = api(admin_user).get(url)
        assert page.status_code == 200, url
        assert key not in page.content.decode(), url
    fragment = api(admin_user).get("/provisioning/devices/dev-0042/", headers={"HX-Request": "true"})
    assert 'id="credentials"' in fragment.content.decode()
    assert "<html" not in fragment.content.decode()
    assert key not in fragment.content.decode()
    assert key not in caplog.text


@pytest.mark.django_db(transaction=True)
def test_an_import_with_leshan_refusing_some_shows_them_failed(leshan: LeshanDouble, admin_user) -> None:
    Site.objects.create(name="North")
    leshan.security_add({"endpoint": "other", "tls": {"mode": "psk", "details": {"identity": "id-0001", "key": "aa"}}})
    upload(api(admin_user), fleet(3))
    drain()
    batch = ImportBatch.objects.get()
    progress = selectors.batch_progress(batch=batch)
    assert (progress.pushed, progress.failed, progress.done) == (2, 1, True)
    assert selectors.batch_failures(batch=batch) == [
        ("dev-0001", "PSK identity 'id-0001' is already used in Leshan by device 'other'")
    ]


@pytest.mark.django_db
def test_a_row_with_mode_none_removes_what_a_known_device_had(admin_user) -> None:
    endpoint = make_endpoint(name="dev-1")
    services.credential_set(actor=admin_user, endpoint=endpoint, mode="x509")
    result = imports.fleet_import(actor=admin_user, data=(HEADER + "dev-1,none,,,,\n").encode())
    assert result.pushes == 1
    assert EndpointOperation.objects.order_by("-id").first().kind == "SECURITY_DELETE"
    assert Credential.objects.get().mode == "none"


@pytest.mark.django_db
def test_an_import_without_the_credentials_key_stores_nothing(admin_user, settings) -> None:
    settings.CREDENTIALS_KEY = ""
    with pytest.raises(FieldhubError) as info:
        imports.fleet_import(actor=admin_user, data=(HEADER + "dev-1,psk,,generate,,\n").encode())
    assert info.value.status == 503
    assert nothing_stored()


@pytest.mark.django_db
class TestAssignmentRules:
    """A new device whose row names no site gets the site of its assignment rule, as on its first post."""

    def test_a_new_device_without_a_site_goes_where_its_rule_says(self, admin_user, north) -> None:
        from core.models import SiteRule

        SiteRule.objects.create(site=north, kind="prefix", text="urn:imei:35")
        data = (HEADER + "urn:imei:3500001,x509,,,,\nother-1,x509,,,,\n").encode()
        imports.fleet_import(actor=admin_user, data=data)
        assert dict(Endpoint.objects.values_list("name", "site__name")) == {
            "urn:imei:3500001": "North",
            "other-1": None,
        }

    def test_a_site_named_in_the_row_wins_over_the_rule(self, admin_user, north) -> None:
        from core.models import SiteRule

        south = Site.objects.create(name="South")
        SiteRule.objects.create(site=north, kind="prefix", text="urn:imei:35")
        imports.fleet_import(actor=admin_user, data=(HEADER + "urn:imei:3500001,x509,,,south,\n").encode())
        assert Endpoint.objects.get().site == south

    def test_a_site_admin_may_import_what_a_rule_puts_in_their_site_only(self, north) -> None:
        from core.models import SiteRule
        from core.permissions import forget_roles

        south = Site.objects.create(name="South")
        SiteRule.objects.create(site=north, kind="prefix", text="urn:imei:35")
        admin = make_user(username="south-admin")
        SiteRole.objects.create(user=admin, site=south, role="admin")
        data = (HEADER + "urn:imei:3500001,x509,,,,\n").encode()
        with pytest.raises(imports.ImportRefused) as refused:
            imports.fleet_import(actor=admin, data=data)
        (error,) = refused.value.as_dict()["errors"]
        assert error == {"line": 2, "field": "site", "detail": error["detail"]}
        assert "its assignment rule puts it in site 'North', where you are not an admin" in error["detail"]
        assert nothing_stored()
        SiteRole.objects.create(user=admin, site=north, role="admin")
        forget_roles(admin)  # read again: the roles are kept on the user object
        imports.fleet_import(actor=admin, data=data)
        assert Endpoint.objects.get().site == north
