"""Sites and labels in a real browser: an operator labels a device on its page (in place, a refusal shown
where the form is), another operator's open dashboard and device page take the change live, and the
dashboard filters by the label; an admin builds a site and its rules; viewers get no forms."""

from __future__ import annotations

from typing import Any

import pytest

from core.lwm2m.nodes import Path, Reading
from core.lwm2m.types import DataType
from core.models import Endpoint
from core.permissions import SYSTEM
from core.sites import services
from telemetry.ingest import ingest
from tests.browser.conftest import log_in, screenshot
from tests.browser.test_ui import WAIT, live

pytestmark = pytest.mark.django_db(transaction=True)


def devices(*names: str) -> None:
    for name in names:
        ingest(endpoint_name=name, readings=[Reading(Path(3, 0, 9), DataType.INTEGER, 80)])


def names(page: Any) -> list[str]:
    return sorted(page.locator("#endpoint-rows tr[id^=endpoint-row-] td:first-child > a").all_inner_texts())


def test_a_label_set_on_the_device_page_shows_live_and_the_dashboard_filters_by_it(
    browser, server: str, personas, page_errors
) -> None:
    devices("dev-a", "dev-b", "dev-c")
    services.site_create(actor=SYSTEM, name="North")
    page_errors.allow(r"status of 422")  # the refused label below, on purpose
    watcher = log_in(browser, server, "ada")  # an admin's dashboard, open all along
    live(watcher)
    other = log_in(browser, server, "ada").context.new_page()  # and dev-b's page, form open
    other.goto(f"{server}/endpoints/dev-b/")
    live(other)
    other.get_by_text("Change site or labels").click()

    page = log_in(browser, server, "otto")
    page.goto(f"{server}/endpoints/dev-b/")
    live(page)
    page.get_by_text("Change site or labels").click()
    page.get_by_label("Add a label").fill("Not valid!")
    page.get_by_role("button", name="Add", exact=True).click()
    page.get_by_role("alert").filter(has_text="Not changed: label 'Not valid!'").wait_for(timeout=WAIT)
    assert page.get_by_label("Add a label").input_value() == "Not valid!"  # what was refused stays to fix
    page.get_by_label("Add a label").fill("Beta")
    page.get_by_role("button", name="Add", exact=True).click()
    page.get_by_text("Label beta added.").wait_for(timeout=WAIT)
    page.locator("#endpoint-status .label", has_text="beta").wait_for(timeout=WAIT)  # the header at once
    page.get_by_label("Site", exact=True).select_option(label="North")
    page.get_by_role("button", name="Move", exact=True).click()
    page.get_by_text("Moved to site North.").wait_for(timeout=WAIT)
    screenshot(page, "device-site-and-labels")

    # Live: the dashboard's row, and the other page's header and form (each user's own, loaded again).
    row = watcher.locator(f"#endpoint-row-{Endpoint.objects.get(name='dev-b').pk}")
    row.locator(".label", has_text="beta").wait_for(timeout=WAIT)
    row.locator(".site-tag", has_text="North").wait_for(timeout=WAIT)
    other.locator("#endpoint-status .label", has_text="beta").wait_for(timeout=WAIT)
    other.get_by_role("button", name="Remove label beta").wait_for(timeout=WAIT)
    assert other.locator("details.tags-editor").get_attribute("open") is not None  # still open

    page.goto(f"{server}/")
    page.get_by_label("Label", exact=True).fill("beta")
    page.get_by_label("Label", exact=True).press("Enter")
    page.wait_for_url(f"{server}/?label=beta")
    page.locator(".pager-summary", has_text="1\u20131 of 1").first.wait_for(timeout=WAIT)
    assert names(page) == ["dev-b"]
    page.get_by_label("Label", exact=True).fill("")
    page.get_by_label("Label", exact=True).press("Enter")
    page.wait_for_url(f"{server}/")
    page.get_by_label("Site", exact=True).select_option(label="none")
    page.wait_for_url(f"{server}/?site=none")
    page.locator(".pager-summary", has_text="1\u20132 of 2").first.wait_for(timeout=WAIT)
    assert names(page) == ["dev-a", "dev-c"]

    # The devices this filter shows, changed at once after the count is confirmed.
    page.get_by_text("Set site / labels for the 2 devices shown by this filter").click()
    page.get_by_label("Add labels").fill("spare")
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Change 2 devices").click()
    page.get_by_text("Changed 2 of the 2 devices the filter showed.").wait_for(timeout=WAIT)
    assert page.url == f"{server}/?site=none"
    assert page.locator("#endpoint-rows .label", has_text="spare").count() == 2
    for context in (page.context, watcher.context, other.context):
        context.close()


