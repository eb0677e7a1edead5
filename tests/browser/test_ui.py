"""The web interface in a real browser: live without reloads, commands end to end, roles, screenshots."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.request
from typing import Any

import pytest

from core.lwm2m.nodes import Path, Reading
from core.lwm2m.types import DataType
from core.simulator.double.server import LeshanDouble
from telemetry.ingest import ingest
from tests.browser.conftest import log_in, screenshot
from tests.servers import embedded, free_port

pytestmark = pytest.mark.django_db(transaction=True)

EP = "urn:dev:browser-1"
WAIT = 15_000  # ms: how long to wait for something that must happen (not a speed check)
RECONNECT_WAIT = 60_000  # htmx retries a dropped socket with exponential backoff (full jitter, up to 64 s)


def post(server: str, shape: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"{server}/leshan_api/resource/{shape}", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request) as answer:
        assert answer.status == 201


def temperature(server: str, value: float, *, at_ms: int | None = None) -> None:
    node = {"kind": "singleResource", "id": 5700, "type": "FLOAT", "value": repr(value)}
    if at_ms is None:
        post(server, "single", {"ep": EP, "obj_id": 3303, "val": node})
    else:
        post(server, "timestamped", {"ep": EP, "val": [{str(at_ms): {"nodes": {"/3303/0/5700": node}}}]})


def live(page: Any) -> None:
    """Wait until the page's socket is open (fieldhub.js marks it, and the page shows "live")."""
    page.locator(".live[data-live=open]").wait_for(timeout=WAIT)


def register(server: str) -> None:
    value = int(time.time() * 1000)
    post(
        server,
        "single",
        {"ep": EP, "obj_id": 10240, "val": {"kind": "singleResource", "id": 0, "type": "TIME", "value": value}},
    )
    post(server, "composite", {"ep": EP, "val": {
        "/3/0/0": {"kind": "singleResource", "id": 0, "type": "STRING", "value": "Acme"},
        "/3/0/3": {"kind": "singleResource", "id": 3, "type": "STRING", "value": "1.0.0"},
        "/3/0/9": {"kind": "singleResource", "id": 9, "type": "INTEGER", "value": "88"},
    }})  # fmt: skip


def test_the_dashboard_changes_without_reloading(browser, server: str, personas) -> None:
    page = log_in(browser, server, "vera")
    assert page.get_by_text("No devices yet").is_visible()
    documents: list[str] = []
    page.on("request", lambda request: documents.append(request.url) if request.resource_type == "document" else None)
    live(page)

    register(server)
    temperature(server, 21.0, at_ms=int(time.time() * 1000) - 60_000)
    row = page.locator("#endpoint-rows tr[id^=endpoint-row-]", has_text=EP)
    row.wait_for(timeout=WAIT)
    assert "online" in row.inner_text()
    page.locator("#fleet-counts .online .number", has_text="1").wait_for(timeout=WAIT)

    temperature(server, 23.5)
    page.wait_for_function(
        "() => document.querySelector('#endpoint-rows .spark-last') && "
        "document.querySelector('#endpoint-rows .spark-last').textContent.trim() === '23.5'",
        timeout=WAIT,
    )
    assert "88 %" in row.inner_text()
    assert documents == []  # no reload, no navigation: every change came over the websocket
    screenshot(page, "dashboard")
    page.context.close()


def test_a_page_that_lost_its_server_says_so_and_catches_up_when_it_returns(
    browser, leshan, personas, page_errors
) -> None:
    # While the server is away the browser and htmx's ws extension (htmx:wsError) log the failed sockets.
    page_errors.allow(r"WebSocket connection to .* failed")
    page_errors.allow(r"\[object Event\] \(.*/htmx\.min\.js\)")
    port = free_port()
    with embedded(port, LESHAN_URL=leshan.base_url) as server:
        page = log_in(browser, server, "vera")
        live(page)
        assert page.get_by_text("No devices yet").is_visible()
    page.locator(".live[data-live=closed]").wait_for(timeout=WAIT)  # "reconnecting…"
    # A device reports while no server runs to push it (written straight to the database).
    ingest(endpoint_name=EP, readings=[Reading(Path(3303, 0, 5700), DataType.FLOAT, 19.5)])
    with page.expect_navigation(timeout=RECONNECT_WAIT):  # the socket comes back: the page reloads once
        stack = contextlib.ExitStack()
        server = stack.enter_context(embedded(port, LESHAN_URL=leshan.base_url))
    with stack:
        live(page)
        page.locator("#endpoint-rows tr[id^=endpoint-row-]", has_text=EP).wait_for(timeout=WAIT)
        assert page.url == f"{server}/"
    page.context.close()


def test_a_chart_gains_a_point_as_readings_arrive(browser, server: str, personas) -> None:
    register(server)
    now = int(time.time() * 1000)
    for minutes, value in ((30, 20.0), (20, 20.5), (10, 21.0)):
        temperature(server, value, at_ms=now - minutes * 60_000)
    page = log_in(browser, server, "vera")
    page.goto(f"{server}/endpoints/{EP}/")
    page.wait_for_function("() => Number(document.getElementById('chart').dataset.points) === 3", timeout=WAIT)
    live(page)
    temperature(server, 22.0)
    page.wait_for_function("() => Number(document.getElementById('chart').dataset.points) === 4", timeout=WAIT)
    assert page.locator("#latest-values tr[data-path='/3303/0/5700'] td.value").inner_text().startswith("22.0")
    screenshot(page, "device")
    page.context.close()


