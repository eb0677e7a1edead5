"""Alarms live (telemetry.alarms.announce): a raised, acknowledged or cleared alarm reaches the alarm pages'
sockets, the dashboard's and its device page's, each scoped as the pages are: a site's viewer hears its
site's alarms only (never another site's, nor a device in no site), a global viewer all. Each test runs
on the in-memory layer and on Redis (the ``layer`` fixture)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.db import transaction

from core.models import Endpoint, Site, SiteRole
from core.roles import Role
from telemetry.alarms import services
from telemetry.alarms.models import Alarm, AlarmRule, Severity
from tests.factories import make_endpoint, make_user
from tests.realtime.live import connect, receive_all

pytestmark = pytest.mark.django_db(transaction=True)

T0 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)


@dataclass
class Fleet:
    a: Site
    b: Site
    in_a: Endpoint
    in_b: Endpoint
    loose: Endpoint
    rule: AlarmRule
    alice: Any  # viewer on site A only
    bob: Any  # viewer on A and B
    globe: Any  # a global viewer
    operator: Any


def build() -> Fleet:
    a, b = Site.objects.create(name="Alpha"), Site.objects.create(name="Beta")
    alice, bob = make_user(username="alice"), make_user(username="bob")
    SiteRole.objects.create(user=alice, site=a, role="viewer")
    SiteRole.objects.create(user=bob, site=a, role="viewer")
    SiteRole.objects.create(user=bob, site=b, role="viewer")
    return Fleet(
        a=a,
        b=b,
        in_a=make_endpoint(name="dev-in-alpha", site=a),
        in_b=make_endpoint(name="dev-in-beta", site=b),
        loose=make_endpoint(name="dev-in-no-site"),
        rule=AlarmRule.objects.create(name="too hot", kind="above", severity=Severity.CRITICAL, threshold=30),
        alice=alice,
        bob=bob,
        globe=make_user(Role.VIEWER, username="globe"),
        operator=make_user(Role.OPERATOR, username="otto"),
    )


@pytest.fixture
async def fleet(layer: str) -> Fleet:
    return await database_sync_to_async(build)()


def _raise(rule: AlarmRule, endpoint: Endpoint, value: float) -> Alarm:
    with transaction.atomic():  # as the engine raises them: in the transaction of the readings judged
        alarm = services.alarm_raise(rule=rule, endpoint=endpoint, at=T0, value=value, path="/3303/0/5700")
    assert alarm is not None
    return alarm


raise_alarm = database_sync_to_async(_raise)


async def opened(path: str, user: Any) -> Any:
    socket = await connect(path, user)
    assert (await socket.connect())[0]
    assert await socket.receive_nothing(timeout=0.1)  # open, not refused
    return socket


def ids(pushed: str, prefix: str) -> set[int]:
    return {int(n) for n in re.findall(rf'id="{prefix}(\d+)"', pushed)}


class TestTheAlarmPages:
    async def test_a_site_viewer_hears_its_sites_alarms_only(self, fleet: Fleet) -> None:
        alice = await opened("/ws/alarms/", fleet.alice)
        bob = await opened("/ws/alarms/", fleet.bob)
        globe = await opened("/ws/alarms/", fleet.globe)
        in_b = await raise_alarm(fleet.rule, fleet.in_b, 31.0)
        loose = await raise_alarm(fleet.rule, fleet.loose, 32.0)
        in_a = await raise_alarm(fleet.rule, fleet.in_a, 33.0)
        to_alice, to_bob, to_globe = await receive_all(alice), await receive_all(bob), await receive_all(globe)

        assert ids(to_alice, "alarm-row-") == {in_a.pk}
        assert 'hx-swap-oob="afterbegin:#alarm-rows[data-new-rows]"' in to_alice  # on top of the list
        assert ids(to_alice, "alarm-detail-") == {in_a.pk}
        for foreign in ("dev-in-beta", "dev-in-no-site"):
            assert foreign not in to_alice
        assert ids(to_bob, "alarm-row-") == {in_a.pk, in_b.pk}
        assert "dev-in-no-site" not in to_bob
        assert ids(to_globe, "alarm-row-") == {in_a.pk, in_b.pk, loose.pk}
        # The badge: its site's count to alice (never the fleet's), the fleet's to the global viewer.
        assert f'id="nav-alarms-badge-site-{fleet.a.pk}"' in to_alice
        assert 'id="nav-alarms-badge"' not in to_alice
        assert re.findall(r'id="nav-alarms-badge"[^>]*>(\d+)<', to_globe)[-1] == "3"

    async def test_an_acknowledgement_and_a_clear_replace_the_row(self, fleet: Fleet) -> None:
        in_a = await raise_alarm(fleet.rule, fleet.in_a, 33.0)
        alice = await opened("/ws/alarms/", fleet.alice)
        acknowledge = database_sync_to_async(services.alarm_acknowledge)
        await acknowledge(actor=fleet.operator, alarm=in_a, note="on my way")
        pushed = await receive_all(alice)
        row = re.search(rf'<tr id="alarm-row-{in_a.pk}"[^>]*hx-swap-oob="true">.*?</tr>', pushed, re.S)
        assert row is not None
        assert "acknowledged" in row.group(0)
        assert "otto" in row.group(0)
        assert "on my way" in pushed  # the note, in the row and in the alarm's history
        clear = database_sync_to_async(services.alarm_clear)
        await clear(actor=fleet.operator, alarm=in_a, note="")
        pushed = await receive_all(alice)
        assert f'<tr id="alarm-row-{in_a.pk}" class="alarm-row alarm-cleared"' in pushed
        assert "afterbegin" not in pushed  # not a new row


class TestTheFleetPages:
    async def test_the_dashboard_hears_its_sites_panel_and_device_rows(self, fleet: Fleet) -> None:
        alice = await opened("/ws/dashboard/", fleet.alice)
        globe = await opened("/ws/dashboard/", fleet.globe)
        await raise_alarm(fleet.rule, fleet.in_b, 31.0)
        await raise_alarm(fleet.rule, fleet.in_a, 33.0)
        to_alice, to_globe = await receive_all(alice), await receive_all(globe)

        assert f'id="alarm-panel-site-{fleet.a.pk}"' in to_alice
        assert 'id="alarm-panel"' not in to_alice
        assert f"alarm-panel-site-{fleet.b.pk}" not in to_alice
        assert "dev-in-beta" not in to_alice
        assert ids(to_alice, "endpoint-row-") == {fleet.in_a.pk}
        assert 'class="alarm-mark"' in to_alice
        assert 'id="alarm-panel"' in to_globe
        assert ids(to_globe, "endpoint-row-") == {fleet.in_a.pk, fleet.in_b.pk}
        # A group's messages go out in parallel (realtime.publisher): the push rendered after both raises
        # counts both, whichever arrived last.
        panels = re.findall(r'<section id="alarm-panel".*?</section>', to_globe, re.S)
        assert any(re.search(r'<span class="number">2</span> <span class="sev sev-critical">', p) for p in panels)

    async def test_the_device_page_hears_its_own_alarms(self, fleet: Fleet) -> None:
        page_a = await opened(f"/ws/endpoints/{fleet.in_a.name}/", fleet.alice)
        await raise_alarm(fleet.rule, fleet.in_b, 31.0)
        in_a = await raise_alarm(fleet.rule, fleet.in_a, 33.0)
        pushed = await receive_all(page_a)
        assert '<section id="endpoint-alarms"' in pushed
        assert ids(pushed, "device-alarm-") == {in_a.pk}
        assert "dev-in-beta" not in pushed

    async def test_a_rolled_back_raise_is_never_heard(self, fleet: Fleet) -> None:
        globe = await opened("/ws/alarms/", fleet.globe)

        def rolled_back() -> None:
            with transaction.atomic():
                services.alarm_raise(rule=fleet.rule, endpoint=fleet.in_a, at=T0, value=40)
                transaction.set_rollback(True)

        await database_sync_to_async(rolled_back)()
        assert await receive_all(globe, quiet=0.5) == ""
