"""Alarms in a real browser: a raised alarm appears on the dashboard, on /alarms/ and on its device's page
without a reload; an operator acknowledges one with a note from /alarms/ while a viewer's list follows
live (and offers the viewer no controls); a refusal (409) is the form's answer, never a console error;
the alarm pages on a 390 px phone never scroll sideways."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from core.models import Endpoint
from realtime.publisher import publisher
from telemetry.alarms import services
from telemetry.alarms.models import Alarm, AlarmRule, Severity
from tests.browser.conftest import log_in, screenshot
from tests.browser.test_phone import wide
from tests.browser.test_ui import EP, WAIT, live, register
from tests.factories import make_endpoint

pytestmark = pytest.mark.django_db(transaction=True)


def hot_rule(severity: str = Severity.CRITICAL) -> AlarmRule:
    return AlarmRule.objects.create(
        name="Boiler too hot", kind="above", severity=severity, path="/3303/*/5700", threshold=80
    )


def raise_alarm(rule: AlarmRule, endpoint: Endpoint, value: float = 91.5) -> Alarm:
    """As the rules engine raises one: in a transaction, its fragments pushed after the commit."""
    with transaction.atomic():
        alarm = services.alarm_raise(
            rule=rule, endpoint=endpoint, at=timezone.now(), value=value, path="/3303/0/5700", message="91.5 °C"
        )
    assert alarm is not None
    return alarm


@pytest.mark.redis  # the alarm is raised in this process: its push reaches the server's sockets over Redis
def test_a_raised_alarm_appears_live_on_the_dashboard_the_list_and_the_device_page(
    browser: Any, server: str, personas: dict[str, Any]
) -> None:
    register(server)
    device = Endpoint.objects.get(name=EP)
    rule = hot_rule()
    dashboard = log_in(browser, server, "vera")
    live(dashboard)
    assert "No open alarms." in dashboard.locator("#alarm-panel").inner_text()
    assert dashboard.locator(f"#endpoint-row-{device.pk} .alarm-mark").count() == 0
    listing = dashboard.context.new_page()
    listing.goto(f"{server}/alarms/")
    live(listing)
    device_page = dashboard.context.new_page()
    device_page.goto(f"{server}/endpoints/{EP}/")
    live(device_page)
    documents: list[str] = []
    for page in (dashboard, listing, device_page):
        page.on("request", lambda r: documents.append(r.url) if r.resource_type == "document" else None)

    alarm = raise_alarm(rule, device)
    publisher.flush()

    panel = dashboard.locator("#alarm-panel")
    panel.locator(f"#panel-alarm-{alarm.pk}").wait_for(timeout=WAIT)
    assert "Boiler too hot" in panel.inner_text()
    assert panel.locator(".alarm-count.some .sev-critical").count() == 1
    mark = dashboard.locator(f"#endpoint-row-{device.pk} .alarm-mark")
    mark.wait_for(timeout=WAIT)
    assert "critical" in mark.inner_text()  # the word, not the colour alone
    dashboard.locator("#nav-alarms-badge:not([hidden])").wait_for(timeout=WAIT)
    assert dashboard.locator("#nav-alarms-badge").inner_text().startswith("1")
    screenshot(dashboard, "alarms-dashboard")
    listing.locator(f"#alarm-row-{alarm.pk}").wait_for(timeout=WAIT)
    assert "active" in listing.locator(f"#alarm-row-{alarm.pk}").inner_text()
    device_page.locator(f"#device-alarm-{alarm.pk}").wait_for(timeout=WAIT)
    assert documents == []  # nothing reloaded
    dashboard.context.close()


def test_an_operator_acknowledges_with_a_note_and_a_viewer_sees_it_live(
    browser: Any, server: str, personas: dict[str, Any]
) -> None:
    device = make_endpoint(name="urn:dev:boiler-7")
    alarm = raise_alarm(hot_rule(), device)
    viewer = log_in(browser, server, "vera")
    viewer.goto(f"{server}/alarms/")
    live(viewer)
    assert not viewer.get_by_text("Acknowledge / clear").is_visible()  # no controls for a viewer
    operator = log_in(browser, server, "otto")
    operator.goto(f"{server}/alarms/")
    live(operator)
    row = operator.locator(f"#alarm-row-{alarm.pk}")
    row.get_by_text("Acknowledge / clear").click()
    row.get_by_label("Note (optional)").fill("Technician on the way")
    screenshot(operator, "alarms-acknowledging")
    row.get_by_role("button", name=f"Acknowledge alarm {alarm.pk}").click()
    operator.locator("#alarm-answer .ok").wait_for(timeout=WAIT)
    assert "acknowledged." in operator.locator("#alarm-answer").inner_text()
    seen = viewer.locator(f"#alarm-row-{alarm.pk}.alarm-acknowledged")
    seen.wait_for(timeout=WAIT)  # pushed by the server to the viewer's list
    assert "Technician on the way" in seen.inner_text()
    assert "by otto" in seen.inner_text()
    alarm.refresh_from_db()
    assert alarm.state == Alarm.State.ACKNOWLEDGED
    assert alarm.note == "Technician on the way"

    # The alarm's page: its history; then it is cleared from there.
    operator.goto(f"{server}/alarms/{alarm.pk}/")
    live(operator)
    history = operator.locator("table.alarm-history")
    assert "Technician on the way" in history.inner_text()
    assert "otto" in history.inner_text()
    operator.get_by_role("button", name=f"Clear alarm {alarm.pk}").click()
    operator.locator(f"#alarm-detail-{alarm.pk} .alarm-state.as-cleared").first.wait_for(timeout=WAIT)
    assert history.locator("tr").count() == 4  # a heading, raised, acknowledged, cleared
    screenshot(operator, "alarm")
    viewer.locator(f"#alarm-row-{alarm.pk}.alarm-cleared").wait_for(timeout=WAIT)
    operator.context.close()
    viewer.context.close()


def test_a_refusal_is_the_forms_answer(
    browser: Any, server: str, personas: dict[str, Any], page_errors: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The browser's own line about the answer's status, on purpose; htmx logs nothing (data-swap-refusal).
    page_errors.allow(r"status of 409 \(Conflict\)")
    alarm = raise_alarm(hot_rule(), make_endpoint(name="urn:dev:boiler-8"))
    operator = log_in(browser, server, "otto")
    operator.goto(f"{server}/alarms/{alarm.pk}/")
    live(operator)
    with monkeypatch.context() as patched:  # cleared elsewhere, unheard here (over Redis it would be): stale now
        patched.setattr(publisher, "submit", lambda group, event: None)
        services.alarm_clear(actor=personas["admin"], alarm=alarm, note="")
    operator.get_by_role("button", name=f"Acknowledge alarm {alarm.pk}").click()
    answer = operator.locator("#alarm-answer [role=alert]")
    answer.wait_for(timeout=WAIT)
    assert answer.inner_text() == "Not acknowledged: the alarm is cleared, not active"
    operator.context.close()  # the browser fixture fails the test had the page logged an error


def test_the_alarm_pages_fit_a_phone(browser: Any, server: str, personas: dict[str, Any]) -> None:
    register(server)
    device = Endpoint.objects.get(name=EP)
    rule = hot_rule()
    alarms = [raise_alarm(rule, device)]
    for n, severity in enumerate(Severity.values):
        other = AlarmRule.objects.create(name=f"Pressure out of range {severity}", kind="outside", severity=severity)
        alarms.append(raise_alarm(other, make_endpoint(name=f"urn:imei:35000000000{n:04d}-a-long-name"), 2.5))
    services.alarm_acknowledge(actor=personas["operator"], alarm=alarms[1], note="a long note " * 20)
    page = log_in(browser, server, "otto", width=390)
    for path, name in [
        ("/", "alarms-dashboard-phone"),
        ("/alarms/", "alarms-phone"),
        (f"/alarms/{alarms[1].pk}/", "alarm-phone"),
        (f"/endpoints/{EP}/", "alarms-device-phone"),
    ]:
        page.goto(f"{server}{path}")
        live(page)
        if path == "/alarms/":
            page.locator(f"#alarm-row-{alarms[0].pk}").get_by_text("Acknowledge / clear").click()
        widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1], f"{path} is {widths[0]} px wide on a {widths[1]} px screen: {wide(page)}"
        screenshot(page, name)
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{server}/alarms/")
    screenshot(page, "alarms")
    page.context.close()


def test_a_reading_that_crosses_a_threshold_raises_an_alarm_seen_live_on_the_dashboard(
    browser: Any, server: str, personas: dict[str, Any]
) -> None:
    """The whole way: a rule, a device's post through the bridge to the server, the rule judged in the
    post's transaction there, the alarm pushed to an open dashboard (no Redis needed: all in the server)."""
    import time

    from tests.browser.test_ui import temperature

    register(server)
    temperature(server, 21.0)
    device = Endpoint.objects.get(name=EP)
    services.alarm_rule_create(
        actor=personas["admin"], name="Too hot", kind="above", severity="major", path="/3303/*/5700", threshold=30
    )
    dashboard = log_in(browser, server, "vera")
    live(dashboard)
    assert "No open alarms." in dashboard.locator("#alarm-panel").inner_text()
    mark = dashboard.locator(f"#endpoint-row-{device.pk} .alarm-mark")
    # The server's processes see a new rule within a second (telemetry.alarms.cache): the device reports
    # until its alarm shows; the first post the rule judges raises it, the others find it open.
    deadline = time.monotonic() + WAIT / 1000
    while mark.count() == 0 and time.monotonic() < deadline:
        temperature(server, 35.5)
        dashboard.wait_for_timeout(500)
    mark.wait_for(timeout=WAIT)
    assert "major" in mark.inner_text()
    assert dashboard.locator("#alarm-panel .alarm-count.some .sev-major").count() == 1
    assert "Too hot" in dashboard.locator("#alarm-panel").inner_text()
    alarm = Alarm.objects.get()
    assert (alarm.state, alarm.raised_value, alarm.path) == ("active", 35.5, "/3303/0/5700")
    dashboard.context.close()
