"""The device page's command form as an operator uses it: every answer in place, the last one only."""

from __future__ import annotations

import pytest

from telemetry.models import EndpointOperation
from tests.browser.conftest import log_in
from tests.browser.test_ui import EP, WAIT, live, register

pytestmark = pytest.mark.django_db(transaction=True)


def queue(page, kind: str, path: str, value: str = "") -> None:
    form = page.locator("form.command")
    form.get_by_label("Command").select_option(kind)
    form.get_by_label("Path", exact=True).fill(path)
    form.get_by_label("Value", exact=True).fill(value)
    form.get_by_role("button", name="Queue command").click()


def test_a_refused_command_says_why_in_place_and_replaces_the_last_answer(browser, server: str, personas) -> None:
    register(server)
    page = log_in(browser, server, "otto")
    page.goto(f"{server}/endpoints/{EP}/")
    live(page)
    answer = page.locator("#command-result")

    queue(page, "write", "/3/0/14", "+02")
    answer.get_by_text("Queued: write /3/0/14.").wait_for(timeout=WAIT)

    queue(page, "write", "/3/0/13", "noon")
    answer.get_by_role("alert").get_by_text('/3/0/13: TIME value "noon" is not an integer').wait_for(timeout=WAIT)
    assert "Queued" not in answer.inner_text()  # the earlier success is gone

    queue(page, "write", "/3/0/15", "Europe/" + "x" * 293)
    answer.get_by_text("/3/0/15: the value is 300 bytes long; at most 255 fit").wait_for(timeout=WAIT)

    queue(page, "read", "/9999/0/1")
    answer.get_by_text("/9999/0/1 is not a resource the registry knows").wait_for(timeout=WAIT)

    assert list(EndpointOperation.objects.values_list("path", flat=True)) == ["/3/0/14"]
    page.context.close()


def test_a_command_sent_while_the_server_is_away_says_nothing_was_queued(
    browser, server: str, personas, page_errors
) -> None:
    page_errors.allow(r"ERR_CONNECTION_REFUSED|Failed to load resource")
    page_errors.allow(r"\[object Event\]|htmx:sendError|htmx:afterRequest")  # what the aborted request logs
    register(server)
    page = log_in(browser, server, "otto")
    page.goto(f"{server}/endpoints/{EP}/")
    live(page)
    queue(page, "write", "/3/0/14", "+02")
    page.locator("#command-result").get_by_text("Queued: write /3/0/14.").wait_for(timeout=WAIT)
    page.route("**/commands/", lambda route: route.abort("connectionrefused"))
    queue(page, "write", "/3/0/14", "+03")
    page.locator("#command-result").get_by_role("alert").get_by_text("nothing was queued").wait_for(timeout=WAIT)
    assert "Queued" not in page.locator("#command-result").inner_text()
    page.context.close()


@pytest.mark.parametrize("width", [1400, 390])
def test_the_live_badge_covers_no_field(browser, server: str, personas, width: int) -> None:
    register(server)
    page = log_in(browser, server, "otto", width=width)
    page.goto(f"{server}/endpoints/{EP}/")
    live(page)
    badge = page.locator(".live-badge").bounding_box()
    assert badge is not None
    assert page.locator(".live-badge").inner_text() == "● live"
    for field in page.locator("input:visible, select:visible, button:visible, textarea:visible").all():
        box = field.bounding_box()
        overlaps = not (
            box["x"] >= badge["x"] + badge["width"]
            or badge["x"] >= box["x"] + box["width"]
            or box["y"] >= badge["y"] + badge["height"]
            or badge["y"] >= box["y"] + box["height"]
        )
        assert not overlaps, f"the badge covers {field.evaluate('e => e.outerHTML')[:80]}"
    page.context.close()
