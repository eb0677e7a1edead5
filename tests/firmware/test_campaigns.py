"""Rollout rules (firmware/services.py), the same through the service, the API and the pages: skipped devices
are not failures, busy or up-to-date devices are skipped and said so, wave specifications that would collapse
are refused, a halted campaign can be resumed, an aborted update leaves nothing to retry; and the reads behind
the pages, in a constant number of queries."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from core.errors import Conflict, FieldhubError, PermissionDenied
from core.models import Endpoint
from firmware import announce, partials, selectors, services
from firmware.models import Firmware, FirmwareUpdate
from telemetry.downlink import queue
from telemetry.models import EndpointOperation, Rollout, RolloutDevice
from tests.factories import make_endpoint, make_firmware
from tests.firmware.reports import finish, report

pytestmark = pytest.mark.django_db
Status = FirmwareUpdate.Status


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def fleet(count: int) -> list[Endpoint]:
    return [make_endpoint(name=f"c-{n:02d}") for n in range(count)]


def wave(campaign: Rollout, number: int) -> list[RolloutDevice]:
    return list(campaign.devices.filter(wave=number).select_related("endpoint", "update", "update__firmware"))


def create(actor: Any, endpoints: list[Endpoint], **kwargs: Any) -> Rollout:
    kwargs.setdefault("name", "c")
    kwargs.setdefault("firmware", Firmware.objects.filter(version="2.0.0").first() or make_firmware(version="2.0.0"))
    kwargs.setdefault("waves", [100])
    return services.campaign_create(actor=actor, endpoints=endpoints, **kwargs)


def stored() -> tuple[int, int, int]:
    return Rollout.objects.count(), RolloutDevice.objects.count(), FirmwareUpdate.objects.count()


# --- skipped is not failed ---------------------------------------------------------------------------------


class TestSkipped:
    def test_devices_with_an_update_under_way_are_skipped_and_do_not_fail_the_wave(
        self, operator, django_capture_on_commit_callbacks
    ) -> None:
        """The issue's case: 11 of 12 devices were in another campaign; it halted with "11 of 12 failed"."""
        devices = fleet(12)
        create(operator, devices[1:], name="spring", firmware=make_firmware(version="1.0.5"))
        autumn = create(operator, devices, name="autumn")
        assert autumn.waves == [1]  # planned over the one device left
        skipped = autumn.devices.get(endpoint__name="c-03")
        assert (skipped.wave, skipped.update, skipped.skipped) == (
            None,
            None,
            'an update to 1.0.5 is under way (campaign "spring")',
        )
        with django_capture_on_commit_callbacks(execute=True):
            finish(wave(autumn, 0)[0].update, ok=True)
        autumn.refresh_from_db()
        assert autumn.status == Rollout.Status.COMPLETED, autumn.reason
        assert autumn.reason == "the wave is done: 1 of 12 devices updated, 11 skipped"
        assert selectors.progress(autumn) == {
            "total": 12,
            "succeeded": 1,
            "failed": 0,
            "skipped": 11,
            "active": 0,
            "waiting": 0,
            "percent": 100,
        }

    def test_a_device_skipped_as_its_wave_starts_does_not_count_toward_the_failure_rate(
        self, operator, django_capture_on_commit_callbacks
    ) -> None:
        devices = fleet(4)
        campaign = create(operator, devices, waves=[2, 0], unit="devices", max_failure_rate=0.4)
        services.firmware_update_start(actor=operator, endpoint=devices[2], firmware=make_firmware(version="1.5"))
        with django_capture_on_commit_callbacks(execute=True):
            for member in wave(campaign, 0):
                finish(member.update, ok=True)
        second = wave(campaign, 1)
        assert [(m.endpoint.name, m.skipped) for m in second] == [
            ("c-02", "an update to 1.5 is under way"),
            ("c-03", ""),
        ]
        with django_capture_on_commit_callbacks(execute=True):
            finish(second[1].update, ok=True)
        campaign.refresh_from_db()
        assert campaign.status == Rollout.Status.COMPLETED, campaign.reason  # 0 of 1 failed, not 1 of 2
        assert campaign.reason == "all 2 waves done: 3 of 4 devices updated, 1 skipped"

    def test_a_device_that_runs_the_target_by_its_wave_is_skipped_and_said_so(
        self, operator, django_capture_on_commit_callbacks
    ) -> None:
        devices = fleet(3)
        campaign = create(operator, devices, waves=[1, 0], unit="devices")
        report("c-02", ("/3/0/3", "2.0.0"))  # updated by other means meanwhile
        with django_capture_on_commit_callbacks(execute=True):
            finish(wave(campaign, 0)[0].update, ok=True)
        assert [(m.endpoint.name, m.skipped, m.update is None) for m in wave(campaign, 1)] == [
            ("c-01", "", False),
            ("c-02", "already running 2.0.0", True),
        ]

    def test_devices_already_on_the_target_are_planned_in_no_wave(self, operator) -> None:
        devices = fleet(12)
        for device in devices[:2]:
            report(device.name, ("/3/0/3", "2.0.0"))
        campaign = create(operator, devices, waves=[10, 100])
        assert campaign.waves == [1, 9]  # of the 10 that need it: the canary is a device that updates
        assert [m.endpoint.name for m in wave(campaign, 0)] == ["c-02"]
        skipped = list(campaign.devices.filter(wave__isnull=True).values_list("endpoint__name", "skipped"))
        assert skipped == [("c-00", "already running 2.0.0"), ("c-01", "already running 2.0.0")]
        assert not FirmwareUpdate.objects.filter(endpoint__in=devices[:2]).exists()

    def test_a_wave_whose_devices_are_all_skipped_as_it_starts_moves_on_at_once(
        self, operator, django_capture_on_commit_callbacks
    ) -> None:
        devices = fleet(3)
        campaign = create(operator, devices, waves=[1, 1, 1], unit="devices")
        report("c-01", ("/3/0/3", "2.0.0"))
        with django_capture_on_commit_callbacks(execute=True):
            finish(wave(campaign, 0)[0].update, ok=True)
        campaign.refresh_from_db()
        assert campaign.current_wave == 2
        assert wave(campaign, 2)[0].update.status == Status.QUEUED

    def test_a_halt_names_the_skipped_devices_apart_from_the_failed(
        self, operator, django_capture_on_commit_callbacks
    ) -> None:
        devices = fleet(4)
        campaign = create(operator, devices, waves=[1, 2, 0], unit="devices", max_failure_rate=0.1)
        services.firmware_update_start(actor=operator, endpoint=devices[2], firmware=make_firmware(version="1.5"))
        with django_capture_on_commit_callbacks(execute=True):
            finish(wave(campaign, 0)[0].update, ok=True)
        with django_capture_on_commit_callbacks(execute=True):
            finish(wave(campaign, 1)[0].update, ok=False)
        campaign.refresh_from_db()
        assert campaign.status == Rollout.Status.HALTED
        assert campaign.reason == (
            "wave 2: 1 of 1 device failed (100 % > 10 % allowed), 1 skipped; later waves not started"
        )


