"""Rollouts in a real browser: "Send to many" from a filtered dashboard, the new-rollout form's preview, the
rollout page moving live as the dispatcher delivers, and what a viewer is offered."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest

from core.simulator.double.server import LeshanDouble
from telemetry.models import Rollout
from telemetry.rollouts import services
from telemetry.rollouts.selectors import Selection
from tests.browser.conftest import log_in, screenshot
from tests.factories import make_endpoint

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 15_000  # ms: how long to wait for something that must happen (not a speed check)
ONLINE = "urn:dev:browser-1"  # the one device the Leshan double knows


def registers(server: str, name: str) -> None:
    node = {"kind": "singleResource", "id": 0, "type": "TIME", "value": int(time.time() * 1000)}
    body = json.dumps({"ep": name, "obj_id": 10240, "val": node}).encode()
    request = urllib.request.Request(f"{server}/leshan_api/resource/single", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as answer:
        assert answer.status == 201


def live(page: Any) -> None:
    page.locator(".live[data-live=open]").wait_for(timeout=WAIT)


def test_send_to_many_with_a_preview_then_the_rollout_moves_live(
    browser: Any, server: str, personas: dict[str, Any], leshan: LeshanDouble
) -> None:
    registers(server, ONLINE)
    for n in range(2):
        make_endpoint(name=f"urn:dev:asleep-{n}")  # never heard from: offline
    make_endpoint(name="other-device")
    page = log_in(browser, server, "otto")
    page.locator("#find-q").fill("urn:dev")
    page.locator("#device-table a[data-send-to-many][href*='q=urn%3Adev']").wait_for(timeout=WAIT)
    page.locator("a[data-send-to-many]").click()
    page.wait_for_url(f"{server}/rollouts/new/?q=urn%3Adev")
    assert page.get_by_label("Name contains").input_value() == "urn:dev"
    preview = page.locator("#rollout-preview [data-preview-count]")
    preview.wait_for(timeout=WAIT)
    assert preview.inner_text() == "3"
    page.get_by_label("State").select_option("online")
    page.locator("#rollout-preview:has-text('Reaches 1 device.')").wait_for(timeout=WAIT)
    page.get_by_label("Name", exact=True).fill("zone +05")
    page.get_by_label("Kind").select_option("WRITE")
    page.get_by_label("Path").fill("/3/0/14")
    page.get_by_label("Value (write one resource)").fill("+05")
    page.get_by_label("Waves", exact=True).fill("100")
    screenshot(page, "rollout-new")
    leshan.clients[ONLINE].queue_mode = True
    leshan.sleep(ONLINE)  # it falls asleep: the write waits for it (and the page is live before it wakes)
    with page.expect_navigation():
        page.get_by_role("button", name="Start the rollout").click()
    screenshot(page, "rollout-started")
    rollout = Rollout.objects.get()
    assert page.url == f"{server}/rollouts/{rollout.pk}/"
    live(page)
    head = page.locator("header.campaign-head")
    assert "running" in head.inner_text()
    leshan.wake(ONLINE)
    registers(server, ONLINE)  # heard from again: the dispatcher delivers the write
    head.locator(".campaign-status.cs-completed").wait_for(timeout=WAIT)  # pushed once the device confirmed
    assert "1 confirmed" in head.inner_text()
    assert leshan.clients[ONLINE].resources["/3/0/14"][1] == "+05"
    page.reload()
    assert page.locator("tr.rd-confirmed", has_text=ONLINE).count() == 1
    screenshot(page, "rollout")
    page.goto(f"{server}/operations/")
    page.get_by_role("link", name="Rollouts").click()
    page.locator("tr.rollout-row", has_text="zone +05").locator("progress[value='100']").wait_for(timeout=WAIT)
    page.context.close()


def test_the_list_moves_live_and_a_viewer_gets_no_controls(
    browser: Any, server: str, personas: dict[str, Any], page_errors: Any
) -> None:
    page_errors.allow(r"rollouts/new/.*status of 403")  # the viewer's refusal, on purpose
    for n in range(3):
        make_endpoint(name=f"urn:dev:asleep-{n}")
    rollout = services.rollout_create(
        actor=personas["operator"],
        name="reboot all",
        kind="EXECUTE",
        path="/3/0/4",
        selection=Selection(name="asleep"),
        waves=[1, 0],
        unit="devices",
    )
    viewer = log_in(browser, server, "vera")
    viewer.goto(f"{server}/rollouts/")
    live(viewer)
    row = viewer.locator(f"#rollout-row-{rollout.pk}")
    assert "running" in row.inner_text()
    operator = log_in(browser, server, "otto")
    operator.goto(f"{server}/rollouts/{rollout.pk}/")
    operator.once("dialog", lambda dialog: dialog.accept())
    with operator.expect_navigation():
        operator.get_by_role("button", name="Abort").click()
    assert "aborted by otto: 1 queued operation cancelled" in operator.locator("header.campaign-head").inner_text()
    row.locator(".cs-aborted").wait_for(timeout=WAIT)  # pushed to the viewer's list
    operator.context.close()
    viewer.goto(f"{server}/rollouts/{rollout.pk}/")
    assert viewer.get_by_role("button", name="Resume").count() == 0
    assert not viewer.locator(".needs-operator.actions").is_visible()
    assert viewer.locator("tr.rd-cancelled").count() == 1
    assert viewer.locator("tr.rd-waiting").count() == 2
    screenshot(viewer, "rollout-viewer")
    viewer.set_viewport_size({"width": 390, "height": 800})
    screenshot(viewer, "rollout-phone")
    answer = viewer.goto(f"{server}/rollouts/new/")
    assert answer is not None
    assert answer.status == 403
    viewer.context.close()
