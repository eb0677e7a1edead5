"""The sync: Fieldhub's credentials compared with Leshan's security store (the double), what it lost or holds
otherwise pushed again, the differences reported; on demand (the API) and on the workers' sweep."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from core.models import Site, SiteRole, SyncReport
from core.permissions import SYSTEM
from core.roles import Role
from core.simulator.double.server import LeshanDouble
from telemetry import hooks
from telemetry.downlink.dispatcher import Dispatcher
from telemetry.provisioning import services
from tests.factories import make_endpoint, make_user
from tests.servers import free_port

pytestmark = pytest.mark.django_db(transaction=True)
KEY = "00112233445566778899aabbccddeeff"


def drain() -> int:
    return asyncio.run(Dispatcher(listen=False).drain(within=30))


@pytest.fixture
def leshan(settings: Any) -> Iterator[LeshanDouble]:
    double = LeshanDouble()
    with double.run_in_thread() as url:
        settings.LESHAN_URL = url
        settings.LESHAN_TIMEOUT = 2
        yield double


def provisioned(admin: Any, *names: str) -> None:
    for index, name in enumerate(names):
        endpoint = make_endpoint(name=name)
        services.credential_set(actor=admin, endpoint=endpoint, mode="psk", identity=f"id-{index}", key=KEY)
    drain()


def api(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_store_lost_is_pushed_again(leshan: LeshanDouble, admin_user) -> None:
    provisioned(admin_user, "dev-1", "dev-2", "dev-3")
    before = leshan.security_entries()
    leshan.lose_security_store()
    response = api(admin_user).post("/api/v1/provisioning/sync")
    assert response.status_code == 200, response.content
    report = response.json()
    assert report["ok"] is True
    assert (report["in_leshan"], report["in_fieldhub"]) == (0, 3)
    assert (report["missing"], report["missing_count"], report["repushed"]) == (["dev-1", "dev-2", "dev-3"], 3, 3)
    assert drain() == 3
    assert leshan.security_entries() == before
    again = services.credentials_sync(actor=admin_user)
    assert (again.missing_count, again.different_count, again.repushed) == (0, 0, 0)


def test_an_entry_changed_behind_fieldhub_s_back_is_pushed_again_and_strangers_reported(
    leshan: LeshanDouble, admin_user
) -> None:
    provisioned(admin_user, "dev-1", "dev-2")
    leshan.security_add({"endpoint": "dev-1", "tls": {"mode": "psk", "details": {"identity": "id-0", "key": "FF"}}})
    leshan.security_add({"endpoint": "stranger", "tls": {"mode": "x509"}})
    report = services.credentials_sync(actor=admin_user)
    assert (report.different, report.missing, report.unknown) == (["dev-1"], [], ["stranger"])
    drain()
    assert leshan.security_entries()["dev-1"]["tls"]["details"]["key"] == KEY
    assert "stranger" in leshan.security_entries()  # reported, not removed


def test_a_push_under_way_is_not_a_difference(leshan: LeshanDouble, admin_user) -> None:
    endpoint = make_endpoint(name="dev-1")
    services.credential_set(actor=admin_user, endpoint=endpoint, mode="x509")  # queued, not sent yet
    report = services.credentials_sync(actor=admin_user)
    assert (report.missing_count, report.repushed) == (0, 0)


def test_a_site_admin_syncs_their_site_and_is_told_of_no_stranger(leshan: LeshanDouble, admin_user) -> None:
    north = Site.objects.create(name="north")
    nadia = make_user(None, username="nadia")
    SiteRole.objects.create(user=nadia, site=north, role=Role.ADMIN)
    services.credential_set(actor=admin_user, endpoint=make_endpoint(name="dev-n", site=north), mode="x509")
    services.credential_set(actor=admin_user, endpoint=make_endpoint(name="dev-x"), mode="x509")
    drain()
    leshan.lose_security_store()
    leshan.security_add({"endpoint": "stranger", "tls": {"mode": "x509"}})
    report = services.credentials_sync(actor=nadia)
    assert (report.missing, report.unknown, report.unknown_count, report.in_fieldhub) == (["dev-n"], [], 0, 1)


def test_leshan_down_is_reported(settings, admin_user) -> None:
    settings.LESHAN_URL = f"http://127.0.0.1:{free_port()}"
    response = api(admin_user).post("/api/v1/provisioning/sync")
    assert response.status_code == 200
    assert response.json()["ok"] is False
    assert response.json()["error"].startswith("Leshan did not answer: Leshan unreachable")


def test_only_admins_sync(viewer, operator) -> None:
    for user in (viewer, operator):
        assert api(user).post("/api/v1/provisioning/sync").status_code == 403
    assert not SyncReport.objects.exists()


def test_the_sweep_syncs_at_most_every_n_minutes(leshan: LeshanDouble, admin_user, settings) -> None:
    settings.PROVISIONING_SYNC_MINUTES = 10
    assert services.credentials_sync_periodic is not None
    assert services.credentials_sync_periodic in hooks.periodic_tasks()
    assert services.credentials_sync_periodic() is None  # no credentials: Leshan not even asked
    assert not [r for r in leshan.requests if r.path.startswith("/api/security")]
    provisioned(admin_user, "dev-1")
    leshan.lose_security_store()
    report = services.credentials_sync_periodic()
    assert report is not None
    assert (report.trigger, report.requested_by, report.repushed) == ("sweep", None, 1)
    assert services.credentials_sync_periodic() is None
    SyncReport.objects.update(started_at=report.started_at - dt.timedelta(minutes=11))
    assert services.credentials_sync_periodic() is not None


def test_the_dispatcher_s_sweep_runs_it(leshan: LeshanDouble, admin_user) -> None:
    provisioned(admin_user, "dev-1")
    leshan.lose_security_store()
    for task in hooks.periodic_tasks():
        task()
    drain()
    assert "dev-1" in leshan.security_entries()
    assert SyncReport.objects.get().trigger == "sweep"


def test_system_may_sync(leshan: LeshanDouble) -> None:
    assert services.credentials_sync(actor=SYSTEM).ok is True