# --- what a campaign may be made of --------------------------------------------------------------------------


class TestRefusals:
    def test_it_refuses_a_campaign_whose_devices_are_all_in_another_campaign(self, operator) -> None:
        devices = fleet(3)
        create(operator, devices, name="spring", waves=[1, 0], unit="devices", firmware=make_firmware(version="1.0.5"))
        before = stored()
        with pytest.raises(Conflict) as refused:
            create(operator, devices, name="autumn")
        assert str(refused.value) == (
            'endpoints: none of the 3 devices is left to update: 1 has an update under way (campaign "spring"), '
            '2 are waiting in campaign "spring" (running); abort that campaign to update them here'
        )
        assert stored() == before

    def test_the_api_refuses_it_too_and_stores_nothing(self, operator) -> None:
        devices = fleet(2)
        create(operator, devices, name="spring", firmware=make_firmware(version="1.0.5"))
        before = stored()
        body = {"name": "autumn", "version": "2.0.0", "waves": [100]}
        answer = logged_in(operator).post("/api/v1/campaigns", json.dumps(body), content_type="application/json")
        assert answer.status_code == 409
        detail = 'none of the 2 devices is left to update: 2 have an update under way (campaign "spring")'
        assert answer.json() == {"detail": f"endpoints: {detail}", "path": "endpoints"}
        assert stored() == before

    def test_devices_waiting_in_a_halted_campaign_are_taken_until_it_is_aborted(
        self, operator, django_capture_on_commit_callbacks
    ) -> None:
        devices = fleet(3)
        spring = create(operator, devices, name="spring", waves=[1, 0], unit="devices", max_failure_rate=0.0)
        with django_capture_on_commit_callbacks(execute=True):
            finish(wave(spring, 0)[0].update, ok=False)
        spring.refresh_from_db()
        assert spring.status == Rollout.Status.HALTED
        with pytest.raises(Conflict, match=r'2 are waiting in campaign "spring" \(halted\)'):
            create(operator, devices[1:], name="autumn", firmware=make_firmware(version="2.1.0"))
        services.campaign_abort(actor=operator, campaign=spring)
        autumn = create(operator, devices, name="autumn", firmware=Firmware.objects.get(version="2.1.0"))
        assert autumn.waves == [3]  # the device that failed in spring too: its update there is over

    def test_it_refuses_a_campaign_whose_devices_all_run_the_target(self, operator) -> None:
        devices = fleet(2)
        for device in devices:
            report(device.name, ("/3/0/3", "2.0.0"))
        with pytest.raises(Conflict, match=r"none of the 2 devices is left to update: 2 already run 2\.0\.0$"):
            create(operator, devices)
        assert stored() == (0, 0, 0)

    def test_devices_by_version_need_a_version(self, operator) -> None:
        with pytest.raises(FieldhubError, match="from_version: give the firmware version the devices run"):
            selectors.campaign_endpoints(user=operator, from_version=" ")
        fleet(1)
        with pytest.raises(FieldhubError, match=r"no device reports firmware version 9.9 \(3/0/3\)"):
            selectors.campaign_endpoints(user=operator, from_version="9.9")


