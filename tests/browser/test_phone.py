"""Every page on a 390 px phone: the page itself never scrolls sideways (wide tables scroll inside)."""

from __future__ import annotations

import pytest

from core.models import Endpoint
from core.sites import services as sites
from firmware.services import campaign_create
from telemetry.downlink.queue import operation_enqueue
from tests.browser.conftest import log_in, screenshot
from tests.browser.test_ui import EP, live, register
from tests.factories import make_firmware

pytestmark = pytest.mark.django_db(transaction=True)

PAGES = ["/", "/events/", "/operations/", "/firmware/", "/firmware/campaigns/new/", "/tokens/", "/users/", "/sites/"]


WIDE = """() => Array.from(document.querySelectorAll("body *")).filter(el => {
  if (el.getBoundingClientRect().right <= document.documentElement.clientWidth + 1) return false;
  for (let up = el.parentElement; up; up = up.parentElement)
    if (["auto", "scroll"].includes(getComputedStyle(up).overflowX)) return false;
  return true;
}).slice(0, 5).map(el => el.outerHTML.slice(0, 120))"""


def wide(page) -> list[str]:
    """The elements that stick out of the screen (not inside a scrolling box)."""
    return page.evaluate(WIDE)


def test_no_page_scrolls_sideways_on_a_phone(browser, server: str, personas) -> None:
    register(server)
    device = Endpoint.objects.get(name=EP)
    operation_enqueue(actor=personas["admin"], endpoint=device, kind="WRITE", path="/3/0/15", value="Europe/Berlin")
    campaign = campaign_create(
        actor=personas["admin"], name="phones", firmware=make_firmware(), endpoints=[device], waves=[100]
    )
    site = sites.site_create(actor=personas["admin"], name="A site with a rather long name", description="x " * 80)
    sites.site_rule_create(actor=personas["admin"], site=site, kind="pattern", text="urn:dev:browser-*-" + "x" * 60)
    sites.endpoints_change(actor=personas["admin"], endpoints=Endpoint.objects.all(), site=site, add=["hw-rev-b"])
    page = log_in(browser, server, "ada", width=390)
    for path in [*PAGES, f"/endpoints/{EP}/", f"/firmware/campaigns/{campaign.number}/", f"/sites/{site.pk}/"]:
        page.goto(f"{server}{path}")
        if page.locator("[ws-connect]").count():
            live(page)
        widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1], f"{path} is {widths[0]} px wide on a {widths[1]} px screen: {wide(page)}"
    screenshot(page, "campaign-phone")
    page.context.close()
