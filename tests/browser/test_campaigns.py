"""Firmware campaigns in a real browser: what an operator sees and can do as a campaign runs, halts, resumes
and is aborted; what the firmware page's list shows on first render; what a viewer is offered."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from typing import Any

import pytest

from core.lwm2m.nodes import Path, Reading
from core.lwm2m.types import DataType
from core.models import Endpoint
from firmware import partials, services
from firmware.models import Firmware, FirmwareUpdate
from realtime.publisher import Publisher
from telemetry.ingest import ingest
from telemetry.models import EndpointOperation, Rollout, RolloutDevice
from tests.browser.conftest import log_in, screenshot
from tests.factories import make_endpoint, make_firmware

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 15_000  # ms: how long to wait for something that must happen (not a speed check)
TYPES = {"/5/0/3": "INTEGER", "/5/0/5": "INTEGER", "/3/0/3": "STRING"}


def fleet(count: int) -> list[Endpoint]:
    """Devices that are not online: what is queued for them stays queued (the Leshan double knows none)."""
    return [make_endpoint(name=f"urn:dev:c-{n:02d}") for n in range(count)]


def bridge(server: str, name: str, *values: tuple[str, Any]) -> None:
    """What the device tells Leshan, posted to the server as the bridge posts it (so the server pushes it)."""
    nodes = {
        path: {"kind": "singleResource", "id": int(path.rsplit("/", 1)[1]), "type": TYPES[path], "value": str(value)}
        for path, value in values
    }
    body = json.dumps({"ep": name, "val": nodes}).encode()
    request = urllib.request.Request(
        f"{server}/leshan_api/resource/composite", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request) as answer:
        assert answer.status == 201


def registers(server: str, name: str) -> None:
    node = {"kind": "singleResource", "id": 0, "type": "TIME", "value": int(time.time() * 1000)}
    body = json.dumps({"ep": name, "obj_id": 10240, "val": node}).encode()
    request = urllib.request.Request(f"{server}/leshan_api/resource/single", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as answer:
        assert answer.status == 201


def succeeds(server: str, name: str, version: str) -> None:
    bridge(server, name, ("/5/0/3", 1))
    bridge(server, name, ("/5/0/3", 2))
    bridge(server, name, ("/5/0/3", 3))
    registers(server, name)
    bridge(server, name, ("/3/0/3", version))


def fails(server: str, name: str) -> None:
    bridge(server, name, ("/5/0/3", 1), ("/5/0/5", 5))  # integrity check failure


def runs(name: str, version: str) -> None:
    """The device reports its firmware version (3/0/3), straight into the database."""
    ingest(endpoint_name=name, readings=[Reading(Path(3, 0, 3), DataType.STRING, version)])


def live(page: Any) -> None:
    page.locator(".live[data-live=open]").wait_for(timeout=WAIT)


def start_campaign(page: Any, server: str, *, name: str, version: str, waves: str, unit: str = "percent") -> Any:
    """Fill in and submit the New campaign form (every device); returns the answer to the submit."""
    page.goto(f"{server}/firmware/campaigns/new/")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Firmware").select_option(version)
    page.get_by_label("Waves", exact=True).fill(waves)
    page.get_by_label("Waves are").select_option(unit)
    page.get_by_label("Halt when a wave has more failures than (%)").fill("10")
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Start the campaign").click()
    return navigation.value


def member_row(page: Any, name: str) -> Any:
    return page.locator("table.updates tr", has_text=name)


def test_devices_skipped_for_an_update_under_way_do_not_fail_the_wave(browser, server: str, personas) -> None:
    devices = fleet(12)
    make_firmware(version="1.0.5")
    make_firmware(version="1.1.0")
    services.campaign_create(
        actor=personas["operator"],
        name="spring",
        firmware=Firmware.objects.get(version="1.0.5"),
        endpoints=devices[1:],
        waves=[100],
    )
    page = log_in(browser, server, "otto")
    answer = start_campaign(page, server, name="autumn", version="1.1.0", waves="100")
    assert answer.status == 200, answer.status
    autumn = Rollout.objects.get(name="autumn")
    assert page.url == f"{server}/firmware/campaigns/{autumn.number}/"
    live(page)
    succeeds(server, "urn:dev:c-00", "1.1.0")
    head = page.locator("header.campaign-head")
    head.locator(".campaign-status:not(.cs-running)").wait_for(timeout=WAIT)  # the wave is over, live
    autumn.refresh_from_db()
    assert head.locator(".campaign-status").inner_text() == "completed", autumn.reason  # was "11 of 12 failed"
    assert autumn.status == Rollout.Status.COMPLETED, autumn.reason
    assert autumn.reason == "the wave is done: 1 of 12 devices updated, 11 skipped"
    assert "1 updated · 0 failed · 11 skipped" in head.inner_text()
    page.reload()
    skipped = member_row(page, "urn:dev:c-03")
    assert skipped.locator(".outcome").inner_text() == 'skipped: an update to 1.0.5 is under way (campaign "spring")'
    assert "failed" not in page.locator("table.updates").inner_text()
    screenshot(page, "campaign-skipped")
    page.context.close()


def test_the_form_refuses_a_campaign_of_busy_devices_and_skips_those_already_updated(
    browser, server: str, personas, page_errors
) -> None:
    page_errors.allow(r"status of 409 \(Conflict\)")  # the refusal, on purpose
    devices = fleet(3)
    make_firmware(version="1.0.5")
    make_firmware(version="1.1.0")
    spring = services.campaign_create(
        actor=personas["operator"],
        name="spring",
        firmware=Firmware.objects.get(version="1.0.5"),
        endpoints=devices,
        waves=[1, 0],
        unit="devices",
    )
    page = log_in(browser, server, "otto")
    answer = start_campaign(page, server, name="autumn", version="1.1.0", waves="100")
    assert answer.status == 409
    assert page.get_by_role("alert").inner_text() == (
        'endpoints: none of the 3 devices is left to update: 1 has an update under way (campaign "spring"), '
        '2 are waiting in campaign "spring" (running); abort that campaign to update them here'
    )
    assert list(Rollout.objects.values_list("name", flat=True)) == ["spring"]

    services.campaign_abort(actor=personas["operator"], campaign=spring)
    runs("urn:dev:c-00", "1.1.0")
    answer = start_campaign(page, server, name="autumn", version="1.1.0", waves="100")
    assert answer.status == 200
    autumn = Rollout.objects.get(name="autumn")
    assert page.get_by_role("status").first.inner_text().startswith("Campaign “autumn” started")
    assert "1 device skipped" in page.locator(".messages").inner_text()
    row = member_row(page, "urn:dev:c-00")
    assert row.locator(".outcome").inner_text() == "skipped: already running 1.1.0"
    assert RolloutDevice.objects.get(rollout=autumn, endpoint__name="urn:dev:c-00").update is None
    assert FirmwareUpdate.objects.filter(rollout_device__rollout=autumn).count() == 2
    page.context.close()


COLLAPSING = [  # each became one wave of everything, or quietly fewer waves
    ("0, 5", "devices", "waves: 0 (the rest) can only be the last wave"),
    ("1000", "devices", "waves: the waves add up to 1000 devices; the campaign has 12 devices to update"),
    ("1,,100", "percent", "waves: item 2 of '1,,100' is empty"),
    ("5, 5, 100", "percent", "waves: percentages are cumulative and must rise: 5 after 5"),
]


def test_the_form_refuses_wave_specifications_that_would_collapse(browser, server: str, personas, page_errors) -> None:
    page_errors.allow(r"status of 422 ")  # the refusals, on purpose
    fleet(12)
    make_firmware(version="1.1.0")
    page = log_in(browser, server, "otto")
    for waves, unit, message in COLLAPSING:
        answer = start_campaign(page, server, name="odd", version="1.1.0", waves=waves, unit=unit)
        assert answer.status == 422, waves
        assert page.get_by_role("alert").inner_text() == message
        assert page.get_by_label("Waves", exact=True).input_value() == waves  # the form keeps what was typed
        assert page.get_by_label("Waves are").input_value() == unit
        assert not Rollout.objects.exists()
        assert not FirmwareUpdate.objects.exists()
    page.context.close()


def test_a_halted_campaign_says_what_did_not_start_and_an_operator_resumes_it(browser, server: str, personas) -> None:
    devices = fleet(4)
    image = make_firmware(version="1.1.0")
    campaign = services.campaign_create(
        actor=personas["operator"],
        name="risky",
        firmware=image,
        endpoints=devices,
        waves=[2, 0],
        unit="devices",
        max_failure_rate=0.4,
    )
    page = log_in(browser, server, "otto")
    page.goto(f"{server}/firmware/campaigns/{campaign.number}/")
    live(page)
    succeeds(server, "urn:dev:c-00", "1.1.0")
    fails(server, "urn:dev:c-01")
    head = page.locator("header.campaign-head")
    head.locator(".campaign-status", has_text="halted").wait_for(timeout=WAIT)
    # Live, in the same messages as the head (rows and other elements parse apart): the rows say so too.
    member_row(page, "urn:dev:c-01").locator(".outcome", has_text="failed: integrity").wait_for(timeout=WAIT)
    member_row(page, "urn:dev:c-03").locator(".outcome", has_text="not started: campaign halted").wait_for(timeout=WAIT)
    page.reload()
    head_text = head.inner_text()
    assert "wave 1: 1 of 2 devices failed (50 % > 40 % allowed); later waves not started" in head_text
    assert not re.search(r"\s[;,]|[;,·]\s*[;,·]", head_text), head_text  # no stray separators ("wave 1 ;")
    ok, bad = member_row(page, "urn:dev:c-00"), member_row(page, "urn:dev:c-01")
    assert ok.locator(".outcome").inner_text() == "succeeded"
    assert bad.locator(".outcome").inner_text() == "failed: integrity check failure for the downloaded package"
    colour = "el => getComputedStyle(el).color"
    assert ok.locator(".outcome strong").evaluate(colour) == "rgb(26, 127, 55)"  # --ok
    assert bad.locator(".outcome strong").evaluate(colour) == "rgb(192, 54, 44)"  # --bad
    assert ok.locator("progress").evaluate("el => getComputedStyle(el).accentColor") == "rgb(26, 127, 55)"
    assert bad.locator("progress").evaluate("el => getComputedStyle(el).accentColor") == "rgb(192, 54, 44)"
    for name in ("urn:dev:c-02", "urn:dev:c-03"):
        assert member_row(page, name).locator(".outcome").inner_text() == "not started: campaign halted"
    screenshot(page, "campaign-halted")
    phone = log_in(browser, server, "otto", width=390)
    phone.goto(f"{server}/firmware/campaigns/{campaign.number}/")
    screenshot(phone, "campaign-halted-phone")
    phone.context.close()

    asked: list[str] = []
    page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    with page.expect_navigation():
        head.get_by_role("button", name="Resume").click()
    assert asked == ["Resume “risky” although wave 1 failed? Wave 2 starts now."]
    campaign.refresh_from_db()
    assert campaign.status == Rollout.Status.RUNNING
    assert campaign.reason.startswith("resumed after halt by otto: wave 1: 1 of 2 devices failed")
    assert campaign.current_wave == 1
    assert "resumed after halt by otto" in head.inner_text()
    for name in ("urn:dev:c-02", "urn:dev:c-03"):
        assert member_row(page, name).locator(".outcome").inner_text() == "waiting to send the package URI"
    page.context.close()


def test_abort_asks_first_and_leaves_nothing_to_retry(browser, server: str, personas, page_errors) -> None:
    devices = fleet(2)
    campaign = services.campaign_create(
        actor=personas["operator"], name="stop", firmware=make_firmware(version="1.1.0"), endpoints=devices, waves=[100]
    )
    page = log_in(browser, server, "otto")
    page.goto(f"{server}/firmware/campaigns/{campaign.number}/")
    head = page.locator("header.campaign-head")
    pause, abort = head.get_by_role("button", name="Pause"), head.get_by_role("button", name="Abort")
    assert pause.bounding_box()["y"] == abort.bounding_box()["y"]  # side by side
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    abort.click()
    page.wait_for_timeout(500)  # a dismissed confirmation sends nothing: give a wrong submit time to land
    campaign.refresh_from_db()
    assert campaign.status == Rollout.Status.RUNNING
    assert asked == ["Abort “stop”? The 2 updates under way are cancelled and later waves never start."]

    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        abort.click()
    campaign.refresh_from_db()
    assert campaign.status == Rollout.Status.ABORTED
    uris = EndpointOperation.objects.filter(path="/5/0/1")
    assert set(uris.values_list("status", flat=True)) == {"CANCELLED"}

    page.goto(f"{server}/operations/")
    rows = page.locator("#operations-rows tr[id^=operation-]")
    assert rows.count() == 2
    assert page.get_by_role("button", name=re.compile("^Retry")).count() == 0
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    refused = page.request.post(f"{server}/api/v1/operations/{uris[0].pk}/retry", headers={"X-CSRFToken": token})
    assert refused.status == 409
    assert "belongs to the firmware update of urn:dev:c-0" in refused.json()["detail"]
    assert set(uris.values_list("status", flat=True)) == {"CANCELLED"}
    page.context.close()


def test_the_firmware_page_lists_campaigns_with_their_progress_on_first_render(browser, server: str, personas) -> None:
    devices = fleet(3)
    image = make_firmware(version="1.1.0")
    campaign = services.campaign_create(
        actor=personas["operator"], name="half", firmware=image, endpoints=devices[:2], waves=[100]
    )
    for name in ("urn:dev:c-00",):
        for values in ((Path(5, 0, 3), 2), (Path(5, 0, 3), 3)):
            ingest(endpoint_name=name, readings=[Reading(values[0], DataType.INTEGER, values[1])])
        ingest(endpoint_name=name, readings=[Reading(Path(10240, 0, 0), DataType.TIME, 1)])
        runs(name, "1.1.0")
    services.campaign_create(
        actor=personas["operator"],
        name="other",
        firmware=make_firmware(version="1.2.0"),
        endpoints=devices[2:],
        waves=[100],
    )
    page = log_in(browser, server, "vera")
    page.goto(f"{server}/firmware/")
    row = page.locator(f"#campaign-row-{campaign.pk}")
    assert row.locator("progress").get_attribute("value") == "50"
    assert "1 updated, 0 failed of 2" in row.inner_text()
    assert row.locator(".campaign-status").inner_text() == "running"
    live(page)
    succeeds(server, "urn:dev:c-01", "1.1.0")  # live: the list row, and the update's row in the same messages
    row.locator(".campaign-status", has_text="completed").wait_for(timeout=WAIT)
    assert row.locator("progress").get_attribute("value") == "100"
    assert "2 updated, 0 failed of 2" in row.inner_text()
    update = page.locator(f"#update-{FirmwareUpdate.objects.get(endpoint__name='urn:dev:c-01').pk}")
    assert update.locator(".fw-status").inner_text() == "succeeded"
    page.context.close()


def test_a_viewer_is_not_offered_the_new_campaign_form(browser, server: str, personas, page_errors) -> None:
    page_errors.allow(r"status of 403 \(Forbidden\)")  # the refusal, on purpose
    make_firmware(version="1.1.0")
    page = log_in(browser, server, "vera")
    page.goto(f"{server}/firmware/")
    assert not page.get_by_role("link", name="New campaign").is_visible()
    answer = page.goto(f"{server}/firmware/campaigns/new/")
    assert answer.status == 403
    assert page.get_by_role("heading", level=1).inner_text() == "Not allowed"
    assert page.get_by_role("alert").inner_text() == "this needs the operator role"
    assert page.get_by_role("button", name="Start the campaign").count() == 0
    page.context.close()


def test_revoking_a_token_asks_first(browser, server: str, personas) -> None:
    page = log_in(browser, server, "vera")
    page.goto(f"{server}/tokens/")
    page.get_by_label("Name").fill("grafana")
    with page.expect_navigation():
        page.get_by_role("button", name="Create token").click()
    revoke = page.get_by_role("button", name="Revoke token grafana")
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    revoke.click()
    page.wait_for_timeout(500)  # a dismissed confirmation sends nothing: give a wrong submit time to land
    assert asked == ["Revoke the token “grafana”? What uses it is refused from now on."]
    page.goto(f"{server}/tokens/")  # (the page that created it answered the POST: reloading would post again)
    assert page.locator("tbody tr", has_text="grafana").locator("td").nth(4).inner_text() == "active"
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.get_by_role("button", name="Revoke token grafana").click()
    assert page.locator("tbody tr", has_text="grafana").locator("td").nth(4).inner_text().startswith("revoked")
    page.context.close()


def test_rows_and_other_fragments_pushed_in_one_message_are_all_swapped(browser, server: str, personas) -> None:
    """The publisher joins a batch's fragments into one message. A campaign's head (a <header>) then its
    devices' rows (<tr>) in one message: unwrapped, the browser drops the rows (and htmx logs an error
    for what is left of them); each in its <template>, every one lands, and what is not on the page (the
    firmware list's row) is dropped quietly."""
    devices = fleet(2)
    campaign = services.campaign_create(
        actor=personas["operator"],
        name="mixed",
        firmware=make_firmware(version="1.1.0"),
        endpoints=devices,
        waves=[1, 0],
        unit="devices",
    )
    page = log_in(browser, server, "otto")
    page.goto(f"{server}/firmware/campaigns/{campaign.number}/")
    services.campaign_pause(actor=personas["operator"], campaign=campaign)  # pushed by this process: nowhere
    update = FirmwareUpdate.objects.get(endpoint=devices[0])
    ingest(endpoint_name=devices[0].name, readings=[Reading(Path(5, 0, 3), DataType.INTEGER, 1)])
    (message,) = Publisher()._frames(  # one message, as the publisher frames a batch
        "firmware",
        [
            partials.render_campaign(campaign.pk),  # the head, then the list row (not on this page)
            partials.render_members(campaign.pk, update_id=update.pk),  # the downloading device
            partials.render_members(campaign.pk),  # the waiting device: "waiting: campaign paused"
        ],
    )
    assert message.startswith("<template>")
    swapped = page.evaluate("(html) => window.fieldhub.swapLive(html, document.querySelector('.live'))", message)
    assert swapped == 3  # head, two rows; the list row dropped
    head = page.locator("header.campaign-head")
    assert head.locator(".campaign-status").inner_text() == "paused"
    assert member_row(page, devices[0].name).locator(".outcome").inner_text() == "downloading: device: downloading"
    assert member_row(page, devices[1].name).locator(".outcome").inner_text() == "waiting: campaign paused"
    assert head.get_by_role("button", name="Resume").is_visible()  # htmx processed what it swapped in
    page.context.close()