# --- wave specifications ------------------------------------------------------------------------------------


class TestWaves:
    @pytest.mark.parametrize(
        ("count", "waves", "unit", "sizes"),
        [
            (200, [1, 10, 100], "percent", [2, 18, 180]),
            (12, [1, 10, 100], "percent", [1, 1, 10]),
            (12, [100], "percent", [12]),
            (12, [5, 0], "devices", [5, 7]),
            (12, [5, 7], "devices", [5, 7]),
            (12, [0], "devices", [12]),
            (3, [1, 1, 1], "devices", [1, 1, 1]),
        ],
    )
    def test_waves_from_percentages_and_device_counts(self, count, waves, unit, sizes) -> None:
        assert services.wave_sizes(count, waves, unit) == sizes

    @pytest.mark.parametrize(
        ("count", "waves", "unit", "message"),
        [
            (12, [0, 5], "devices", "0 (the rest) can only be the last wave"),
            (12, [1000], "devices", "the waves add up to 1000 devices; the campaign has 12 devices to update"),
            (12, [5, 0, 0], "devices", "0 (the rest) can only be the last wave"),
            (12, [5, -1], "devices", "a wave has 1 device or more (or 0, last, for the rest), not -1"),
            (
                12,
                [5, 7, 0],
                "devices",
                "the last wave (0: the rest) would be empty: 5, 7 take all 12 devices to update",
            ),
            (12, [4], "devices", "the waves add up to 4 of the 12 devices to update: end with 0 for the rest (4, 0)"),
            (2, [1, 1, 0], "devices", "3 waves for 2 devices to update: each wave needs a device at least"),
            (1, [50, 100], "percent", "2 waves for 1 device to update: each wave needs a device at least"),
            (10, [1, 10, 100], "percent", "wave 2 (10 %) would be empty: 1 % and 10 % of 10 devices both come to 1"),
            (12, [5, 5, 100], "percent", "percentages are cumulative and must rise: 5 after 5"),
            (12, [10, 5, 100], "percent", "percentages are cumulative and must rise: 5 after 10"),
            (12, [1, 50], "percent", "the last wave must reach 100 %, not 50 %"),
            (12, [0, 100], "percent", "a wave is 1 to 100 % of the devices, not 0"),
            (12, [50, 150], "percent", "a wave is 1 to 100 % of the devices, not 150"),
            (12, [], "percent", "waves is a list of whole numbers"),
            (12, [True], "percent", "waves is a list of whole numbers"),
            (12, [1], "thirds", 'unit is "percent" or "devices"'),
        ],
    )
    def test_specifications_that_would_collapse_are_refused_by_name(self, count, waves, unit, message) -> None:
        with pytest.raises(FieldhubError) as refused:
            services.wave_sizes(count, waves, unit)
        assert refused.value.detail.startswith(message), refused.value.detail
        assert refused.value.status == 422

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("1,,100", "item 2 of '1,,100' is empty"),
            (", 5", "item 1 of ', 5' is empty"),
            ("5, 0,", "item 3 of '5, 0,' is empty"),
            ("", "give the waves, e.g. 1, 10, 100"),
            ("1.5, 100", "waves are whole numbers separated by commas; '1.5' is not one"),
            ("-5, 0", "waves are whole numbers separated by commas; '-5' is not one"),
            ("99999999999", "99999999999… is too large for a wave"),
        ],
    )
    def test_typed_waves_with_an_empty_or_odd_item_are_refused(self, text, message) -> None:
        with pytest.raises(FieldhubError) as refused:
            services.campaign_waves_parse(text=text)
        assert refused.value.detail == message

    def test_typed_waves_are_numbers_separated_by_commas_or_spaces(self) -> None:
        assert services.campaign_waves_parse(text=" 1, 10 ,100 ") == [1, 10, 100]
        assert services.campaign_waves_parse(text="5 0") == [5, 0]

    @pytest.mark.parametrize(
        ("waves", "unit", "detail"),
        [
            ([0, 5], "devices", "waves: 0 (the rest) can only be the last wave"),
            ([1000], "devices", "waves: the waves add up to 1000 devices; the campaign has 12 devices to update"),
        ],
    )
    def test_the_api_refuses_them_and_stores_nothing(self, operator, waves, unit, detail) -> None:
        fleet(12)
        make_firmware(version="2.0.0")
        body = {"name": "odd", "version": "2.0.0", "waves": waves, "unit": unit}
        answer = logged_in(operator).post("/api/v1/campaigns", json.dumps(body), content_type="application/json")
        assert (answer.status_code, answer.json()) == (422, {"detail": detail, "path": "waves"})
        assert stored() == (0, 0, 0)

    def test_the_page_refuses_them_and_stores_nothing(self, operator) -> None:
        fleet(12)
        make_firmware(version="2.0.0")
        form = {"name": "odd", "version": "2.0.0", "select": "all", "waves": "1,,100", "unit": "percent"}
        answer = logged_in(operator).post("/firmware/campaigns/new/", {**form, "max_failure_percent": "10"})
        assert answer.status_code == 422
        assert "waves: item 2 of &#x27;1,,100&#x27; is empty" in answer.content.decode()
        assert 'value="1,,100"' in answer.content.decode()
        assert stored() == (0, 0, 0)


