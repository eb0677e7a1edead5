"""Pages for a fleet in a real browser: the dashboard's device table paged and sorted (htmx, the URL kept,
live pushes only where they belong), the device page's readings table and its CSV export."""

from __future__ import annotations

import re
import time
from pathlib import Path as FilePath
from typing import Any

import pytest

from core.lwm2m.nodes import Path, Reading
from core.lwm2m.types import DataType
from telemetry.ingest import ingest
from tests.browser.conftest import log_in, screenshot
from tests.browser.test_ui import WAIT, live, post

pytestmark = pytest.mark.django_db(transaction=True)


def fleet(count: int) -> None:
    """``count`` devices, written straight to the database (no push): dev-00 is the one seen last, then
    dev-01, ...; battery (i * 37) % 100, so the battery order is another one."""
    for i in reversed(range(count)):
        ingest(endpoint_name=f"dev-{i:02d}", readings=[Reading(Path(3, 0, 9), DataType.INTEGER, (i * 37) % 100)])


def battery_post(server: str, name: str, value: int) -> None:
    node = {"kind": "singleResource", "id": 9, "type": "INTEGER", "value": str(value)}
    post(server, "single", {"ep": name, "obj_id": 3, "val": node})


def names(page: Any) -> list[str]:
    return page.locator("#endpoint-rows tr[id^=endpoint-row-] td:first-child").all_inner_texts()


def summary(page: Any) -> str:
    return page.locator(".pager-summary").first.inner_text()


def test_the_dashboard_pages_and_sorts_in_place_and_keeps_it_in_the_url(browser, server: str, personas) -> None:
    fleet(60)
    page = log_in(browser, server, "vera")
    documents: list[str] = []
    page.on("request", lambda request: documents.append(request.url) if request.resource_type == "document" else None)
    live(page)
    assert summary(page) == "1\u201350 of 60"
    assert names(page)[:2] == ["dev-00", "dev-01"]

    page.get_by_role("navigation", name="Pages of devices (bottom)").get_by_role("link", name="Next").click()
    page.wait_for_url(f"{server}/?page=2")
    page.locator(".pager-summary", has_text="51\u201360 of 60").first.wait_for(timeout=WAIT)
    assert names(page) == [f"dev-{i:02d}" for i in range(50, 60)]

    page.get_by_role("link", name="Battery").click()  # a new order starts on its first page
    page.wait_for_url(f"{server}/?sort=battery")
    page.locator("th[aria-sort=ascending]", has_text="Battery").wait_for(timeout=WAIT)
    batteries = [int(t.rstrip(" %")) for t in page.locator("#endpoint-rows tr td:nth-child(5)").all_inner_texts()]
    assert batteries == sorted(batteries)
    assert batteries[0] == 0
    page.get_by_role("link", name="Battery").click()
    page.wait_for_url(f"{server}/?sort=-battery")
    page.locator("th[aria-sort=descending]", has_text="Battery").wait_for(timeout=WAIT)
    assert names(page)[0] == "dev-27"  # (27 * 37) % 100 = 99, the fullest

    page.get_by_label("Find", exact=True).fill("dev-1")  # the filter keeps the sort
    page.wait_for_url(f"{server}/?q=dev-1&sort=-battery")  # empty fields stay out of the URL
    page.locator(".pager-summary", has_text="1\u201310 of 10").first.wait_for(timeout=WAIT)
    assert documents == []  # every change above was htmx swapping the table, not a page load
    screenshot(page, "dashboard-sorted")

    page.go_back()  # history works as with page loads
    page.wait_for_url(f"{server}/?sort=-battery")
    page.locator(".pager-summary", has_text="1\u201350 of 60").first.wait_for(timeout=WAIT)
    page.reload()  # and the URL alone gives the same page, without JavaScript's help
    assert names(page)[0] == "dev-27"
    assert page.locator("th[aria-sort=descending]").inner_text().startswith("Battery")
    page.context.close()