def test_an_admin_builds_a_site_and_a_viewer_reads_it(browser, server: str, personas, page_errors) -> None:
    devices("urn:imei:350001", "urn:imei:350002", "other-1")
    page_errors.allow(r"status of 409")  # the taken name below, on purpose
    page = log_in(browser, server, "ada", width=390)  # a phone
    page.goto(f"{server}/sites/")
    page.get_by_label("Name").fill("North")
    page.get_by_role("button", name="Create site").click()
    page.get_by_role("heading", name="North", level=1).wait_for(timeout=WAIT)
    page.get_by_label("Text").fill("urn:imei:35")
    page.get_by_text("Preview: 2 existing devices would match.").wait_for(timeout=WAIT)
    page.get_by_role("button", name="Add rule").click()
    page.get_by_text("Rule added: prefix 'urn:imei:35'.").wait_for(timeout=WAIT)
    page.goto(f"{server}/sites/")
    page.get_by_label("Name").fill("north")
    page.get_by_role("button", name="Create site").click()
    page.get_by_role("alert").filter(has_text="a site named 'north' exists already").wait_for(timeout=WAIT)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the sites page is {width}px wide on a phone"
    screenshot(page, "sites-phone")
    page.context.close()

    viewer = log_in(browser, server, "vera")
    viewer.get_by_role("link", name="Sites").click()
    viewer.get_by_role("link", name="North").click()
    viewer.locator("table.rules", has_text="urn:imei:35").wait_for(timeout=WAIT)
    assert viewer.locator("main form").count() == 0  # no forms at all, not disabled ones
    viewer.goto(f"{server}/endpoints/other-1/")
    assert viewer.locator("details.tags-editor").count() == 0
    viewer.context.close()


def test_a_device_moved_to_another_site_leaves_and_joins_the_open_dashboards_live(
    browser, server: str, personas, page_errors
) -> None:
    import json
    import urllib.request

    from core.models import SiteRole
    from core.services import token_create
    from tests.browser.conftest import server_hash
    from tests.factories import make_user

    devices("dev-m", "dev-n")
    north = services.site_create(actor=SYSTEM, name="North")
    south = services.site_create(actor=SYSTEM, name="South")
    services.endpoints_site_set(actor=SYSTEM, endpoints=Endpoint.objects.all(), site=north)
    roles = {"nina": [north], "sam": [south], "bea": [north, south]}
    for username, sites in roles.items():
        user = make_user(username=username)
        user.password = server_hash()
        user.save(update_fields=["password"])
        for site in sites:
            SiteRole.objects.create(user=user, site=site, role="viewer")
    pages = {username: log_in(browser, server, username) for username in roles}
    for page in pages.values():
        live(page)
    assert names(pages["nina"]) == names(pages["bea"]) == ["dev-m", "dev-n"]
    assert names(pages["sam"]) == []

    # Moved by the server process (whose commit publishes), through the API, as an admin's script would.
    _, token = token_create(actor=SYSTEM, user=personas["admin"], name="mover")
    body = json.dumps({"endpoints": ["dev-m"], "site": str(south.pk)}).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    request = urllib.request.Request(f"{server}/api/v1/endpoints/bulk", data=body, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert json.load(answer) == {"matched": 1, "changed": 1}
    pages["sam"].locator("#endpoint-rows tr", has_text="dev-m").wait_for(timeout=WAIT)  # joined South's
    pages["nina"].locator("#endpoint-rows tr", has_text="dev-m").wait_for(state="detached", timeout=WAIT)
    assert names(pages["bea"]) == ["dev-m", "dev-n"]  # sees both sites: kept, whichever push came first
    assert names(pages["nina"]) == ["dev-n"]
    assert names(pages["sam"]) == ["dev-m"]
    for page in pages.values():
        page.context.close()