# --- resume after a halt ------------------------------------------------------------------------------------


def halted(operator: Any, count: int = 4, waves: list[int] | None = None, capture: Any = None) -> Rollout:
    campaign = create(operator, fleet(count), name="risky", waves=waves or [1, 0], unit="devices", max_failure_rate=0.0)
    with capture(execute=True):
        finish(wave(campaign, 0)[0].update, ok=False)
    campaign.refresh_from_db()
    assert campaign.status == Rollout.Status.HALTED
    return campaign


class TestResume:
    def test_an_operator_resumes_a_halted_campaign_and_its_next_wave_starts(
        self, operator, django_capture_on_commit_callbacks
    ) -> None:
        campaign = halted(operator, capture=django_capture_on_commit_callbacks)
        resumed = services.campaign_resume(actor=operator, campaign=campaign)
        assert (resumed.status, resumed.current_wave, resumed.finished_at) == (Rollout.Status.RUNNING, 1, None)
        assert (
            resumed.reason == "resumed after halt by otto-operator: wave 1: 1 of 1 device failed (100 % > 0 % allowed)"
        )
        assert {m.update.status for m in wave(campaign, 1)} == {Status.QUEUED}
        with django_capture_on_commit_callbacks(execute=True):
            for member in wave(campaign, 1):
                finish(member.update, ok=True)
        campaign.refresh_from_db()
        assert campaign.status == Rollout.Status.COMPLETED
        assert campaign.reason == (
            "all 2 waves done: 3 of 4 devices updated, 1 failed; "
            "resumed after halt by otto-operator: wave 1: 1 of 1 device failed (100 % > 0 % allowed)"
        )

    def test_the_api_resumes_a_halted_campaign(self, operator, django_capture_on_commit_callbacks) -> None:
        campaign = halted(operator, capture=django_capture_on_commit_callbacks)
        answer = logged_in(operator).post(f"/api/v1/campaigns/{campaign.number}/resume")
        assert answer.status_code == 200
        assert (answer.json()["status"], answer.json()["current_wave"]) == ("RUNNING", 1)
        assert answer.json()["reason"].startswith("resumed after halt by otto-operator: wave 1:")

    def test_the_page_resumes_a_halted_campaign(self, operator, django_capture_on_commit_callbacks) -> None:
        campaign = halted(operator, capture=django_capture_on_commit_callbacks)
        page = logged_in(operator).get(f"/firmware/campaigns/{campaign.number}/").content.decode()
        assert f'action="/firmware/campaigns/{campaign.number}/resume/" data-confirm="Resume' in page
        answer = logged_in(operator).post(f"/firmware/campaigns/{campaign.number}/resume/")
        assert answer.status_code == 302
        campaign.refresh_from_db()
        assert (campaign.status, campaign.current_wave) == (Rollout.Status.RUNNING, 1)

    def test_a_halt_of_the_last_wave_resumed_completes_the_campaign(
        self, operator, django_capture_on_commit_callbacks
    ) -> None:
        campaign = halted(operator, count=1, waves=[0], capture=django_capture_on_commit_callbacks)
        assert campaign.reason == "wave 1: 1 of 1 device failed (100 % > 0 % allowed)"
        resumed = services.campaign_resume(actor=operator, campaign=campaign)
        assert resumed.status == Rollout.Status.COMPLETED
        assert resumed.reason.startswith("the wave is done: 0 of 1 device updated, 1 failed; resumed after halt by")

    def test_a_viewer_cannot_resume_and_a_running_campaign_is_not_resumed(
        self, operator, viewer, django_capture_on_commit_callbacks
    ) -> None:
        campaign = halted(operator, capture=django_capture_on_commit_callbacks)
        with pytest.raises(PermissionDenied):
            services.campaign_resume(actor=viewer, campaign=campaign)
        campaign.refresh_from_db()
        assert campaign.status == Rollout.Status.HALTED
        services.campaign_resume(actor=operator, campaign=campaign)
        with pytest.raises(Conflict, match="the campaign is running: only a paused or halted one can be resumed"):
            services.campaign_resume(actor=operator, campaign=campaign)


