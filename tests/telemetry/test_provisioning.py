"""A device's credentials: checked, sealed at rest, pushed to Leshan's security store (the double, contract §7)
through the downlink queue, replaced and removed per mode; the API and its roles; the key shown once."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client
from django.utils import timezone

from core.errors import Conflict, FieldhubError, PermissionDenied
from core.models import Credential, Endpoint, Site, SiteRole
from core.provisioning import crypto, push
from core.roles import Role
from core.simulator.double.server import LeshanDouble
from telemetry.downlink import queue
from telemetry.downlink.dispatcher import Dispatcher
from telemetry.models import EndpointOperation
from telemetry.provisioning import services
from tests.factories import make_endpoint, make_user
from tests.servers import free_port

Status = EndpointOperation.Status
KEY = "00112233445566778899aabbccddeeff"


def drain() -> int:
    return asyncio.run(Dispatcher(listen=False).drain(within=30))


def spki(key: Any) -> str:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo).hex()


def certificate_for(cn: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    built = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return built.public_bytes(serialization.Encoding.PEM).decode()


def pushes(endpoint: Endpoint) -> list[EndpointOperation]:
    return list(EndpointOperation.objects.filter(endpoint=endpoint).order_by("id"))


@pytest.fixture
def leshan(settings: Any) -> Iterator[LeshanDouble]:
    double = LeshanDouble()
    with double.run_in_thread() as url:
        settings.LESHAN_URL = url
        settings.LESHAN_TIMEOUT = 2
        yield double


# --- checked before anything is stored ----------------------------------------------------------------------


@pytest.mark.django_db
class TestChecks:
    @pytest.mark.parametrize(
        ("fields", "path", "message"),
        [
            ({"mode": "tls"}, "mode", "mode must be one of psk, rpk, x509, none"),
            ({"mode": "psk"}, "key", "a PSK key is needed"),
            ({"mode": "psk", "key": "xyz"}, "key", "a PSK key is hex"),
            ({"mode": "psk", "key": "0011"}, "key", "a PSK key is 16 to 64 bytes (2 given)"),
            ({"mode": "psk", "key": KEY, "identity": "a\tb"}, "identity", "printable ASCII"),
            ({"mode": "psk", "key": KEY, "identity": "x" * 129}, "identity", "at most 128 characters"),
            ({"mode": "rpk"}, "public_key", "an RPK needs the device's EC public key"),
            ({"mode": "rpk", "public_key": "3059"}, "public_key", "not a public key"),
            ({"mode": "rpk", "public_key": "rsa"}, "public_key", "Leshan takes EC public keys only"),
            ({"mode": "x509", "certificate": "hello"}, "certificate", "not a PEM certificate"),
            (
                {"mode": "x509", "certificate": "other"},
                "certificate",
                "the certificate's CN must be the endpoint 'dev-1'",
            ),
            ({"mode": "rpk", "key": KEY}, "key", "key is not used with mode rpk"),
            ({"mode": "none", "identity": "x"}, "identity", "identity is not used with mode none"),
        ],
    )
    def test_bad_credentials_are_refused_naming_the_field(self, admin_user, fields, path, message) -> None:
        if fields.get("public_key") == "rsa":
            fields = {
                **fields,
                "public_key": spki(rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()),
            }
        if fields.get("certificate") == "other":
            fields = {**fields, "certificate": certificate_for("dev-2")}
        endpoint = make_endpoint(name="dev-1")
        with pytest.raises(FieldhubError) as info:
            services.credential_set(actor=admin_user, endpoint=endpoint, **fields)
        assert (info.value.status, info.value.path) == (422, path)
        assert message in info.value.detail
        assert not Credential.objects.exists()
        assert not EndpointOperation.objects.exists()

    def test_a_psk_identity_names_one_device(self, admin_user) -> None:
        first, second = make_endpoint(name="dev-1"), make_endpoint(name="dev-2")
        services.credential_set(actor=admin_user, endpoint=first, mode="psk", identity="shared", key=KEY)
        with pytest.raises(Conflict, match="PSK identity 'shared' is already used by device 'dev-1'"):
            services.credential_set(actor=admin_user, endpoint=second, mode="psk", identity="shared", key=KEY)
        assert Credential.objects.count() == 1

    def test_a_site_admin_is_not_told_a_foreign_device_s_name(self, admin_user) -> None:
        north, south = Site.objects.create(name="north"), Site.objects.create(name="south")
        theirs = make_endpoint(name="dev-south", site=south)
        services.credential_set(actor=admin_user, endpoint=theirs, mode="psk", identity="shared", key=KEY)
        north_admin = make_user(None, username="nadia")
        SiteRole.objects.create(user=north_admin, site=north, role=Role.ADMIN)
        mine = make_endpoint(name="dev-north", site=north)
        with pytest.raises(Conflict, match="already used by a device of another site"):
            services.credential_set(actor=north_admin, endpoint=mine, mode="psk", identity="shared", key=KEY)

    def test_the_identity_defaults_to_the_endpoint_name(self, admin_user) -> None:
        done = services.credential_set(actor=admin_user, endpoint=make_endpoint(name="dev-1"), mode="psk", key=KEY)
        assert done.credential.identity == "dev-1"

    def test_operators_do_not_manage_credentials(self, operator) -> None:
        with pytest.raises(PermissionDenied, match="needs the admin role"):
            services.credential_set(actor=operator, endpoint=make_endpoint(name="dev-1"), mode="psk", key=KEY)

    def test_the_provisioning_kinds_are_not_queued_by_operators(self, operator) -> None:
        endpoint = make_endpoint(name="dev-1")
        for kind in ("SECURITY_PUT", "SECURITY_DELETE"):
            with pytest.raises(
                FieldhubError, match="kind must be one of write, execute, read, observe, observe_cancel"
            ):
                queue.operation_enqueue(actor=operator, endpoint=endpoint, kind=kind, path="/3/0/1")
        assert not EndpointOperation.objects.exists()


# --- sealed at rest -----------------------------------------------------------------------------------------


@pytest.mark.django_db
class TestSealed:
    def test_the_key_is_sealed_and_bound_to_its_device(self, admin_user) -> None:
        endpoint = make_endpoint(name="dev-1")
        done = services.credential_set(actor=admin_user, endpoint=endpoint, mode="psk", key="generate:256")
        stored = Credential.objects.get()
        sealed = bytes(stored.sealed_key)
        assert done.key is not None
        assert len(done.key) == 64
        assert stored.key_bits == 256
        assert bytes.fromhex(done.key) not in sealed
        assert done.key not in sealed.hex()
        assert push.key_unseal(stored) == bytes.fromhex(done.key)
        other = make_endpoint(name="dev-2")
        stolen = Credential(endpoint=other, mode="psk", identity="x", sealed_key=sealed)
        with pytest.raises(crypto.CredentialsUnreadable):
            push.key_unseal(stolen)

    def test_another_credentials_key_does_not_open_it(self, admin_user, settings) -> None:
        services.credential_set(actor=admin_user, endpoint=make_endpoint(name="dev-1"), mode="psk", key=KEY)
        settings.CREDENTIALS_KEY = "another-key-of-enough-length-0123456789"
        with pytest.raises(crypto.CredentialsUnreadable, match="does not open with CREDENTIALS_KEY"):
            push.key_unseal(Credential.objects.get())

    def test_without_a_credentials_key_no_psk_is_stored(self, admin_user, settings) -> None:
        settings.CREDENTIALS_KEY = ""
        endpoint = make_endpoint(name="dev-1")
        with pytest.raises(crypto.CredentialsKeyMissing) as info:
            services.credential_set(actor=admin_user, endpoint=endpoint, mode="psk", key=KEY)
        assert info.value.status == 503
        assert not Credential.objects.exists()
        services.credential_set(actor=admin_user, endpoint=endpoint, mode="x509")  # nothing secret: fine

    def test_the_system_check_refuses_to_start_without_the_key_once_keys_are_stored(self, admin_user, settings) -> None:
        call_command("check")  # nothing stored: fine without the key too
        settings.CREDENTIALS_KEY = ""
        call_command("check")
        settings.CREDENTIALS_KEY = "fieldhub-insecure-development-credentials-key"
        services.credential_set(actor=admin_user, endpoint=make_endpoint(name="dev-1"), mode="psk", key=KEY)
        settings.CREDENTIALS_KEY = ""
        with pytest.raises(SystemCheckError, match=r"fieldhub\.E001"):
            call_command("check")

    def test_the_key_is_in_no_log_line(self, admin_user, caplog) -> None:
        caplog.set_level(logging.DEBUG)
        done = services.credential_set(
            actor=admin_user, endpoint=make_endpoint(name="dev-1"), mode="psk", key="generate"
        )
        assert "credentials of dev-1 set: mode psk" in caplog.text
        assert done.key is not None
        assert done.key not in caplog.text
        assert done.key not in repr(done)
        assert done.key not in str(done.credential)


def test_production_refuses_a_short_or_development_credentials_key() -> None:
    from tests.core.test_settings import PRODUCTION
    from tests.subprocess_env import clean_env, run_manage

    for key in ("short", "fieldhub-insecure-development-credentials-key"):
        result = run_manage("check", env=clean_env(**PRODUCTION, CREDENTIALS_KEY=key))
        assert result.returncode != 0
        assert "CREDENTIALS_KEY is a development or short key" in result.stderr
    result = run_manage("check", env=clean_env(**PRODUCTION, CREDENTIALS_KEY="k" * 40))
    assert result.returncode == 0, result.stderr


# --- pushed to Leshan ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
class TestPush:
    def test_each_mode_is_created_replaced_and_deleted_in_leshan(self, leshan: LeshanDouble, admin_user) -> None:
        endpoint = make_endpoint(name="dev-1")  # pre-registered: never seen, offline
        key = ec.generate_private_key(ec.SECP256R1()).public_key()
        pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        steps: list[tuple[dict[str, Any], dict[str, Any] | None]] = [
            (
                {"mode": "psk", "identity": "id-1", "key": KEY.upper()},
                {"mode": "psk", "details": {"identity": "id-1", "key": KEY}},
            ),
            (
                {"mode": "psk", "identity": "id-2", "key": "ff" * 32},
                {"mode": "psk", "details": {"identity": "id-2", "key": "ff" * 32}},
            ),
            ({"mode": "rpk", "public_key": pem}, {"mode": "rpk", "details": {"key": spki(key)}}),
            ({"mode": "rpk", "public_key": spki(key).upper()}, {"mode": "rpk", "details": {"key": spki(key)}}),
            ({"mode": "x509"}, {"mode": "x509"}),
            ({"mode": "x509", "certificate": certificate_for("dev-1")}, {"mode": "x509"}),
            ({"mode": "none"}, None),
        ]
        for fields, expected in steps:
            services.credential_set(actor=admin_user, endpoint=endpoint, **fields)
            assert drain() == 1
            entries = leshan.security_entries()
            if expected is None:
                assert entries == {}
            else:
                assert entries == {"dev-1": {"endpoint": "dev-1", "tls": expected}}, fields
            assert pushes(endpoint)[-1].status == Status.CONFIRMED
        assert [op.kind for op in pushes(endpoint)] == ["SECURITY_PUT"] * 6 + ["SECURITY_DELETE"]
        assert [r.method for r in leshan.requests] == ["PUT"] * 6 + ["DELETE"]
        assert leshan.requests[-1].path == "/api/security/clients/dev-1"

    def test_removing_what_leshan_no_longer_holds_is_done(self, leshan: LeshanDouble, admin_user) -> None:
        endpoint = make_endpoint(name="dev-1")
        services.credential_set(actor=admin_user, endpoint=endpoint, mode="x509")
        drain()
        leshan.lose_security_store()
        services.credential_remove(actor=admin_user, endpoint=endpoint)
        drain()
        removal = pushes(endpoint)[-1]
        assert (removal.kind, removal.status) == ("SECURITY_DELETE", Status.CONFIRMED)
        assert removal.result["detail"] == "Leshan had no entry for it"

    def test_a_push_goes_before_the_device_s_own_operations_and_without_waiting_for_it(
        self, leshan: LeshanDouble, admin_user
    ) -> None:
        endpoint = make_endpoint(name="dev-1")
        write = queue.operation_enqueue(actor=admin_user, endpoint=endpoint, kind="WRITE", path="/3/0/14", value="+01")
        services.credential_set(actor=admin_user, endpoint=endpoint, mode="psk", key=KEY)
        drain()
        assert [op.status for op in pushes(endpoint)] == [Status.QUEUED, Status.CONFIRMED]
        write.refresh_from_db()
        assert write.attempts == 0  # the device is offline: its write waits, the push did not
        assert leshan.security_entries()["dev-1"]["tls"]["details"]["key"] == KEY

    def test_an_identity_leshan_holds_for_another_device_is_a_failure_naming_it(
        self, leshan: LeshanDouble, admin_user
    ) -> None:
        leshan.security_add(
            {"endpoint": "stranger", "tls": {"mode": "psk", "details": {"identity": "id-1", "key": "ab"}}}
        )
        endpoint = make_endpoint(name="dev-1")
        services.credential_set(actor=admin_user, endpoint=endpoint, mode="psk", identity="id-1", key=KEY)
        drain()
        failed = pushes(endpoint)[-1]
        assert failed.status == Status.FAILED
        assert failed.last_error == "PSK identity 'id-1' is already used in Leshan by device 'stranger'"
        assert "dev-1" not in leshan.security_entries()

    def test_leshan_down_then_back_gets_the_credentials(self, settings, admin_user) -> None:
        port = free_port()
        settings.LESHAN_URL = f"http://127.0.0.1:{port}"
        settings.OPERATION_MAX_ATTEMPTS = 1
        endpoint = make_endpoint(name="dev-1")
        services.credential_set(actor=admin_user, endpoint=endpoint, mode="psk", key=KEY)
        for _ in range(3):
            drain()
            EndpointOperation.objects.update(next_attempt_at=timezone.now())
        waiting = pushes(endpoint)[-1]
        assert (waiting.status, waiting.attempts) == (Status.QUEUED, 0)
        assert waiting.last_error.startswith("Leshan unreachable")
        double = LeshanDouble()
        with double.run_in_thread(port=port):
            drain()
            assert double.security_entries()["dev-1"]["tls"]["details"] == {"identity": "dev-1", "key": KEY}
        assert pushes(endpoint)[-1].status == Status.CONFIRMED

    def test_a_later_change_supersedes_a_push_not_yet_sent(self, leshan: LeshanDouble, admin_user) -> None:
        endpoint = make_endpoint(name="dev-1")
        services.credential_set(actor=admin_user, endpoint=endpoint, mode="psk", key=KEY)
        services.credential_set(actor=admin_user, endpoint=endpoint, mode="x509")
        assert drain() == 1
        assert [op.status for op in pushes(endpoint)] == [Status.CANCELLED, Status.CONFIRMED]
        assert leshan.security_entries()["dev-1"]["tls"] == {"mode": "x509"}

    def test_an_operation_left_sending_is_pushed_again(self, leshan: LeshanDouble, admin_user, settings) -> None:
        endpoint = make_endpoint(name="dev-1")
        services.credential_set(actor=admin_user, endpoint=endpoint, mode="x509")
        long_ago = timezone.now() - dt.timedelta(seconds=settings.OPERATION_SENDING_TIMEOUT + 5)
        EndpointOperation.objects.update(status=Status.SENDING, last_attempt_at=long_ago)
        assert queue.operations_recover() == 1
        drain()
        assert pushes(endpoint)[-1].status == Status.CONFIRMED
        assert "dev-1" in leshan.security_entries()


# --- the API ------------------------------------------------------------------------------------------------


def api(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def put(client: Client, name: str, body: dict[str, Any]) -> Any:
    return client.put(f"/api/v1/endpoints/{name}/credentials", data=json.dumps(body), content_type="application/json")


@pytest.mark.django_db
class TestApi:
    def test_the_key_is_in_the_answer_that_set_it_only(self, admin_user, operator) -> None:
        make_endpoint(name="dev-1")
        response = put(api(admin_user), "dev-1", {"mode": "psk", "key": "generate"})
        assert response.status_code == 200, response.content
        body = response.json()
        key = body["key"]
        assert len(key) == 32
        assert body["generated"] is True
        assert (body["mode"], body["identity"], body["key_bits"]) == ("psk", "dev-1", 128)
        assert body["push"]["status"] == "QUEUED"
        assert body["operation"] == EndpointOperation.objects.get().pk
        for user in (admin_user, operator):
            shown = api(user).get("/api/v1/endpoints/dev-1/credentials")
            assert shown.status_code == 200
            assert key not in shown.content.decode()
            assert "key" not in shown.json()
            assert shown.json()["push"]["state"] == "push queued"
        operation = api(operator).get(f"/api/v1/operations/{body['operation']}")
        assert operation.status_code == 200
        assert key not in operation.content.decode()
        listed = api(operator).get("/api/v1/operations")
        assert key not in listed.content.decode()

    def test_a_given_key_is_echoed_once_too(self, admin_user) -> None:
        make_endpoint(name="dev-1")
        body = put(api(admin_user), "dev-1", {"mode": "psk", "identity": "id", "key": KEY}).json()
        assert (body["key"], body["generated"]) == (KEY, False)

    def test_delete_removes_and_queues_the_removal(self, admin_user) -> None:
        make_endpoint(name="dev-1")
        put(api(admin_user), "dev-1", {"mode": "x509"})
        response = api(admin_user).delete("/api/v1/endpoints/dev-1/credentials")
        assert response.status_code == 200
        assert response.json()["mode"] == "none"
        assert response.json()["push"]["kind"] == "SECURITY_DELETE"

    def test_roles(self, viewer, operator, admin_user) -> None:
        make_endpoint(name="dev-1")
        assert api(viewer).get("/api/v1/endpoints/dev-1/credentials").status_code == 403
        assert put(api(operator), "dev-1", {"mode": "x509"}).status_code == 403
        assert api(operator).delete("/api/v1/endpoints/dev-1/credentials").status_code == 403
        assert put(api(admin_user), "nobody", {"mode": "x509"}).status_code == 404
        assert not Credential.objects.exists()

    def test_a_site_admin_manages_their_site_s_devices_only(self, admin_user) -> None:
        north, south = Site.objects.create(name="north"), Site.objects.create(name="south")
        make_endpoint(name="dev-north", site=north)
        make_endpoint(name="dev-south", site=south)
        nadia = make_user(None, username="nadia")
        SiteRole.objects.create(user=nadia, site=north, role=Role.ADMIN)
        assert put(api(nadia), "dev-north", {"mode": "x509"}).status_code == 200
        foreign = put(api(nadia), "dev-south", {"mode": "x509"})
        assert (foreign.status_code, foreign.json()["detail"]) == (404, "endpoint: no endpoint named 'dev-south'")

    def test_bad_input_is_422_naming_the_field(self, admin_user) -> None:
        make_endpoint(name="dev-1")
        response = put(api(admin_user), "dev-1", {"mode": "psk", "key": "nothex"})
        assert response.status_code == 422
        assert response.json()["path"] == "key"
        response = put(api(admin_user), "dev-1", {"key": KEY})
        assert response.status_code == 422
        assert "mode" in response.json()["detail"]
        assert not Credential.objects.exists()

    def test_an_identity_conflict_is_409(self, admin_user) -> None:
        make_endpoint(name="dev-1")
        make_endpoint(name="dev-2")
        put(api(admin_user), "dev-1", {"mode": "psk", "identity": "same", "key": KEY})
        response = put(api(admin_user), "dev-2", {"mode": "psk", "identity": "same", "key": KEY})
        assert response.status_code == 409
        assert response.json() == {
            "detail": "identity: PSK identity 'same' is already used by device 'dev-1'",
            "path": "identity",
        }

    def test_the_admin_shows_no_key(self, admin_user) -> None:
        endpoint = make_endpoint(name="dev-1")
        key = services.credential_set(actor=admin_user, endpoint=endpoint, mode="psk", key="generate").key
        assert key is not None
        client = api(make_user(Role.ADMIN, username="root", is_staff=True, is_superuser=True))
        for url in ("/admin/", f"/admin/core/endpoint/{endpoint.pk}/change/", "/admin/core/endpoint/"):
            page = client.get(url)
            assert page.status_code == 200, url
            assert key not in page.content.decode()
        assert client.get("/admin/core/credential/").status_code == 404
