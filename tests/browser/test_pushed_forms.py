"""Forms that arrive over the websocket work like the ones the page was loaded with (CSRF tokens included)."""

from __future__ import annotations

import pytest

from core.models import Endpoint
from firmware.services import campaign_create
from telemetry.models import Rollout
from tests.browser.conftest import log_in
from tests.browser.test_ui import EP, WAIT, live, post, register
from tests.factories import make_firmware

pytestmark = pytest.mark.django_db(transaction=True)


def report_firmware_state(server: str, state: int) -> None:
    node = {"kind": "singleResource", "id": 3, "type": "INTEGER", "value": state}
    post(server, "single", {"ep": EP, "obj_id": 5, "val": node})


def test_an_operator_aborts_a_campaign_from_a_page_that_received_live_updates(browser, server: str, personas) -> None:
    register(server)
    campaign = campaign_create(
        actor=personas["operator"],
        name="rollout",
        firmware=make_firmware(version="1.1.0"),
        endpoints=[Endpoint.objects.get(name=EP)],
        waves=[100],
    )
    page = log_in(browser, server, "otto")
    page.on("dialog", lambda dialog: dialog.accept())  # "Abort the campaign?", where the page asks
    page.goto(f"{server}/firmware/campaigns/{campaign.number}/")
    live(page)
    page.evaluate("document.querySelector('.campaign-head').dataset.loaded = 'with the page'")

    report_firmware_state(server, 1)  # the device downloads: the server pushes the campaign's header
    page.locator(".campaign-head:not([data-loaded])").wait_for(timeout=WAIT)  # replaced by the push

    page.get_by_role("button", name="Abort").click()
    page.locator(".campaign-head .campaign-status", has_text="aborted").wait_for(timeout=WAIT)
    assert "CSRF verification failed" not in page.content()
    campaign.refresh_from_db()
    assert campaign.status == Rollout.Status.ABORTED
    page.context.close()
