"""The data migration that makes firmware campaigns rollouts (telemetry 0006, then firmware 0004 drops the
campaign tables): campaign rows made in the old schema come out as firmware rollouts with the same number,
site, status, waves, current wave, reason, timestamps, devices, skips and links to their updates; the old
ids and URLs name them still, new campaigns continue the numbering, and the way back restores them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from core.roles import Role
from firmware import services
from telemetry.models import Rollout, RolloutDevice
from tests.factories import make_endpoint, make_user

BEFORE = [("telemetry", "0006_notifications_more"), ("firmware", "0003_campaign_site")]
AFTER = [("telemetry", "0008_campaigns_into_rollouts"), ("firmware", "0004_campaigns_into_rollouts")]
WHEN = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def migrate(targets: list[tuple[str, str]]) -> Any:
    """Migrate the test database to ``targets``; the apps (historical models) of that state."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


@pytest.fixture
def old_schema(transactional_db: None) -> Iterator[Any]:
    """The schema before campaigns were rollouts; the latest one again afterwards, whatever happened."""
    try:
        yield migrate(BEFORE)
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def old_campaigns(apps: Any) -> dict[str, Any]:
    """Two campaigns as the old schema stored them: "spring" (halted in wave 1 of 2, one device updated,
    one failed, one waiting, one skipped; of site North) and "autumn" (number 7, completed, no site)."""
    Site = apps.get_model("core", "Site")
    Endpoint = apps.get_model("core", "Endpoint")
    Firmware = apps.get_model("firmware", "Firmware")
    FirmwareUpdate = apps.get_model("firmware", "FirmwareUpdate")
    Campaign = apps.get_model("firmware", "Campaign")
    CampaignDevice = apps.get_model("firmware", "CampaignDevice")
    north = Site.objects.create(name="North")
    devices = [Endpoint.objects.create(name=f"m-{n}", site=north) for n in range(4)]
    image = Firmware.objects.create(
        version="2.0.0", file="firmware/2.0.0.bin", filename="2.0.0.bin", size=1, sha256="0"
    )
    spring = Campaign.objects.create(
        name="spring",
        firmware=image,
        status="HALTED",
        waves=[2, 1],
        current_wave=0,
        max_failure_rate=0.1,
        reason="wave 1: 1 of 2 devices failed (50 % > 10 % allowed); later waves not started",
        site=north,
        finished_at=WHEN + dt.timedelta(hours=1),
    )
    Campaign.objects.filter(pk=spring.pk).update(created_at=WHEN, updated_at=WHEN + dt.timedelta(hours=1))
    ok = FirmwareUpdate.objects.create(endpoint=devices[0], firmware=image, status="SUCCEEDED", campaign=spring)
    bad = FirmwareUpdate.objects.create(endpoint=devices[1], firmware=image, status="FAILED", campaign=spring)
    CampaignDevice.objects.create(campaign=spring, endpoint=devices[0], wave=0, update=ok)
    CampaignDevice.objects.create(campaign=spring, endpoint=devices[1], wave=0, update=bad)
    CampaignDevice.objects.create(campaign=spring, endpoint=devices[2], wave=1)
    CampaignDevice.objects.create(campaign=spring, endpoint=devices[3], wave=None, skipped="already running 2.0.0")
    autumn = Campaign.objects.create(
        id=7, name="autumn", firmware=image, status="COMPLETED", waves=[1], max_failure_rate=0.5, reason="done"
    )
    other = Endpoint.objects.create(name="m-loose")
    update = FirmwareUpdate.objects.create(endpoint=other, firmware=image, status="SUCCEEDED", campaign=autumn)
    CampaignDevice.objects.create(campaign=autumn, endpoint=other, wave=0, update=update)
    return {"north": north.pk, "spring": spring.pk, "ok": ok.pk, "bad": bad.pk, "autumn_update": update.pk}


def test_campaigns_become_firmware_rollouts_with_their_numbers_and_links(old_schema: Any) -> None:
    made = old_campaigns(old_schema)
    migrate(AFTER)
    spring = Rollout.objects.get(number=made["spring"])
    assert (spring.kind, spring.name, spring.firmware.version, spring.status) == (
        "FIRMWARE",
        "spring",
        "2.0.0",
        "HALTED",
    )
    assert (spring.waves, spring.current_wave, spring.max_failure_rate) == ([2, 1], 0, 0.1)
    assert spring.reason == "wave 1: 1 of 2 devices failed (50 % > 10 % allowed); later waves not started"
    assert (spring.site_id, spring.sites) == (made["north"], [made["north"]])
    assert (spring.created_at, spring.finished_at) == (WHEN, WHEN + dt.timedelta(hours=1))
    members = list(RolloutDevice.objects.filter(rollout=spring).order_by("endpoint__name"))
    assert [(m.endpoint.name, m.wave, m.update_id, m.skipped) for m in members] == [
        ("m-0", 0, made["ok"], ""),
        ("m-1", 0, made["bad"], ""),
        ("m-2", 1, None, ""),
        ("m-3", None, None, "already running 2.0.0"),
    ]
    autumn = Rollout.objects.get(number=7)
    assert (autumn.status, autumn.site_id, autumn.sites, autumn.reason) == ("COMPLETED", None, [None], "done")
    assert RolloutDevice.objects.get(rollout=autumn).update_id == made["autumn_update"]

    # The old ids and URLs name the same campaigns; the rollout engine counts their devices.
    viewer = make_user(Role.VIEWER, username="mig-viewer")
    client = Client()
    client.force_login(viewer)
    detail = client.get(f"/api/v1/campaigns/{made['spring']}").json()
    assert (detail["id"], detail["name"], detail["progress"]["succeeded"], detail["progress"]["failed"]) == (
        made["spring"],
        "spring",
        1,
        1,
    )
    assert [d["update"]["campaign"] if d["update"] else None for d in detail["devices"]] == [
        made["spring"],
        made["spring"],
        None,
        None,
    ]
    listed = client.get(f"/api/v1/rollouts/fw-{made['spring']}").json()
    assert (listed["status"], listed["done"], listed["failed"], listed["skipped"]) == ("halted", 1, 1, 1)
    assert client.get("/firmware/campaigns/7/").status_code == 200

    # A new campaign continues the numbering.
    newer = services.campaign_create(
        actor=make_user(Role.OPERATOR, username="mig-operator"),
        name="winter",
        firmware=spring.firmware,
        endpoints=[make_endpoint(name="m-new")],
        waves=[100],
    )
    assert newer.number == 8


def test_the_way_back_restores_the_campaigns(old_schema: Any) -> None:
    made = old_campaigns(old_schema)
    migrate(AFTER)
    apps = migrate(BEFORE)
    Campaign = apps.get_model("firmware", "Campaign")
    FirmwareUpdate = apps.get_model("firmware", "FirmwareUpdate")
    spring = Campaign.objects.get(pk=made["spring"])
    assert (spring.status, spring.site_id, spring.waves, spring.created_at) == ("HALTED", made["north"], [2, 1], WHEN)
    assert sorted(spring.devices.values_list("endpoint__name", "wave", "skipped")) == [
        ("m-0", 0, ""),
        ("m-1", 0, ""),
        ("m-2", 1, ""),
        ("m-3", None, "already running 2.0.0"),
    ]
    assert set(FirmwareUpdate.objects.filter(campaign_id=made["spring"]).values_list("pk", flat=True)) == {
        made["ok"],
        made["bad"],
    }
    assert Campaign.objects.get(pk=7).name == "autumn"
