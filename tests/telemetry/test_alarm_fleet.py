"""The fleet kinds: no data and offline swept with a frozen clock, failed firmware updates and commands;
and the rule cache (a change applies at once in this process, within CHECK_SECONDS in the others)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from core.models import Endpoint
from core.permissions import SYSTEM
from core.sites.services import site_create
from firmware.models import FirmwareUpdate
from telemetry import hooks
from telemetry.alarms import cache, services
from telemetry.alarms.fleet import alarms_sweep
from telemetry.alarms.models import Alarm
from telemetry.models import EndpointOperation
from tests.factories import make_firmware_update
from tests.telemetry.alarms_helpers import EP, T0, reading, rule, send, states, temp

pytestmark = pytest.mark.django_db

MIN = dt.timedelta(minutes=1)


def device(name: str = EP, *, seen: dt.datetime | None = T0, online: bool = True, **fields: Any) -> Endpoint:
    return Endpoint.objects.create(name=name, last_seen_at=seen, online=online, **fields)


class TestNoData:
    def test_a_device_quiet_longer_than_the_rule_is_raised_and_cleared_when_heard_from(self) -> None:
        device()
        rule(name="quiet", kind="no_data", minutes=10)
        assert alarms_sweep(now=T0 + 9 * MIN) == 0
        assert alarms_sweep(now=T0 + 11 * MIN) == 1
        alarm = Alarm.objects.get()
        assert (alarm.state, alarm.raised_at, alarm.raised_value) == ("active", T0 + 11 * MIN, T0.isoformat())
        assert "no data for over 10 min" in alarm.message
        assert alarms_sweep(now=T0 + 12 * MIN) == 0  # one open alarm
        Endpoint.objects.filter(name=EP).update(last_seen_at=T0 + 13 * MIN)
        assert alarms_sweep(now=T0 + 14 * MIN) == 1
        assert states() == ["cleared"]

    def test_a_device_never_heard_from_counts_from_its_creation(self) -> None:
        Endpoint.objects.create(name=EP)  # created now, never seen
        rule(name="quiet", kind="no_data", minutes=10)
        from django.utils import timezone

        assert alarms_sweep(now=timezone.now()) == 0
        assert alarms_sweep(now=timezone.now() + 11 * MIN) == 1
        assert "never heard from" in Alarm.objects.get().message

    def test_the_sweep_keeps_to_the_rules_scope(self) -> None:
        north = site_create(actor=SYSTEM, name="North")
        device(site=north)
        device("urn:dev:elsewhere")
        rule(name="quiet", kind="no_data", minutes=10, site=north.pk)
        alarms_sweep(now=T0 + 11 * MIN)
        assert list(Alarm.objects.values_list("endpoint__name", flat=True)) == [EP]

    def test_without_such_rules_the_sweep_reads_nothing_more(self, django_assert_num_queries: Any) -> None:
        rule(threshold=30)
        cache.rule_cache.rules()
        with django_assert_num_queries(0):
            assert alarms_sweep(now=T0) == 0


class TestOffline:
    def test_offline_longer_than_the_rule_and_back_online(self) -> None:
        device(online=False)
        device("urn:dev:online", online=True)
        rule(name="away", kind="offline", minutes=5, severity="critical")
        assert alarms_sweep(now=T0 + 4 * MIN) == 0
        assert alarms_sweep(now=T0 + 6 * MIN) == 1
        assert Alarm.objects.get().endpoint.name == EP
        temp(20, 0)  # heard from: online again
        assert alarms_sweep(now=T0 + 7 * MIN) == 1
        assert states() == ["cleared"]

    def test_an_unregistered_device_is_offline(self) -> None:
        device(online=False, registration_state="UNREGISTERED")
        rule(name="away", kind="offline", minutes=5)
        alarms_sweep(now=T0 + 6 * MIN)
        assert states() == ["active"]


class TestFirmwareFailed:
    def test_a_failed_update_raises_and_a_successful_one_clears(self) -> None:
        endpoint = device()
        rule(name="fw", kind="firmware_failed", severity="minor")
        update = make_firmware_update(endpoint=endpoint, status=FirmwareUpdate.Status.DOWNLOADING)
        send(reading("/5/0/5", 5))  # integrity check failure
        assert FirmwareUpdate.objects.get(pk=update.pk).status == "FAILED"
        alarm = Alarm.objects.get()
        assert (alarm.state, alarm.path, alarm.severity) == ("active", "/5/0/5", "minor")
        assert "firmware update failed: integrity check failure" in alarm.message
        hooks.firmware_update_finished(endpoint.pk, failed=False)
        assert states() == ["cleared"]

    def test_without_a_rule_a_failed_update_raises_nothing(self) -> None:
        endpoint = device()
        make_firmware_update(endpoint=endpoint, status=FirmwareUpdate.Status.DOWNLOADING)
        send(reading("/5/0/5", 5))
        assert not Alarm.objects.exists()


class TestCommandFailed:
    def operation(self, endpoint: Endpoint, status: str, error: str = "") -> EndpointOperation:
        return EndpointOperation.objects.create(
            endpoint=endpoint, kind="WRITE", path="/3/0/14", status=status, last_error=error
        )

    def test_a_failed_command_raises_and_a_confirmed_one_clears(self) -> None:
        endpoint = device()
        rule(name="cmd", kind="command_failed")
        failed = self.operation(endpoint, "FAILED", "4.04 NOT_FOUND")
        hooks.operations_changed([failed.pk], finished=True)
        alarm = Alarm.objects.get()
        assert (alarm.path, alarm.raised_value) == ("/3/0/14", "4.04 NOT_FOUND")
        assert alarm.message == "write /3/0/14 failed: 4.04 NOT_FOUND"
        queued = self.operation(endpoint, "QUEUED")
        hooks.operations_changed([queued.pk], finished=False)
        assert states() == ["active"]
        confirmed = self.operation(endpoint, "CONFIRMED")
        hooks.operations_changed([confirmed.pk], finished=True)
        assert states() == ["cleared"]

    def test_a_command_rule_of_another_site_is_not_raised(self) -> None:
        north = site_create(actor=SYSTEM, name="North")
        endpoint = device()
        rule(name="cmd", kind="command_failed", site=north.pk)
        hooks.operations_changed([self.operation(endpoint, "FAILED", "timeout").pk], finished=True)
        assert not Alarm.objects.exists()


class TestRuleCache:
    def test_a_new_rule_applies_to_the_next_post_in_this_process(self) -> None:
        temp(40, 0)
        rule(threshold=30)
        temp(40, 1)
        assert states() == ["active"]

    def test_a_change_made_by_another_process_applies_within_check_seconds(self, monkeypatch: Any) -> None:
        r = rule(threshold=30)
        temp(20, 0)  # loaded
        clock = [1000.0]
        monkeypatch.setattr(cache.time, "monotonic", lambda: clock[0])
        cache.rule_cache.clear()
        cache.rule_cache.rules()
        # Another process raises the threshold: this process's services are not told.
        from telemetry.alarms.models import AlarmRule

        AlarmRule.objects.filter(pk=r.pk).update(threshold=50, updated_at=T0 + dt.timedelta(days=400))
        temp(40, 1)
        assert states() == ["active"]  # within CHECK_SECONDS: the old rule
        temp(20, 2)
        clock[0] += cache.CHECK_SECONDS
        temp(40, 3)
        assert states() == ["cleared"]  # the new threshold: 40 is not above 50

    def test_a_deleted_rule_is_forgotten(self) -> None:
        r = rule(threshold=30)
        temp(20, 0)
        services.alarm_rule_delete(actor=SYSTEM, rule=r)
        assert not cache.rule_cache.rules().watches([(3303, 5700)])
        temp(40, 1)
        assert not Alarm.objects.exists()

    def test_a_check_costs_one_query_and_a_reload_one_more(
        self, monkeypatch: Any, django_assert_num_queries: Any
    ) -> None:
        rule(threshold=30)
        clock = [1000.0]
        monkeypatch.setattr(cache.time, "monotonic", lambda: clock[0])
        cache.rule_cache.rules()
        with django_assert_num_queries(0):
            cache.rule_cache.rules()
        clock[0] += cache.CHECK_SECONDS
        with django_assert_num_queries(1):
            cache.rule_cache.rules()
        rule(name="cold", kind="below", threshold=0)
        clock[0] += cache.CHECK_SECONDS
        with django_assert_num_queries(2):
            assert len(cache.rule_cache.rules().by_key[(3303, 5700)]) == 2


class TestDemo:
    def test_the_demo_rules_are_made_once(self) -> None:
        from io import StringIO

        from django.core.management import call_command

        from telemetry.alarms.models import AlarmRule
        from telemetry.management.commands.alarm_demo_rules import DEMO_RULES

        out = StringIO()
        call_command("alarm_demo_rules", stdout=out)
        call_command("alarm_demo_rules", stdout=out)
        assert AlarmRule.objects.count() == len(DEMO_RULES)
        assert f"0 created, {len(DEMO_RULES)} there already" in out.getvalue()

    def test_the_troubled_simulated_devices_misbehave(self) -> None:
        from core.simulator.fleet.config import TROUBLE_CYCLE, FleetConfig
        from core.simulator.fleet.device import SimulatedDevice

        class Fleet:
            config = FleetConfig(trouble=True)

        hot, silent = SimulatedDevice.build(Fleet(), 1), SimulatedDevice.build(Fleet(), 3)  # type: ignore[arg-type]
        curve = []
        for n in range(TROUBLE_CYCLE):
            hot.reports_sent = n
            curve.append(hot.overheating())
        assert max(curve) == 20.0
        assert curve[0] == 0.0
        assert curve[-1] < 2
        silent.intervals = TROUBLE_CYCLE
        assert silent.silent_now()
        silent.intervals = 2 * TROUBLE_CYCLE
        assert not silent.silent_now()
        calm = SimulatedDevice.build(type("F", (), {"config": FleetConfig()})(), 1)  # type: ignore[arg-type]
        calm.reports_sent = TROUBLE_CYCLE // 2
        assert calm.overheating() == 0.0


class TestRulesGoneMeanwhile:
    """Another process deleted or disabled a rule this process's cache still holds (for CHECK_SECONDS)."""

    def hold_the_cache(self, monkeypatch: Any) -> None:
        clock = [1000.0]
        monkeypatch.setattr(cache.time, "monotonic", lambda: clock[0])
        cache.rule_cache.clear()
        cache.rule_cache.rules()

    def test_a_deleted_rule_raises_nothing_and_the_post_is_stored(self, monkeypatch: Any) -> None:
        from telemetry.alarms.models import AlarmRule
        from telemetry.models import Resource

        rule(threshold=30)
        rule(name="slow", threshold=30, readings=3)
        self.hold_the_cache(monkeypatch)
        AlarmRule.objects.all().delete()  # as another process would: this cache is not told
        temp(40, 0)
        assert not Alarm.objects.exists()
        assert Resource.objects.count() == 1

    def test_a_disabled_rule_raises_nothing(self, monkeypatch: Any) -> None:
        from telemetry.alarms.models import AlarmRule

        rule(threshold=30)
        self.hold_the_cache(monkeypatch)
        AlarmRule.objects.update(enabled=False)
        temp(40, 0)
        assert not Alarm.objects.exists()