# --- an aborted update leaves nothing to retry ------------------------------------------------------------


class TestRetry:
    def test_the_operations_of_an_aborted_campaign_cannot_be_retried(self, operator) -> None:
        campaign = create(operator, fleet(2))
        services.campaign_abort(actor=operator, campaign=campaign)
        uri = EndpointOperation.objects.filter(path="/5/0/1").first()
        assert uri.status == "CANCELLED"
        with pytest.raises(Conflict) as refused:
            queue.operation_retry(actor=operator, operation=uri)
        assert str(refused.value) == (
            f"operation {uri.pk} cannot be retried: it belongs to the firmware update of {uri.endpoint.name} "
            "to 2.0.0, which is cancelled (start a new update instead)"
        )
        uri.refresh_from_db()
        assert uri.status == "CANCELLED"
        answer = logged_in(operator).post(f"/api/v1/operations/{uri.pk}/retry")
        assert answer.status_code == 409
        assert answer.json()["detail"] == str(refused.value)

    def test_the_pages_offer_retry_only_where_it_is_allowed(self, operator) -> None:
        devices = fleet(2)
        campaign = create(operator, devices[:1])
        services.campaign_abort(actor=operator, campaign=campaign)
        own = queue.operation_enqueue(actor=operator, endpoint=devices[1], kind="READ", path="/3/0/0")
        queue.operation_cancel(actor=operator, operation=own)
        uri = EndpointOperation.objects.get(path="/5/0/1")
        page = logged_in(operator).get("/operations/").content.decode()
        assert f"Retry read /3/0/0 on {devices[1].name}" in page
        assert "Retry write /5/0/1" not in page
        device_page = logged_in(operator).get(f"/endpoints/{devices[0].name}/").content.decode()
        assert f'id="operation-{uri.pk}"' in device_page
        assert "Retry write /5/0/1" not in device_page
        from telemetry import partials

        for page_name in ("endpoint", "operations"):
            assert "Retry" not in partials.render_operation(uri.pk, page=page_name)
            assert "Retry" in partials.render_operation(own.pk, page=page_name)

    def test_a_failed_package_uri_write_of_an_update_under_way_may_be_retried(self, operator) -> None:
        device = fleet(1)[0]
        update = services.firmware_update_start(actor=operator, endpoint=device, firmware=make_firmware())
        EndpointOperation.objects.filter(pk=update.uri_operation_id).update(status="FAILED")
        retried = queue.operation_retry(actor=operator, operation=EndpointOperation.objects.get(path="/5/0/1"))
        assert retried.status == "QUEUED"

    def test_the_write_that_cancels_an_update_stays_retryable(self, operator) -> None:
        device = fleet(1)[0]
        update = services.firmware_update_start(actor=operator, endpoint=device, firmware=make_firmware())
        EndpointOperation.objects.filter(pk=update.uri_operation_id).update(status="CONFIRMED")  # the device got it
        services.firmware_update_cancel(actor=operator, update=update)
        update.refresh_from_db()
        cancel = update.cancel_operation
        EndpointOperation.objects.filter(pk=cancel.pk).update(status="FAILED")
        assert queue.operation_retry(actor=operator, operation=cancel).status == "QUEUED"