def test_live_pushes_land_only_where_they_belong(browser, server: str, personas) -> None:
    fleet(60)
    second = log_in(browser, server, "vera")
    second.goto(f"{server}/?page=2")
    live(second)
    first = log_in(browser, server, "vera")
    live(first)
    # dev-55 is on the second page, dev-01 on the first: each row changes in place where it is shown, and
    # a page that does not show a row ignores its push (htmx would log an error for a missing target).
    battery_post(server, "dev-55", 1)
    battery_post(server, "dev-01", 2)
    second.locator("#endpoint-rows tr", has_text="dev-55").locator("td", has_text="1 %").wait_for(timeout=WAIT)
    first.locator("#endpoint-rows tr", has_text="dev-01").locator("td", has_text="2 %").wait_for(timeout=WAIT)
    assert names(first).index("dev-01") == 1  # in place: the table is re-sorted on the next load
    # A new device goes on top of the first page of the default order, and nowhere else.
    battery_post(server, "brand-new", 50)
    first.locator("#endpoint-rows tr:first-child", has_text="brand-new").wait_for(timeout=WAIT)
    battery_post(server, "dev-56", 3)  # a later push: by then the first one reached every page
    second.locator("#endpoint-rows tr", has_text="dev-56").locator("td", has_text="3 %").wait_for(timeout=WAIT)
    assert "brand-new" not in names(second)
    assert len(names(second)) == 10
    assert len(names(first)) == 51
    for page in (first, second):
        page.context.close()


def test_the_device_page_pages_its_readings_and_exports_them_as_csv(
    browser, server: str, personas, tmp_path: FilePath
) -> None:
    now_ms = int(time.time() * 1000)
    readings = [Reading(Path(3303, 0, 5700), DataType.FLOAT, float(i), now_ms - (120 - i) * 60_000) for i in range(120)]
    ingest(endpoint_name="urn:dev:readings", readings=readings)
    ingest(
        endpoint_name="urn:dev:readings",
        readings=[Reading(Path(3303, 0, 5701), DataType.STRING, "Cel"), Reading(Path(3, 0, 9), DataType.INTEGER, 77)],
    )
    page = log_in(browser, server, "vera")
    page.goto(f"{server}/endpoints/urn:dev:readings/")
    table = page.locator("#readings table.readings")
    values = table.locator("tbody td.value")
    assert values.first.inner_text() == "119.0"  # newest first
    assert values.count() == 50
    assert table.locator("thead").inner_text().strip().endswith("Value (Cel)")
    page.wait_for_function("() => Number(document.getElementById('chart').dataset.points) > 0", timeout=WAIT)
    x_label, y_label = page.evaluate("() => window.fieldhubChart.axes.map((axis) => axis.label)")
    assert y_label == "temperature (Cel)"  # the unit on the chart's axis
    assert re.fullmatch(r"Time \((.+, )?UTC[+\u2212]\d\d:\d\d\)", x_label)  # the time zone on the time axis
    box = page.locator("#chart .u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    legend_time = page.locator("#chart .u-legend .u-series").first.inner_text()
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", legend_time)  # a date, year first, and a time

    pager = page.get_by_role("navigation", name="Pages of readings")
    pager.get_by_role("link", name="Older").click()
    page.wait_for_url(re.compile(r".*\?path=%2F3303%2F0%2F5700&before=.+"))
    page.locator("#readings tbody td.value", has_text="69.0").first.wait_for(timeout=WAIT)
    assert values.first.inner_text() == "69.0"
    pager = page.get_by_role("navigation", name="Pages of readings")
    pager.get_by_role("link", name="Newer").click()
    page.locator("#readings tbody td.value", has_text="119.0").first.wait_for(timeout=WAIT)

    page.locator("#readings-path").select_option("/3/0/9")
    page.wait_for_url(re.compile(r".*\?path=%2F3%2F0%2F9$"))
    page.locator("#readings tbody td.value", has_text="77").wait_for(timeout=WAIT)
    assert values.count() == 1
    # htmx has settled the swapped-in form (a person does not choose again within those milliseconds).
    page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")
    page.locator("#readings-path").select_option("/3303/0/5700")
    page.locator("#readings tbody td.value", has_text="119.0").first.wait_for(timeout=WAIT)

    with page.expect_download() as downloaded:
        page.get_by_role("link", name="Export CSV").click()
    download = downloaded.value
    assert download.suggested_filename == "urn_dev_readings.csv"
    target = tmp_path / "export.csv"
    download.save_as(target)
    lines = target.read_text().splitlines()
    assert lines[0] == "measured_at,received_at,path,resource,data_type,units,value"
    assert len(lines) == 121
    assert lines[-1].endswith(",/3303/0/5700,temperature,FLOAT,,119.0")
    page.locator("#readings").scroll_into_view_if_needed()
    screenshot(page, "device-readings")
    page.context.close()

    phone = log_in(browser, server, "vera", width=390)
    phone.goto(f"{server}/endpoints/urn:dev:readings/")
    phone.locator("#readings tbody td.value").first.wait_for(timeout=WAIT)
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= 390  # nothing widens the page
    screenshot(phone, "device-readings-phone")
    phone.goto(f"{server}/?sort=battery")
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= 390
    screenshot(phone, "dashboard-phone")
    phone.context.close()