def test_an_operator_queues_a_write_and_sees_it_confirmed(browser, server: str, personas, leshan: LeshanDouble) -> None:
    register(server)
    page = log_in(browser, server, "otto")
    page.goto(f"{server}/endpoints/{EP}/")
    form = page.locator("form.command")
    assert form.is_visible()
    live(page)
    form.get_by_label("Command").select_option("write")
    form.get_by_label("Path").fill("/3/0/14")
    form.get_by_label("Value").fill("+02")
    form.get_by_role("button", name="Queue command").click()
    page.locator("#command-result", has_text="Queued: write /3/0/14.").wait_for(timeout=WAIT)
    row = page.locator("#operations-rows tr[id^=operation-]", has_text="/3/0/14")
    row.wait_for(timeout=WAIT)
    # A registration update wakes the dispatcher (if it had not sent it already): the double answers.
    post(
        server,
        "single",
        {"ep": EP, "obj_id": 10240, "val": {"kind": "singleResource", "id": 2, "type": "TIME", "value": 1}},
    )
    row.locator(".op-status", has_text="confirmed").wait_for(timeout=WAIT)
    assert leshan.clients[EP].resources["/3/0/14"][1] == "+02"
    page.context.close()


def test_a_viewer_sees_no_controls_and_a_forged_post_is_refused(browser, server: str, personas) -> None:
    register(server)
    page = log_in(browser, server, "vera")
    page.goto(f"{server}/endpoints/{EP}/")
    assert not page.locator("form.command").is_visible()
    assert not page.get_by_role("button", name="Queue command").is_visible()
    assert not page.get_by_role("button", name="Update this device").is_visible()
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    forged = page.request.post(
        f"{server}/endpoints/{EP}/commands/",
        form={"kind": "write", "path": "/3/0/14", "value": "evil"},
        headers={"X-CSRFToken": token, "Referer": f"{server}/endpoints/{EP}/"},
    )
    assert forged.status == 403
    api = page.request.post(
        f"{server}/api/v1/endpoints/{EP}/operations",
        data=json.dumps({"kind": "write", "path": "/3/0/14", "value": "evil"}),
        headers={"X-CSRFToken": token, "Content-Type": "application/json"},
    )
    assert api.status == 403
    assert api.json() == {"detail": "this needs the operator role"}
    page.context.close()


def test_every_page_answers_and_anonymous_visitors_are_sent_to_the_login(browser, server: str, personas) -> None:
    anonymous = browser.new_context().new_page()
    anonymous.goto(f"{server}/events/")
    assert "/accounts/login/?next=/events/" in anonymous.url
    anonymous.context.close()
    page = log_in(browser, server, "ada")
    for path, heading in [
        ("/events/", "Events"),
        ("/operations/", "Commands"),
        ("/firmware/", "Firmware"),
        ("/users/", "Users"),
        ("/tokens/", "API tokens"),
    ]:
        page.goto(f"{server}{path}")
        assert page.get_by_role("heading", level=1).inner_text() == heading
    page.context.close()


def test_a_quiet_bridge_device_goes_to_sleeping_then_offline_on_an_open_dashboard(browser, leshan, personas) -> None:
    # The bridge posts no lifetime: the default applies. Short times so that the sweep acts within the test.
    times = {"QUEUE_MODE_AWAKE_SECONDS": "2", "DEFAULT_LIFETIME_SECONDS": "8", "REGISTRATION_GRACE_SECONDS": "1"}
    workers = {"EMBEDDED_WORKERS": "1", "DISPATCH_SWEEP_SECONDS": "1"}  # the sweep, on PostgreSQL too
    with embedded(LESHAN_URL=leshan.base_url, **workers, **times) as server:
        page = log_in(browser, server, "vera")
        documents: list[str] = []
        page.on("request", lambda r: documents.append(r.url) if r.resource_type == "document" else None)
        live(page)
        device = page.context.new_page()
        register(server)
        device.goto(f"{server}/endpoints/{EP}/")
        live(device)
        # The device says it is in queue mode (LwM2M 1.0 Server Binding "UQ"), then says nothing more.
        node = {"kind": "singleResource", "id": 7, "type": "STRING", "value": "UQ"}
        post(server, "single", {"ep": EP, "obj_id": 1, "val": node})
        row = page.locator("#endpoint-rows tr[id^=endpoint-row-]", has_text=EP)
        row.locator(".state", has_text="online").wait_for(timeout=WAIT)

        row.locator(".state", has_text="sleeping").wait_for(timeout=WAIT)  # past its awake time
        page.locator("#fleet-counts .sleeping .number", has_text="1").wait_for(timeout=WAIT)
        page.locator("#fleet-counts .online .number", has_text="0").wait_for(timeout=WAIT)
        device.locator("#endpoint-status .state", has_text="sleeping").wait_for(timeout=WAIT)

        row.locator(".state", has_text="offline").wait_for(timeout=WAIT)  # past its lifetime and the grace
        page.locator("#fleet-counts .offline .number", has_text="1").wait_for(timeout=WAIT)
        page.locator("#fleet-counts .sleeping .number", has_text="0").wait_for(timeout=WAIT)
        device.locator("#endpoint-status .state", has_text="offline").wait_for(timeout=WAIT)
        assert documents == []  # no reload: the sweep pushed every change
        screenshot(page, "dashboard-offline")

        register(server)  # back
        row.locator(".state", has_text="online").wait_for(timeout=WAIT)
        page.locator("#fleet-counts .online .number", has_text="1").wait_for(timeout=WAIT)
        page.context.close()
