"""One open alarm per rule and device when posts and sweeps race (PostgreSQL: real concurrent
transactions; the partial unique index and the row locks decide)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import pytest
from django.db import connection

from core.models import Endpoint
from telemetry.alarms.fleet import alarms_sweep
from telemetry.alarms.models import Alarm, AlarmChange
from tests.telemetry.alarms_helpers import EP, T0, rule, temp

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def at_once(task: Callable[[int], object], count: int) -> list[BaseException]:
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            task(n)
        except BaseException as exc:  # reported by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_concurrent_posts_raise_one_alarm() -> None:
    Endpoint.objects.create(name=EP)
    rule(threshold=30)
    for _ in range(3):
        errors = at_once(lambda n: temp(40 + n, n), 8)
        assert errors == []
        assert Alarm.objects.filter(state="active").count() == 1
        assert AlarmChange.objects.filter(state="active").count() == Alarm.objects.count()
        temp(10, 100)  # cleared: the next round raises a new one
        Alarm.objects.update(changed_at=T0)
    assert Alarm.objects.count() == 3


def test_concurrent_sweeps_raise_and_clear_once() -> None:
    names = [f"urn:dev:quiet-{n}" for n in range(20)]
    Endpoint.objects.bulk_create([Endpoint(name=name, last_seen_at=T0) for name in names])
    rule(name="quiet", kind="no_data", minutes=10)
    now = T0 + dt.timedelta(minutes=11)
    assert at_once(lambda n: alarms_sweep(now=now), 4) == []
    assert Alarm.objects.filter(state="active").count() == 20
    assert AlarmChange.objects.count() == 20
    Endpoint.objects.update(last_seen_at=now)
    assert at_once(lambda n: alarms_sweep(now=now + dt.timedelta(minutes=1)), 4) == []
    assert Alarm.objects.filter(state="cleared").count() == 20
    assert AlarmChange.objects.filter(state="cleared").count() == 20
