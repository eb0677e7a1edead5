"""Alarm rules judged on ingest: every condition kind, hysteresis, durations (seconds and readings),
scope, late readings, battery, and atomicity with the readings judged."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from core.models import Endpoint, Site
from core.permissions import SYSTEM
from core.sites.services import endpoints_labels_add, site_create
from telemetry import hooks
from telemetry.alarms import services
from telemetry.alarms.models import Alarm, AlarmChange, AlarmWatch
from telemetry.models import Resource
from tests.telemetry.alarms_helpers import EP, T0, open_alarm, reading, rule, send, states, temp

pytestmark = pytest.mark.django_db


class TestAbove:
    def test_a_reading_above_raises_with_its_value_and_device_time(self) -> None:
        r = rule(threshold=30)
        temp(25, 0)
        assert states() == []
        temp(31.5, 10)
        alarm = Alarm.objects.get()
        assert (alarm.state, alarm.raised_value, alarm.raised_at, alarm.path) == (
            "active",
            31.5,
            T0 + dt.timedelta(seconds=10),
            "/3303/0/5700",
        )
        assert alarm.rule == r
        assert alarm.severity == "major"
        assert "above 30" in alarm.message
        assert list(alarm.changes.values_list("state", "value")) == [("active", 31.5)]

    def test_it_stays_one_alarm_while_the_condition_holds(self) -> None:
        rule(threshold=30)
        temp(31, 0)
        temp(35, 10)
        temp(40, 20)
        assert states() == ["active"]

    def test_without_hysteresis_it_clears_at_the_threshold(self) -> None:
        rule(threshold=30)
        temp(31, 0)
        temp(30, 10)
        alarm = Alarm.objects.get()
        assert (alarm.state, alarm.cleared_value, alarm.cleared_at, alarm.cleared_by) == (
            "cleared",
            30.0,
            T0 + dt.timedelta(seconds=10),
            None,
        )

    def test_hysteresis_clears_only_past_the_clear_threshold(self) -> None:
        rule(threshold=30, clear_threshold=25)
        temp(31, 0)
        temp(28, 10)
        temp(29.9, 20)
        assert states() == ["active"]
        temp(25, 30)
        assert states() == ["cleared"]

    def test_a_condition_back_after_clearing_is_a_new_alarm(self) -> None:
        rule(threshold=30)
        temp(31, 0)
        temp(20, 10)
        temp(32, 20)
        assert states() == ["cleared", "active"]


class TestBelowOutsideEqualChanged:
    def test_below_with_hysteresis(self) -> None:
        rule(kind="below", threshold=5, clear_threshold=8)
        temp(4, 0)
        temp(6, 10)
        assert states() == ["active"]
        temp(8, 20)
        assert states() == ["cleared"]

    def test_outside_a_range_either_side_and_back_inside_the_clear_range(self) -> None:
        rule(kind="outside", threshold=10, threshold_high=30, clear_threshold=12, clear_threshold_high=28)
        temp(20, 0)
        temp(31, 10)
        temp(29, 20)  # inside the range, outside the clear range: still raised
        assert states() == ["active"]
        temp(27, 30)
        temp(9, 40)
        assert states() == ["cleared", "active"]
        temp(11, 50)
        temp(15, 60)
        assert states() == ["cleared", "cleared"]

    def test_equal_on_a_string(self) -> None:
        rule(kind="equal", path="/3/0/3", value="0.0.0-broken")
        send(reading("/3/0/17", "sensor"))
        send(reading("/3/0/3", "1.0.0", T0))
        send(reading("/3/0/3", "0.0.0-broken", T0 + dt.timedelta(seconds=1)))
        assert states() == ["active"]
        send(reading("/3/0/3", "1.0.1", T0 + dt.timedelta(seconds=2)))
        assert states() == ["cleared"]

    def test_equal_on_an_integer(self) -> None:
        rule(kind="equal", path="/3/0/20", value=3)  # Battery Status 3: damaged
        send(reading("/3/0/20", 0, T0))
        send(reading("/3/0/20", 3, T0 + dt.timedelta(seconds=1)))
        assert Alarm.objects.get().raised_value == 3

    def test_changed_raises_on_a_change_and_not_on_the_first_value(self) -> None:
        rule(kind="changed", path="/3/0/3")
        send(reading("/3/0/3", "1.0.0", T0))
        send(reading("/3/0/3", "1.0.0", T0 + dt.timedelta(seconds=1)))
        assert states() == []
        send(reading("/3/0/3", "1.1.0", T0 + dt.timedelta(seconds=2)))
        alarm = Alarm.objects.get()
        assert (alarm.state, alarm.raised_value) == ("active", "1.1.0")
        send(reading("/3/0/3", "1.2.0", T0 + dt.timedelta(seconds=3)))  # open already: one alarm
        assert states() == ["active"]
        assert AlarmWatch.objects.get().last_value == "1.2.0"

    def test_a_changed_alarm_is_cleared_by_hand_and_the_next_change_raises_again(self, operator: Any) -> None:
        rule(kind="changed", path="/3/0/3")
        send(reading("/3/0/3", "1.0.0", T0))
        send(reading("/3/0/3", "1.1.0", T0 + dt.timedelta(seconds=1)))
        services.alarm_clear(actor=operator, alarm=Alarm.objects.get())
        send(reading("/3/0/3", "1.1.0", T0 + dt.timedelta(seconds=2)))
        assert states() == ["cleared"]
        send(reading("/3/0/3", "1.2.0", T0 + dt.timedelta(seconds=3)))
        assert states() == ["cleared", "active"]


class TestDurations:
    def test_seconds_raise_only_when_true_that_long(self) -> None:
        rule(threshold=30, duration_seconds=60)
        temp(31, 0)
        temp(32, 30)
        assert states() == []
        assert AlarmWatch.objects.get().since == T0
        temp(33, 60)
        alarm = Alarm.objects.get()
        assert (alarm.raised_at, alarm.raised_value) == (T0 + dt.timedelta(seconds=60), 33.0)
        assert not AlarmWatch.objects.exists()

    def test_a_reading_that_does_not_meet_it_starts_the_duration_again(self) -> None:
        rule(threshold=30, duration_seconds=60)
        temp(31, 0)
        temp(29, 30)
        assert not AlarmWatch.objects.exists()
        temp(31, 40)
        temp(31, 90)
        assert states() == []
        temp(31, 100)
        assert states() == ["active"]

    def test_consecutive_readings(self) -> None:
        rule(threshold=30, readings=3)
        temp(31, 0)
        temp(31, 1)
        temp(20, 2)
        temp(31, 3)
        temp(31, 4)
        assert states() == []
        assert AlarmWatch.objects.get().count == 2
        temp(31, 5)
        assert states() == ["active"]

    def test_one_post_of_timestamped_readings_is_judged_in_device_time_order(self) -> None:
        rule(threshold=30, readings=3)
        send(*[reading("/3303/0/5700", 31.0, T0 + dt.timedelta(seconds=s)) for s in (20, 0, 10)])
        alarm = Alarm.objects.get()
        assert alarm.raised_at == T0 + dt.timedelta(seconds=20)


class TestLateReadings:
    def test_a_reading_older_than_the_alarms_last_change_does_not_clear_it(self) -> None:
        rule(threshold=30)
        temp(31, 100)
        temp(20, 50)  # measured before the alarm was raised
        assert states() == ["active"]
        temp(20, 150)
        assert states() == ["cleared"]

    def test_a_late_reading_does_not_raise_again_before_the_clear(self) -> None:
        rule(threshold=30)
        temp(31, 100)
        temp(20, 200)
        temp(35, 150)  # sent late: older than the clear
        assert states() == ["cleared"]
        temp(35, 250)
        assert states() == ["cleared", "active"]


class TestInstances:
    def test_a_wildcard_rule_is_raised_by_any_instance_and_cleared_by_that_one(self) -> None:
        rule(threshold=30)
        temp(20, 0, instance=0)
        temp(31, 1, instance=1)
        assert open_alarm().path == "/3303/1/5700"
        temp(20, 2, instance=0)
        assert states() == ["active"]
        temp(20, 3, instance=1)
        assert states() == ["cleared"]

    def test_a_rule_on_one_instance_ignores_the_others(self) -> None:
        rule(threshold=30, path="/3303/1/5700")
        temp(40, 0, instance=0)
        assert states() == []
        temp(40, 1, instance=1)
        assert states() == ["active"]

    def test_a_registry_name_watches_every_instance(self) -> None:
        r = rule(threshold=30, path="", resource="temperature")
        assert (r.path, r.object_id, r.instance_id, r.resource_id) == ("/3303/*/5700", 3303, None, 5700)
        temp(40, 0, instance=2)
        assert states() == ["active"]


class TestScope:
    def test_a_device_rule_applies_to_that_device_only(self) -> None:
        other = Endpoint.objects.create(name="urn:dev:other")
        Endpoint.objects.create(name=EP)
        rule(threshold=30, endpoint=EP)
        temp(40, 0, ep=other.name)
        assert not Alarm.objects.exists()
        temp(40, 0)
        assert states() == ["active"]

    def test_a_site_rule_applies_to_its_sites_devices_only(self) -> None:
        north, south = site_create(actor=SYSTEM, name="North"), site_create(actor=SYSTEM, name="South")
        Endpoint.objects.create(name=EP, site=north)
        Endpoint.objects.create(name="urn:dev:south", site=south)
        Endpoint.objects.create(name="urn:dev:nowhere")
        rule(threshold=30, site=north.pk)
        for name in (EP, "urn:dev:south", "urn:dev:nowhere"):
            temp(40, 0, ep=name)
        assert list(Alarm.objects.values_list("endpoint__name", flat=True)) == [EP]

    def test_a_labels_rule_needs_every_label(self) -> None:
        both, one = Endpoint.objects.create(name=EP), Endpoint.objects.create(name="urn:dev:one")
        endpoints_labels_add(actor=SYSTEM, endpoints=Endpoint.objects.filter(pk=both.pk), labels=["cold-room", "eu"])
        endpoints_labels_add(actor=SYSTEM, endpoints=Endpoint.objects.filter(pk=one.pk), labels=["cold-room"])
        rule(threshold=30, labels=["cold-room", "eu"])
        temp(40, 0, ep=one.name)
        temp(40, 0, ep=both.name)
        assert list(Alarm.objects.values_list("endpoint__name", flat=True)) == [EP]

    def test_a_new_device_assigned_to_a_site_by_its_rules_is_judged_in_it(self) -> None:
        from core.sites.services import site_rule_create

        north = site_create(actor=SYSTEM, name="North")
        site_rule_create(actor=SYSTEM, site=north, kind="prefix", text="urn:dev:")
        rule(threshold=30, site=north.pk)
        temp(40, 0)
        assert states() == ["active"]
        assert Site.objects.get(endpoints__name=EP) == north


class TestBattery:
    def test_battery_below_a_percent_with_hysteresis(self) -> None:
        r = rule(name="battery", kind="battery", threshold=20, clear_threshold=30)
        assert (r.path, r.object_id, r.resource_id) == ("/3/0/9", 3, 9)
        send(reading("/3/0/9", 50, T0))
        send(reading("/3/0/9", 19, T0 + dt.timedelta(seconds=1)))
        alarm = Alarm.objects.get()
        assert (alarm.state, alarm.raised_value) == ("active", 19)
        assert alarm.message == "/3/0/9 = 19 %, below 20 %"
        send(reading("/3/0/9", 25, T0 + dt.timedelta(seconds=2)))
        assert states() == ["active"]
        send(reading("/3/0/9", 100, T0 + dt.timedelta(seconds=3)))
        assert states() == ["cleared"]


class TestAtomicity:
    def test_a_post_that_fails_after_the_judging_leaves_no_alarm_and_no_reading(self, monkeypatch: Any) -> None:
        rule(threshold=30)

        def broken(endpoint_id: int, readings: Any) -> None:
            raise RuntimeError("the firmware listener failed")

        monkeypatch.setattr(hooks, "_firmware_listener", broken)
        with pytest.raises(RuntimeError):
            send(reading("/3303/0/5700", 40.0, T0), reading("/3/0/3", "1.0.0", T0))
        assert not Alarm.objects.exists()
        assert not AlarmChange.objects.exists()
        assert not Resource.objects.exists()

    def test_a_refused_post_judges_nothing(self) -> None:
        from telemetry.ingest.names import IngestError

        rule(threshold=30)
        with pytest.raises(IngestError):
            send(reading("/3303/0/5700", 40.0, T0), reading("/3303/0/5700", "hot", T0))
        assert not Alarm.objects.exists()

    def test_posts_no_rule_watches_are_not_judged(self) -> None:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        rule(threshold=30)
        send(reading("/3304/0/5700", 50.0, T0))  # humidity: warm the caches
        with CaptureQueriesContext(connection) as captured:
            send(reading("/3304/0/5700", 51.0, T0))
        assert captured.captured_queries
        assert not [q["sql"] for q in captured.captured_queries if "telemetry_alarm" in q["sql"]]

    def test_a_disabled_rule_is_not_judged(self) -> None:
        r = rule(threshold=30)
        services.alarm_rule_update(actor=SYSTEM, rule=r, changes={"enabled": False})
        temp(40, 0)
        assert not Alarm.objects.exists()


@pytest.mark.postgres
class TestOneStatementOnPostgres:
    def test_a_watched_post_that_changes_nothing_is_one_guarded_statement(self) -> None:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        rule(threshold=30, readings=2)
        rule(name="cold room", threshold=5, labels=["cold-room"])
        temp(20, 0)
        with CaptureQueriesContext(connection) as captured:
            temp(21, 1)
        statements = [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]
        assert len(statements) == 1, statements
        assert "1 / (CASE WHEN" in statements[0]
        assert "fieldhub_alarm_pending" in statements[0]  # the rule not met: no alarm or watch may change
        assert "fieldhub_endpoint_labels" in statements[0]  # the one met: the device lacks its label

    def test_the_first_post_of_a_device_is_judged_in_a_transaction(self) -> None:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        rule(threshold=30)
        with CaptureQueriesContext(connection) as captured:
            temp(20, 0)
        assert not any("1 / (CASE WHEN" in q["sql"] for q in captured.captured_queries)
        assert any("json_build_object" in q["sql"] for q in captured.captured_queries)

    def test_an_alarm_raised_elsewhere_trips_the_guard_and_the_reading_clears_it(self) -> None:
        r = rule(threshold=30)
        temp(20, 0)  # this process now knows the device
        endpoint = Endpoint.objects.get(name=EP)
        services.alarm_raise(rule=r, endpoint=endpoint, at=T0 + dt.timedelta(seconds=1), value=31.0)  # another process
        temp(20, 2)
        assert states() == ["cleared"]

    def test_a_pending_duration_elsewhere_trips_the_guard(self) -> None:
        r = rule(threshold=30, readings=2)
        temp(20, 0)
        AlarmWatch.objects.create(rule=r, endpoint=Endpoint.objects.get(name=EP), since=T0, count=1)
        temp(20, 1)
        assert not AlarmWatch.objects.exists()

    def test_a_device_moved_to_another_site_elsewhere_trips_the_guard(self) -> None:
        north, south = site_create(actor=SYSTEM, name="North"), site_create(actor=SYSTEM, name="South")
        Endpoint.objects.create(name=EP, site=south)
        rule(threshold=30, site=north.pk)
        temp(20, 0)  # known in South, where no rule applies
        Endpoint.objects.filter(name=EP).update(site=north)  # another process moved it
        temp(40, 1)
        assert states() == ["active"]

    def test_labels_given_elsewhere_trip_the_guard(self) -> None:
        Endpoint.objects.create(name=EP)
        rule(threshold=30, labels=["cold-room"])
        temp(20, 0)
        endpoints_labels_add(actor=SYSTEM, endpoints=Endpoint.objects.filter(name=EP), labels=["cold-room"])
        temp(40, 1)
        assert states() == ["active"]

    def test_the_state_read_in_the_statement_judges_as_a_query_of_its_own_would(self) -> None:
        rule(threshold=30, readings=2, clear_threshold=25)
        temp(31, 0)
        temp(31, 1)
        temp(26, 2)
        assert states() == ["active"]
        temp(24, 3)
        temp(31, 4)
        assert states() == ["cleared"]
        assert AlarmWatch.objects.get().count == 1