# --- the pages ---------------------------------------------------------------------------------------------


class TestPages:
    def test_the_firmware_page_lists_campaigns_in_a_constant_number_of_queries(
        self, viewer, operator, django_assert_num_queries, django_capture_on_commit_callbacks
    ) -> None:
        devices = fleet(8)
        first = create(operator, devices[:2], name="first")
        with django_capture_on_commit_callbacks(execute=True):
            finish(wave(first, 0)[0].update, ok=True)
        client = logged_in(viewer)
        client.get("/firmware/")  # the session and the role, as for any page
        # session, user, role, site roles, the alarms badge, images, updates, campaigns
        with django_assert_num_queries(8) as one:
            page = client.get("/firmware/").content.decode()
        assert f'<li id="campaign-row-{first.pk}"' in page
        assert 'value="50" aria-label="Progress of first"' in page
        assert "1 updated, 0 failed of 2" in page
        for n, device in enumerate(devices[2:]):
            create(operator, [device], name=f"more-{n}", firmware=make_firmware(version=f"3.{n}"))
        with django_assert_num_queries(len(one.captured_queries)):
            page = client.get("/firmware/").content.decode()
        assert page.count('<li id="campaign-row-') == 7

    def test_the_campaign_list_of_the_api_is_one_query_too(self, viewer, operator, django_assert_num_queries) -> None:
        devices = fleet(3)
        for n, device in enumerate(devices):
            create(operator, [device], name=f"c{n}", firmware=make_firmware(version=f"3.{n}"))
        client = logged_in(viewer)
        client.get("/api/v1/campaigns")
        with django_assert_num_queries(4):  # session, user, groups, the campaigns with their counts
            answer = client.get("/api/v1/campaigns")
        assert [c["progress"]["active"] for c in answer.json()] == [1, 1, 1]

    def test_a_viewer_gets_a_403_page_instead_of_the_new_campaign_form(self, viewer, operator) -> None:
        make_firmware(version="2.0.0")
        answer = logged_in(viewer).get("/firmware/campaigns/new/")
        assert answer.status_code == 403
        page = answer.content.decode()
        assert "this needs the operator role" in page
        assert "Start the campaign" not in page
        assert logged_in(operator).get("/firmware/campaigns/new/").status_code == 200

    def test_a_halted_campaign_page_says_what_did_not_start(self, operator, django_capture_on_commit_callbacks) -> None:
        campaign = halted(operator, capture=django_capture_on_commit_callbacks)
        page = logged_in(operator).get(f"/firmware/campaigns/{campaign.number}/").content.decode()
        assert page.count('<strong class="fw-not-started">not started</strong>: campaign halted') == 3
        assert '<strong class="fw-failed">failed</strong>: integrity check failure' in page
        assert "halted after wave 1 of 2" in page
        assert " ;" not in page
        assert 'data-confirm="Abort “risky”? Its later waves never start."' in page
        assert "0 updated" in page

    def test_the_pushed_rows_of_a_halted_campaign_say_not_started(
        self, operator, django_capture_on_commit_callbacks
    ) -> None:
        campaign = halted(operator, capture=django_capture_on_commit_callbacks)
        rows = partials.render_members(campaign.pk)
        assert rows.count('hx-swap-oob="true"') == 3
        assert rows.count("not started</strong>: campaign halted") == 3
        failed = wave(campaign, 0)[0]
        row = partials.render_members(campaign.pk, update_id=failed.update_id)
        assert f'<tr id="member-{failed.pk}" class="member m-failed" hx-swap-oob="true">' in row
        head = partials.render_campaign(campaign.pk)
        assert f'<header id="campaign-head-{campaign.pk}"' in head

    def test_a_halt_pushes_the_rows_that_did_not_start_and_a_wave_start_does_not(
        self, operator, monkeypatch, django_capture_on_commit_callbacks
    ) -> None:
        pushed: list[str] = []
        monkeypatch.setattr(announce, "publish", lambda group, event: pushed.append(event.key))
        campaign = create(operator, fleet(3), waves=[1, 1, 0], unit="devices", max_failure_rate=0.0)
        with django_capture_on_commit_callbacks(execute=True):
            finish(wave(campaign, 0)[0].update, ok=True)  # wave 2 starts
        assert f"campaign-{campaign.pk}-waiting" not in pushed
        assert f"campaign-update-{wave(campaign, 1)[0].update_id}" in pushed  # its row, as its update starts
        with django_capture_on_commit_callbacks(execute=True):
            finish(wave(campaign, 1)[0].update, ok=False)  # halts
        assert pushed.count(f"campaign-{campaign.pk}-waiting") == 1
        assert "not started</strong>: campaign halted" in partials.render_members(campaign.pk)

    def test_the_token_page_asks_before_revoking(self, viewer) -> None:
        client = logged_in(viewer)
        client.post("/tokens/", {"name": "grafana"})
        page = client.get("/tokens/").content.decode()
        assert 'data-confirm="Revoke the token “grafana”? What uses it is refused from now on."' in page
