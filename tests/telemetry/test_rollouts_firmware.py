"""A firmware update is one kind of rollout: POST /api/v1/rollouts and the new-rollout page start one (the
image checked before anything is stored, a 422 naming the field), the one wave engine moves it on as its
updates finish, halts it on failures only, and its rows reach the rollout pages of the sites it reaches."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from core.permissions import SYSTEM
from core.sites.services import site_create
from firmware.models import FirmwareUpdate
from realtime import groups
from telemetry.models import Rollout, RolloutDevice
from telemetry.rollouts import announce, selectors, services
from telemetry.rollouts.selectors import Selection
from tests.factories import make_endpoint, make_firmware
from tests.firmware.reports import finish, report

pytestmark = pytest.mark.django_db


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post(client: Client, body: dict[str, Any]) -> Any:
    return client.post("/api/v1/rollouts", json.dumps(body), content_type="application/json")


def nothing_stored() -> bool:
    return not Rollout.objects.exists() and not FirmwareUpdate.objects.exists()


BODY = {"name": "spring", "kind": "firmware", "firmware": "2.0.0", "selection": {"name": "fw-"}, "waves": [100]}


class TestCreate:
    def test_the_api_starts_a_firmware_rollout_known_as_its_campaign(self, operator: Any) -> None:
        devices = [make_endpoint(name=f"fw-{n}") for n in range(3)]
        report("fw-2", ("/3/0/3", "2.0.0"))  # already on it: skipped, in no wave
        make_firmware(version="2.0.0")
        answer = post(logged_in(operator), {**BODY, "waves": [1, 0], "unit": "devices"})
        assert answer.status_code == 201, answer.content
        body = answer.json()
        rollout = Rollout.objects.get()
        assert (body["id"], body["kind"], body["operation"]) == (f"fw-{rollout.number}", "firmware", "firmware 2.0.0")
        assert (body["url"], body["api_url"]) == (
            f"/firmware/campaigns/{rollout.number}/",
            f"/api/v1/campaigns/{rollout.number}",
        )
        assert (body["total"], body["skipped"], body["active"], rollout.waves) == (3, 1, 1, [1, 1])
        assert [w["queued"] for w in body["wave_counts"]] == [1, 0]
        first = RolloutDevice.objects.get(rollout=rollout, wave=0)
        assert first.update.endpoint == devices[0]
        assert first.update.status == FirmwareUpdate.Status.QUEUED
        assert RolloutDevice.objects.get(rollout=rollout, wave__isnull=True).skipped == "already running 2.0.0"
        campaign = logged_in(operator).get(f"/api/v1/campaigns/{rollout.number}").json()
        assert (campaign["name"], campaign["version"], campaign["progress"]["active"]) == ("spring", "2.0.0", 1)

    def test_an_image_given_by_its_id_will_do(self, operator: Any) -> None:
        make_endpoint(name="fw-0")
        image = make_firmware(version="2.0.0")
        answer = post(logged_in(operator), {**BODY, "firmware": image.pk})
        assert answer.status_code == 201, answer.content
        assert Rollout.objects.get().firmware == image

    @pytest.mark.parametrize(
        ("change", "status", "path", "detail"),
        [
            ({"firmware": None}, 422, "firmware", "a firmware rollout needs the image"),
            ({"firmware": " "}, 422, "firmware", "a firmware rollout needs the image"),
            ({"firmware": "9.9.9"}, 422, "firmware", "no firmware '9.9.9'"),
            ({"firmware": 10**9}, 422, "firmware", "no firmware '1000000000'"),
            ({"name": ""}, 422, "name", "a campaign needs a name"),
            ({"waves": [100, 50]}, 422, "waves", "each wave needs a device"),
            ({"selection": {"name": "nothing-like-this"}}, 422, "selection", "reaches no device"),
        ],
    )
    def test_it_refuses_a_bad_field_and_stores_nothing(
        self, operator: Any, change: dict[str, Any], status: int, path: str, detail: str
    ) -> None:
        make_endpoint(name="fw-0")
        make_firmware(version="2.0.0")
        answer = post(logged_in(operator), {**BODY, **change})
        assert answer.status_code == status, answer.content
        assert answer.json()["path"] == path
        assert detail in answer.json()["detail"]
        assert nothing_stored()

    def test_devices_all_on_the_version_are_a_409_and_nothing_is_stored(self, operator: Any) -> None:
        make_endpoint(name="fw-0")
        report("fw-0", ("/3/0/3", "2.0.0"))
        make_firmware(version="2.0.0")
        answer = post(logged_in(operator), BODY)
        assert answer.status_code == 409
        assert answer.json()["detail"].endswith("none of the 1 device is left to update: 1 already runs 2.0.0")
        assert nothing_stored()

    def test_a_viewer_is_refused(self, viewer: Any) -> None:
        make_endpoint(name="fw-0")
        make_firmware(version="2.0.0")
        assert post(logged_in(viewer), BODY).status_code == 403
        assert nothing_stored()

    def test_the_new_rollout_page_offers_and_starts_it(self, operator: Any) -> None:
        make_endpoint(name="fw-0")
        make_firmware(version="2.0.0")
        client = logged_in(operator)
        form = client.get("/rollouts/new/").content.decode()
        assert '<option value="FIRMWARE">firmware update</option>' in form
        assert '<option value="2.0.0">' in form
        answer = client.post(
            "/rollouts/new/",
            {"name": "page", "kind": "FIRMWARE", "image": "2.0.0", "select": "filter", "q": "fw-", "waves": "100"},
        )
        rollout = Rollout.objects.get()
        assert (answer.status_code, answer["Location"]) == (302, f"/firmware/campaigns/{rollout.number}/")
        refused = client.post(
            "/rollouts/new/",
            {"name": "page", "kind": "FIRMWARE", "image": "7.7", "select": "filter", "q": "fw-", "waves": "100"},
        )
        assert refused.status_code == 422
        assert "firmware: no firmware &#x27;7.7&#x27;" in refused.content.decode()
        assert Rollout.objects.count() == 1

    def test_numbers_go_on_from_the_highest(self, operator: Any) -> None:
        devices = [make_endpoint(name=f"fw-{n}") for n in range(2)]
        image = make_firmware(version="2.0.0")
        first = services.rollout_create(
            actor=operator, name="a", kind="FIRMWARE", firmware="2.0.0", selection=Selection(name="fw-0"), waves=[100]
        )
        services.rollout_create(
            actor=operator, name="cmd", kind="READ", path="/3/0/0", selection=Selection(), waves=[100]
        )
        from firmware.services import campaign_create

        second = campaign_create(actor=operator, name="b", firmware=image, endpoints=devices[1:], waves=[100])
        assert (first.number, second.number) == (1, 2)
        assert Rollout.objects.filter(kind="READ").get().number is None
        ids = [row["id"] for row in logged_in(operator).get("/api/v1/rollouts").json()["items"]]
        assert sorted(ids) == sorted(["fw-1", "fw-2", str(Rollout.objects.get(kind="READ").pk)])


class TestWaves:
    def test_failures_halt_it_and_cancelled_updates_do_not(
        self, operator: Any, django_capture_on_commit_callbacks: Any
    ) -> None:
        for n in range(4):
            make_endpoint(name=f"fw-{n}")
        make_firmware(version="2.0.0")
        rollout = services.rollout_create(
            actor=operator,
            name="w",
            kind="FIRMWARE",
            firmware="2.0.0",
            selection=Selection(name="fw-"),
            waves=[2, 0],
            unit="devices",
            max_failure_rate=0.0,
        )
        first = list(RolloutDevice.objects.filter(rollout=rollout, wave=0).select_related("update"))
        from firmware.services import firmware_update_cancel

        with django_capture_on_commit_callbacks(execute=True):
            firmware_update_cancel(actor=operator, update=first[0].update)
            finish(first[1].update, ok=True)
        rollout.refresh_from_db()
        assert (rollout.status, rollout.current_wave) == (Rollout.Status.RUNNING, 1), rollout.reason
        second = list(RolloutDevice.objects.filter(rollout=rollout, wave=1).select_related("update"))
        with django_capture_on_commit_callbacks(execute=True):
            finish(second[0].update, ok=False)
            finish(second[1].update, ok=True)
        rollout.refresh_from_db()
        assert rollout.status == Rollout.Status.HALTED
        assert rollout.reason == "wave 2: 1 of 2 devices failed (50 % > 0 % allowed)"
        assert selectors.summary_of(selectors.rollout_find(user=operator, pk=rollout.pk)).cancelled == 1

    def test_the_rollout_api_pauses_resumes_and_aborts_it_with_its_updates(self, operator: Any) -> None:
        for n in range(3):
            make_endpoint(name=f"fw-{n}")
        make_firmware(version="2.0.0")
        client = logged_in(operator)
        created = post(client, {**BODY, "waves": [1, 0], "unit": "devices"}).json()
        url = f"/api/v1/rollouts/{created['id']}"
        assert post_to(client, f"{url}/pause").json()["status"] == "paused"
        assert post_to(client, f"{url}/pause").status_code == 409
        assert post_to(client, f"{url}/resume").json()["status"] == "running"
        aborted = post_to(client, f"{url}/abort").json()
        assert (aborted["status"], aborted["reason"]) == (
            "aborted",
            "aborted by otto-operator: 1 update under way cancelled",
        )
        assert set(FirmwareUpdate.objects.values_list("status", flat=True)) == {FirmwareUpdate.Status.CANCELLED}


def post_to(client: Client, url: str) -> Any:
    return client.post(url, "{}", content_type="application/json")


class TestLive:
    def test_its_rows_go_to_the_rollout_groups_of_its_sites(self, operator: Any, monkeypatch: Any) -> None:
        north, south = site_create(actor=SYSTEM, name="North"), site_create(actor=SYSTEM, name="South")
        make_endpoint(name="fw-n", site=north)
        make_endpoint(name="fw-s", site=south)
        make_endpoint(name="other", site=south)
        make_firmware(version="2.0.0")
        pushed: list[tuple[str, str]] = []
        monkeypatch.setattr(announce, "publish", lambda group, event: pushed.append((group, event.key)))
        rollout = services.rollout_create(
            actor=operator, name="live", kind="FIRMWARE", firmware="2.0.0", selection=Selection(name="fw-"), waves=[100]
        )
        assert sorted(rollout.sites) == sorted([north.pk, south.pk])
        heard = {group for group, key in pushed if key == f"rollout-row-{rollout.pk}"}
        assert heard == {
            groups.ROLLOUTS,
            groups.on_site(groups.ROLLOUTS, north.pk),
            groups.on_site(groups.ROLLOUTS, south.pk),
        }
        pushed.clear()
        finish(RolloutDevice.objects.filter(rollout=rollout).select_related("update").first().update, ok=True)
        assert {group for group, key in pushed if key == f"rollout-row-{rollout.pk}"} == heard


def test_a_device_that_got_an_update_as_its_wave_started_is_skipped_and_the_others_start(
    operator: Any, monkeypatch: Any
) -> None:
    """The wave starts its updates in one go; one device taken meanwhile (the look before missed it) makes
    the database refuse the lot, and the wave starts them one by one, that device skipped with the reason."""
    from firmware import rollouts as firmware_rollouts
    from firmware.services import firmware_update_start

    devices = [make_endpoint(name=f"fw-{n}") for n in range(3)]
    image = make_firmware(version="2.0.0")
    busy = firmware_update_start(actor=operator, endpoint=devices[1], firmware=make_firmware(version="1.5"))
    monkeypatch.setattr(firmware_rollouts.selectors, "members_waiting", lambda **_: {})
    real = firmware_rollouts.selectors.updates_under_way
    looks: list[int] = []

    def missing_the_busy_one(**kwargs: Any) -> Any:
        looks.append(1)
        return {} if len(looks) <= 2 else real(**kwargs)  # the plan's and the wave's look miss it

    monkeypatch.setattr(firmware_rollouts.selectors, "updates_under_way", missing_the_busy_one)
    rollout = services.rollout_start(
        actor=operator,
        name="race",
        fields={"kind": Rollout.FIRMWARE, "firmware_id": image.pk},
        devices=[selectors.Device(d.pk, d.name, None, False, False) for d in devices],
        waves=[100],
    )
    members = {m.endpoint.name: m for m in RolloutDevice.objects.filter(rollout=rollout).select_related("update")}
    assert members["fw-1"].update is None
    assert members["fw-1"].skipped == "an update to 1.5 is under way"
    assert {members[name].update.status for name in ("fw-0", "fw-2")} == {FirmwareUpdate.Status.QUEUED}
    assert FirmwareUpdate.objects.get(endpoint=devices[1]) == busy
