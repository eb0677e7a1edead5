"""Firmware images, the object 5 state machine against the Leshan double, and campaigns in waves."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from core.errors import Conflict, FieldhubError, PermissionDenied
from core.lwm2m.nodes import Path, Reading
from core.lwm2m.types import DataType
from core.models import Endpoint
from core.roles import Role
from core.simulator.client import SimulatedClient
from core.simulator.double.server import LeshanDouble
from firmware import selectors, services
from firmware.models import Firmware, FirmwareUpdate
from realtime import groups
from telemetry import announce as telemetry_announce
from telemetry import ingest
from telemetry.downlink.dispatcher import Dispatcher
from telemetry.models import EndpointOperation, Rollout
from tests.factories import make_firmware, make_user
from tests.firmware.reports import finish

Status = FirmwareUpdate.Status
IMAGE = b"\x7fELF" + bytes(range(256)) * 40  # 10,244 bytes


def logged_in(user: Any, **kwargs: Any) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def device(name: str = "dev-fw") -> Endpoint:
    ingest.ingest(endpoint_name=name, readings=[Reading(Path(10240, 0, 0), DataType.TIME, 1)])
    return Endpoint.objects.get(name=name)


def report(name: str, *values: tuple[str, Any]) -> None:
    """What the device tells Leshan, as the bridge posts it."""
    types = {
        "/5/0/3": DataType.INTEGER,
        "/5/0/5": DataType.INTEGER,
        "/3/0/3": DataType.STRING,
        "/10240/0/0": DataType.TIME,
    }
    readings = [Reading(Path.parse(path), types[path], value) for path, value in values]
    ingest.ingest(endpoint_name=name, readings=readings)


def upload(version: str = "2.0.0", content: bytes = IMAGE, name: str = "app.bin") -> Firmware:
    admin = make_user(Role.ADMIN)
    return services.firmware_upload(actor=admin, version=version, upload=SimpleUploadedFile(name, content))


# --- images -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
class TestImages:
    def test_an_upload_is_stored_with_its_size_and_sha256(self, settings) -> None:
        image = upload()
        assert (image.size, image.sha256) == (len(IMAGE), hashlib.sha256(IMAGE).hexdigest())
        assert image.file.name.startswith("firmware/")
        with image.file.open("rb") as handle:
            assert handle.read() == IMAGE

    @pytest.mark.parametrize(
        ("version", "content", "status", "message"),
        [
            ("2.0.0", b"", 422, "file: the firmware file is empty"),
            ("", IMAGE, 422, "version: a version is 1 to 64 letters"),
            ("2.0 beta", IMAGE, 422, "version: a version is 1 to 64 letters"),
            ("2.0.0", b"x" * 2049, 413, "file: the file has 2049 bytes; the limit is 2048"),
        ],
    )
    def test_bad_uploads_are_refused(self, settings, version, content, status, message) -> None:
        settings.FIRMWARE_MAX_BYTES = 2048
        with pytest.raises(FieldhubError) as info:
            upload(version, content)
        assert (info.value.status, str(info.value).startswith(message)) == (status, True)
        assert not Firmware.objects.exists()

    def test_a_version_is_uploaded_once(self) -> None:
        upload("2.0.0")
        with pytest.raises(Conflict, match=r"firmware 2\.0\.0 exists already"):
            upload("2.0.0")

    def test_only_admins_upload(self, operator) -> None:
        with pytest.raises(PermissionDenied):
            services.firmware_upload(actor=operator, version="3", upload=SimpleUploadedFile("a.bin", IMAGE))

    def test_the_api_uploads_multipart(self, admin_user) -> None:
        response = logged_in(admin_user).post(
            "/api/v1/firmware", {"version": "9.9.9", "file": SimpleUploadedFile("fw.bin", IMAGE)}
        )
        assert response.status_code == 201
        body = response.json()
        assert (body["version"], body["size"], body["sha256"]) == (
            "9.9.9",
            len(IMAGE),
            hashlib.sha256(IMAGE).hexdigest(),
        )
        assert body["package_uri"].startswith("/firmware/package/")
        again = logged_in(admin_user).post(
            "/api/v1/firmware", {"version": "9.9.9", "file": SimpleUploadedFile("f", IMAGE)}
        )
        assert again.status_code == 409

    def test_an_image_in_use_is_not_deleted(self, admin_user, operator) -> None:
        image = upload()
        services.firmware_update_start(actor=operator, endpoint=device(), firmware=image)
        response = logged_in(admin_user).delete(f"/api/v1/firmware/{image.version}")
        assert response.status_code == 409
        assert response.json()["detail"] == "firmware: firmware 2.0.0 is used by updates or campaigns and stays"

    def test_an_unused_image_is_deleted_with_its_file(self, admin_user, django_capture_on_commit_callbacks) -> None:
        image = upload()
        storage, name = image.file.storage, image.file.name
        with django_capture_on_commit_callbacks(execute=True):
            assert logged_in(admin_user).delete(f"/api/v1/firmware/{image.version}").status_code == 204
        assert not Firmware.objects.exists()
        assert not storage.exists(name)


@pytest.mark.django_db
class TestPackageDownload:
    def url(self, image: Firmware) -> str:
        return services.package_uri(image)

    def test_devices_download_without_login(self, client: Client) -> None:
        image = upload()
        response = client.get(self.url(image))
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == IMAGE
        assert (response["Content-Length"], response["Content-Type"]) == (str(len(IMAGE)), "application/octet-stream")
        assert response["Accept-Ranges"] == "bytes"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Content-Disposition"] == 'attachment; filename="app.bin"'
        assert response["ETag"] == f'"{image.sha256}"'  # a device can check what it downloaded
        assert response["X-Firmware-Version"] == image.version

    @pytest.mark.parametrize(
        ("header", "start", "end"),
        [("bytes=0-9", 0, 9), ("bytes=100-", 100, len(IMAGE) - 1), ("bytes=-16", len(IMAGE) - 16, len(IMAGE) - 1),
         ("bytes=10000-99999", 10000, len(IMAGE) - 1)],
    )  # fmt: skip
    def test_a_range_is_a_206_of_that_part(self, client: Client, header: str, start: int, end: int) -> None:
        response = client.get(self.url(upload()), HTTP_RANGE=header)
        assert response.status_code == 206
        assert b"".join(response.streaming_content) == IMAGE[start : end + 1]
        assert response["Content-Range"] == f"bytes {start}-{end}/{len(IMAGE)}"
        assert response["Content-Length"] == str(end - start + 1)

    @pytest.mark.parametrize(
        ("header", "start", "end"),
        [("bytes=0-" + "9" * 5000, 0, len(IMAGE) - 1), ("bytes=-" + "9" * 5000, 0, len(IMAGE) - 1),
         ("bytes=" + "0" * 5000 + "7-8", 7, 8), ("BYTES=1-2", 1, 2), ("bytes=, 3-4 ,", 3, 4)],
    )  # fmt: skip
    def test_a_range_of_thousands_of_digits_or_odd_spelling_is_still_a_206(
        self, client: Client, header: str, start: int, end: int
    ) -> None:
        response = client.get(self.url(upload()), HTTP_RANGE=header)
        assert response.status_code == 206
        assert b"".join(response.streaming_content) == IMAGE[start : end + 1]
        assert response["Content-Range"] == f"bytes {start}-{end}/{len(IMAGE)}"

    @pytest.mark.parametrize(
        "header", ["bytes=20000-", f"bytes={len(IMAGE)}-", f"bytes={len(IMAGE)}-{len(IMAGE) + 5}", "bytes=-0",
                   "bytes=" + "9" * 5000 + "-"],
    )  # fmt: skip
    def test_a_valid_range_that_selects_nothing_is_416(self, client: Client, header: str) -> None:
        response = client.get(self.url(upload()), HTTP_RANGE=header)
        assert response.status_code == 416
        assert response["Content-Range"] == f"bytes */{len(IMAGE)}"

    @pytest.mark.parametrize(
        "header",
        ["lines=1-2", "bytes=9-3", "bytes=-", "bytes=", "bytes", "bytes=0-1,5-6", "bytes=0-1, -5", "bytes=abc",
         "bytes=0x10-", "bytes=1-2-3", "bytes=0 - 9", "bytes=+1-2", "bytes=\u0661-2", "=0-1"],
    )  # fmt: skip
    def test_a_range_it_does_not_act_on_is_ignored_with_the_whole_image(self, client: Client, header: str) -> None:
        # RFC 9110 §14.2: an unknown unit, an invalid range or several ranges: the server ignores the header.
        image = upload()
        response = client.get(self.url(image), HTTP_RANGE=header)
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == IMAGE
        assert response["Content-Length"] == str(len(IMAGE))
        assert "Content-Range" not in response

    def test_if_range_with_another_etag_or_a_date_gets_the_whole_image(self, client: Client) -> None:
        image = upload()
        url = self.url(image)
        same = client.get(url, HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=f'"{image.sha256}"')
        assert (same.status_code, b"".join(same.streaming_content)) == (206, IMAGE[:10])
        for validator in ('"another"', f'W/"{image.sha256}"', "Wed, 21 Oct 2026 07:28:00 GMT"):
            other = client.get(url, HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=validator)
            assert (other.status_code, b"".join(other.streaming_content)) == (200, IMAGE), validator

    @pytest.mark.parametrize("extra", [{}, {"HTTP_RANGE": "bytes=0-9"}])
    def test_head_answers_the_headers_of_the_whole_image_without_a_body(self, client: Client, extra: dict) -> None:
        image = upload()
        response = client.head(self.url(image), **extra)
        assert response.status_code == 200
        assert response.content == b""
        assert response["Content-Length"] == str(len(IMAGE))
        assert response["Content-Type"] == "application/octet-stream"
        assert response["ETag"] == f'"{image.sha256}"'
        assert response["X-Firmware-Version"] == image.version
        assert response["Accept-Ranges"] == "bytes"
        assert "Content-Range" not in response

    def test_other_methods_are_refused(self, client: Client) -> None:
        url = self.url(upload())
        assert [client.generic(method, url).status_code for method in ("POST", "PUT", "DELETE")] == [405] * 3

    def test_a_wrong_token_or_name_is_404(self, client: Client) -> None:
        image = upload()
        assert client.get(f"/firmware/package/nope/{image.filename}").status_code == 404
        assert client.get(f"/firmware/package/{image.download_token}/other.bin").status_code == 404

    def test_the_package_uri_can_be_absolute(self, settings) -> None:
        settings.FIRMWARE_BASE_URL = "http://fw.example.com:8000"
        image = upload()
        assert (
            services.package_uri(image) == f"http://fw.example.com:8000/firmware/package/{image.download_token}/app.bin"
        )


# --- one device's update ---------------------------------------------------------------------------------


def operations(endpoint: Endpoint) -> list[tuple[str, str, Any]]:
    return [
        (op.kind, op.path, (op.payload or {}).get("node", {}).get("value"))
        for op in EndpointOperation.objects.filter(endpoint=endpoint).order_by("id")
    ]


@pytest.mark.django_db
class TestStateMachine:
    def start(self, operator) -> tuple[Endpoint, FirmwareUpdate]:
        endpoint = device()
        return endpoint, services.firmware_update_start(actor=operator, endpoint=endpoint, firmware=upload())

    def test_starting_queues_the_package_uri(self, operator) -> None:
        endpoint, update = self.start(operator)
        assert update.status == Status.QUEUED
        assert operations(endpoint) == [("WRITE", "/5/0/1", services.package_uri(update.firmware))]

    def test_a_second_update_of_a_device_is_409(self, operator) -> None:
        endpoint, _ = self.start(operator)
        other = make_firmware(version="3.0.0")
        with pytest.raises(Conflict, match="dev-fw has an update under way already"):
            services.firmware_update_start(actor=operator, endpoint=endpoint, firmware=other)
        body = json.dumps({"endpoint": "dev-fw", "version": "3.0.0"})
        response = logged_in(operator).post("/api/v1/firmware-updates", body, content_type="application/json")
        assert response.status_code == 409
        assert response.json()["detail"] == "endpoint: dev-fw has an update under way already"

    def test_a_viewer_cannot_start_one(self, viewer) -> None:
        with pytest.raises(PermissionDenied):
            services.firmware_update_start(actor=viewer, endpoint=device(), firmware=upload())

    def test_the_happy_path(self, operator) -> None:
        endpoint, update = self.start(operator)
        report("dev-fw", ("/5/0/3", 1))
        assert FirmwareUpdate.objects.get(pk=update.pk).status == Status.DOWNLOADING
        report("dev-fw", ("/5/0/3", 2))
        update.refresh_from_db()
        assert update.status == Status.DOWNLOADED
        assert operations(endpoint)[-1] == ("EXECUTE", "/5/0/2", None)
        report("dev-fw", ("/5/0/3", 3))
        assert FirmwareUpdate.objects.get(pk=update.pk).status == Status.UPDATING
        report("dev-fw", ("/10240/0/0", 1))  # reboots, registers again
        report("dev-fw", ("/3/0/3", "2.0.0"), ("/5/0/3", 0), ("/5/0/5", 1))
        update.refresh_from_db()
        assert (update.status, update.result, update.error) == (Status.SUCCEEDED, 1, "")
        assert update.finished_at is not None

    @pytest.mark.parametrize("result", range(2, 10))
    def test_each_failure_result_fails_the_update_with_its_reason(self, operator, result: int) -> None:
        _, update = self.start(operator)
        report("dev-fw", ("/5/0/3", 1), ("/5/0/5", result))
        update.refresh_from_db()
        assert (update.status, update.result) == (Status.FAILED, result)
        assert update.error == FirmwareUpdate.Result(result).label

    def test_the_old_version_after_the_reboot_is_a_failure(self, operator) -> None:
        _, update = self.start(operator)
        report("dev-fw", ("/5/0/3", 1), ("/5/0/3", 2), ("/5/0/3", 3))
        report("dev-fw", ("/10240/0/0", 1))
        report("dev-fw", ("/3/0/3", "1.0.0"))
        update.refresh_from_db()
        assert (update.status, update.result, update.error) == (
            Status.FAILED,
            8,
            "the device runs 1.0.0 after the update",
        )

    def test_an_update_without_progress_times_out(self, operator, settings) -> None:
        _, update = self.start(operator)
        report("dev-fw", ("/5/0/3", 1))
        assert services.firmware_updates_expire() == 0
        old = timezone.now() - dt.timedelta(seconds=settings.FIRMWARE_PHASE_TIMEOUT + 1)
        FirmwareUpdate.objects.filter(pk=update.pk).update(phase_started_at=old)
        assert services.firmware_updates_expire() == 1
        update.refresh_from_db()
        assert update.status == Status.FAILED
        assert update.error.startswith("timed out: no progress while downloading")

    def test_cancel_before_anything_was_sent(self, operator) -> None:
        endpoint, update = self.start(operator)
        services.firmware_update_cancel(actor=operator, update=update)
        update.refresh_from_db()
        assert update.status == Status.CANCELLED
        assert EndpointOperation.objects.get(pk=update.uri_operation_id).status == "CANCELLED"
        assert len(operations(endpoint)) == 1  # nothing to tell the device

    def test_cancel_after_the_uri_was_sent_resets_the_device(self, operator) -> None:
        endpoint, update = self.start(operator)
        EndpointOperation.objects.filter(pk=update.uri_operation_id).update(status="CONFIRMED")
        update.refresh_from_db()
        services.firmware_update_cancel(actor=operator, update=update)
        assert operations(endpoint)[-1] == ("WRITE", "/5/0/1", "")
        with pytest.raises(Conflict):
            services.firmware_update_cancel(actor=operator, update=update)

    def test_cancel_completes_the_queued_operations_through_the_queue_and_announces_them(
        self, operator, monkeypatch, django_capture_on_commit_callbacks
    ) -> None:
        endpoint, update = self.start(operator)
        EndpointOperation.objects.filter(pk=update.uri_operation_id).update(status="CONFIRMED")
        report("dev-fw", ("/5/0/3", 2))  # downloaded: the Update execute is queued
        update.refresh_from_db()
        execute = update.execute_operation
        assert execute is not None
        assert execute.status == "QUEUED"
        pushed: list[tuple[str, str]] = []
        monkeypatch.setattr(telemetry_announce, "publish", lambda group, event: pushed.append((group, event.key)))
        with django_capture_on_commit_callbacks(execute=True):
            services.firmware_update_cancel(actor=operator, update=update)
        execute.refresh_from_db()
        assert execute.status == "CANCELLED"
        assert execute.completed_at is not None
        assert (groups.endpoint(endpoint.pk), f"operation-{execute.pk}") in pushed
        assert (groups.OPERATIONS, f"operation-{execute.pk}") in pushed
        assert operations(endpoint)[-1] == ("WRITE", "/5/0/1", "")  # the device got the URI: told to reset


# (reports in order, the status after, how many executes were queued)
OUT_OF_ORDER = [
    ([("/5/0/5", 0), ("/5/0/3", 1)], Status.DOWNLOADING, 0),
    ([("/5/0/3", 2), ("/5/0/3", 2), ("/5/0/3", 2)], Status.DOWNLOADED, 1),  # DOWNLOADED three times: one execute
    ([("/5/0/3", 2)], Status.DOWNLOADED, 1),  # DOWNLOADING never seen
    ([("/5/0/3", 2), ("/5/0/3", 1)], Status.DOWNLOADED, 1),  # a late DOWNLOADING does not go back
    ([("/5/0/3", 3), ("/5/0/3", 2)], Status.UPDATING, 0),  # nor does a late DOWNLOADED (no execute either)
    ([("/5/0/5", 1)], Status.QUEUED, 0),  # a result of success alone decides nothing
    ([("/5/0/5", 5), ("/5/0/3", 2)], Status.FAILED, 0),  # a result before its state
    ([("/5/0/3", 1), ("/5/0/3", 0)], Status.DOWNLOADING, 0),  # idle without a failure result: keeps waiting
    ([("/5/0/3", 2), ("/3/0/3", "2.0.0")], Status.SUCCEEDED, 1),  # the new version before UPDATING was seen
    ([("/5/0/5", 10)], Status.CANCELLED, 0),  # the device cancelled
    ([("/5/0/5", 11), ("/5/0/3", 2)], Status.DOWNLOADED, 1),  # deferred: not a failure
    ([("/5/0/5", 4), ("/5/0/3", 2), ("/5/0/3", 3)], Status.FAILED, 0),  # after it finished, reports are ignored
    ([("/3/0/3", "1.0.0"), ("/5/0/3", 1)], Status.DOWNLOADING, 0),  # the old version before rebooting: no verdict
]


@pytest.mark.django_db
@pytest.mark.parametrize(("reports", "status", "executes"), OUT_OF_ORDER, ids=[str(row[0]) for row in OUT_OF_ORDER])
def test_late_repeated_and_out_of_order_reports(operator, reports, status, executes) -> None:
    endpoint = device()
    update = services.firmware_update_start(actor=operator, endpoint=endpoint, firmware=upload())
    for path, value in reports:
        report("dev-fw", (path, value))
    update.refresh_from_db()
    assert update.status == status
    assert EndpointOperation.objects.filter(endpoint=endpoint, kind="EXECUTE", path="/5/0/2").count() == executes


@pytest.mark.django_db(transaction=True)
def test_an_update_end_to_end_through_the_leshan_double(settings, operator) -> None:
    """The URI and the execute go through the real downlink queue to the double; the device's reports come
    back through the ingest, as the flownexus bridge posts them."""
    client = SimulatedClient(
        endpoint="dev-fw", resources={"/5/0/1": (DataType.STRING, ""), "/5/0/2": (DataType.NONE, None)}
    )
    double = LeshanDouble(clients=[client])
    with double.run_in_thread() as url:
        settings.LESHAN_URL = url
        settings.FIRMWARE_BASE_URL = "http://fieldhub.test"
        update = services.firmware_update_start(actor=operator, endpoint=device(), firmware=upload())
        asyncio.run(Dispatcher(listen=False).drain())
        assert client.resources["/5/0/1"] == (DataType.STRING, services.package_uri(update.firmware))
        report("dev-fw", ("/5/0/3", 1))
        report("dev-fw", ("/5/0/3", 2))
        asyncio.run(Dispatcher(listen=False).drain())
        assert client.executions == [("/5/0/2", "")]
        report("dev-fw", ("/5/0/3", 3))
        report("dev-fw", ("/10240/0/0", 2))
        report("dev-fw", ("/3/0/3", "2.0.0"))
    update.refresh_from_db()
    assert update.status == Status.SUCCEEDED
    assert EndpointOperation.objects.get(pk=update.execute_operation_id).status == "CONFIRMED"


# --- campaigns ----------------------------------------------------------------------------------------------


def fleet(count: int) -> list[Endpoint]:
    return [device(f"c-{i:02d}") for i in range(count)]


def wave_updates(campaign: Rollout, wave: int) -> list[FirmwareUpdate]:
    return [
        m.update
        for m in campaign.devices.filter(wave=wave).select_related("update", "update__endpoint", "update__firmware")
    ]


@pytest.mark.django_db
class TestCampaigns:
    def test_waves_from_percentages_and_from_counts(self) -> None:
        assert services.wave_sizes(200, [1, 10, 100], "percent") == [2, 18, 180]
        assert services.wave_sizes(12, [1, 10, 100], "percent") == [1, 1, 10]  # rounded up: 1.2 devices are 2
        assert services.wave_sizes(10, [2, 3, 0], "devices") == [2, 3, 5]
        assert services.wave_sizes(10, [4, 6], "devices") == [4, 6]
        for waves, unit in (([10, 5, 100], "percent"), ([1, 50], "percent"), ([], "percent"), ([1], "thirds")):
            with pytest.raises(FieldhubError):
                services.wave_sizes(10, waves, unit)

    def test_a_campaign_advances_wave_by_wave_and_completes(self, operator, django_capture_on_commit_callbacks) -> None:
        image = upload()
        campaign = services.campaign_create(
            actor=operator, name="roll-out", firmware=image, endpoints=fleet(10), waves=[1, 3, 0], unit="devices"
        )
        assert campaign.waves == [1, 3, 6]
        assert [u.status for u in wave_updates(campaign, 0)] == [Status.QUEUED]
        assert all(u is None for u in wave_updates(campaign, 1))
        for wave in range(3):
            with django_capture_on_commit_callbacks(execute=True):
                for update in wave_updates(campaign, wave):
                    finish(update, ok=True)
            campaign.refresh_from_db()
        assert campaign.status == Rollout.Status.COMPLETED
        assert campaign.reason == "all 3 waves done: 10 of 10 devices updated"

    def test_a_wave_with_too_many_failures_halts_the_campaign(
        self, operator, django_capture_on_commit_callbacks
    ) -> None:
        campaign = services.campaign_create(
            actor=operator,
            name="risky",
            firmware=upload(),
            endpoints=fleet(10),
            waves=[4, 0],
            unit="devices",
            max_failure_rate=0.25,
        )
        with django_capture_on_commit_callbacks(execute=True):
            for n, update in enumerate(wave_updates(campaign, 0)):
                finish(update, ok=n >= 2)  # 2 of 4 fail: 50 % > 25 %
        campaign.refresh_from_db()
        assert campaign.status == Rollout.Status.HALTED
        assert campaign.reason == "wave 1: 2 of 4 devices failed (50 % > 25 % allowed); later waves not started"
        assert all(u is None for u in wave_updates(campaign, 1))

    def test_pause_holds_the_next_wave_and_resume_starts_it(self, operator, django_capture_on_commit_callbacks) -> None:
        campaign = services.campaign_create(
            actor=operator, name="paced", firmware=upload(), endpoints=fleet(3), waves=[1, 0], unit="devices"
        )
        services.campaign_pause(actor=operator, campaign=campaign)
        with django_capture_on_commit_callbacks(execute=True):
            finish(wave_updates(campaign, 0)[0], ok=True)
        assert all(u is None for u in wave_updates(campaign, 1))
        services.campaign_resume(actor=operator, campaign=campaign)
        assert [u.status for u in wave_updates(campaign, 1)] == [Status.QUEUED, Status.QUEUED]
        with pytest.raises(Conflict):
            services.campaign_resume(actor=operator, campaign=campaign)

    def test_abort_cancels_what_is_under_way(self, operator) -> None:
        campaign = services.campaign_create(
            actor=operator, name="stop", firmware=upload(), endpoints=fleet(4), waves=[100]
        )
        services.campaign_abort(actor=operator, campaign=campaign)
        campaign.refresh_from_db()
        assert campaign.status == Rollout.Status.ABORTED
        assert {u.status for u in wave_updates(campaign, 0)} == {Status.CANCELLED}

    def test_a_device_already_updating_is_skipped_with_the_reason(self, operator) -> None:
        endpoints = fleet(2)
        services.firmware_update_start(actor=operator, endpoint=endpoints[0], firmware=make_firmware(version="1.5"))
        campaign = services.campaign_create(
            actor=operator, name="c", firmware=upload(), endpoints=endpoints, waves=[100]
        )
        skipped = campaign.devices.get(endpoint=endpoints[0])
        assert (skipped.wave, skipped.update, skipped.skipped) == (None, None, "an update to 1.5 is under way")

    def test_devices_are_chosen_by_their_firmware_version(self, operator) -> None:
        endpoints = fleet(3)
        report("c-01", ("/3/0/3", "1.0.0"))
        report("c-02", ("/3/0/3", "1.1.0"))
        chosen = selectors.campaign_endpoints(user=operator, from_version="1.0.0")
        assert [e.name for e in chosen] == ["c-01"]
        assert len(selectors.campaign_endpoints(user=operator)) == len(endpoints)
        with pytest.raises(FieldhubError, match="no endpoint named 'nope'"):
            selectors.campaign_endpoints(user=operator, names=["nope"])

    def test_the_api_creates_and_shows_progress(self, operator) -> None:
        fleet(5)
        upload()
        body = {"name": "api", "version": "2.0.0", "waves": [20, 100], "max_failure_rate": 0.5}
        response = logged_in(operator).post("/api/v1/campaigns", json.dumps(body), content_type="application/json")
        assert response.status_code == 201
        created = response.json()
        assert (created["waves"], created["status"], created["progress"]["active"]) == ([1, 4], "RUNNING", 1)
        detail = logged_in(operator).get(f"/api/v1/campaigns/{created['id']}").json()
        assert [d["wave"] for d in detail["devices"]] == [0, 1, 1, 1, 1]
        paused = logged_in(operator).post(f"/api/v1/campaigns/{created['id']}/pause")
        assert paused.json()["status"] == "PAUSED"


@pytest.mark.django_db(transaction=True)
async def test_each_state_change_is_pushed_to_the_firmware_page(settings) -> None:
    from channels.db import database_sync_to_async
    from channels.layers import channel_layers

    from realtime.publisher import publisher
    from tests.realtime.test_live import connect, receive_all

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    publisher.bind_loop(asyncio.get_running_loop())
    operator = await database_sync_to_async(make_user)(Role.OPERATOR)
    endpoint = await database_sync_to_async(device)()
    socket = await connect("/ws/firmware/", operator)
    assert (await socket.connect())[0]
    update = await database_sync_to_async(
        lambda: services.firmware_update_start(actor=operator, endpoint=endpoint, firmware=upload())
    )()
    pushed = [await receive_all(socket, quiet=0.6)]
    for state in (1, 2, 3):
        await database_sync_to_async(report)("dev-fw", ("/5/0/3", state))
        pushed.append(await receive_all(socket, quiet=0.6))
    await socket.disconnect()
    await asyncio.get_running_loop().run_in_executor(None, publisher.flush)
    channel_layers.backends.clear()
    words = ["waiting to send the package URI", "downloading", "downloaded", "updating"]
    assert '<tbody hx-swap-oob="afterbegin:#update-rows">' in pushed[0]  # a new update joins the list
    assert f'<tr id="update-{update.pk}">' in pushed[0]
    for html, word in zip(pushed, words, strict=True):
        if html is not pushed[0]:
            assert f'<tr id="update-{update.pk}" hx-swap-oob="true">' in html  # then its row is replaced
        assert f">{word}</span>" in html
