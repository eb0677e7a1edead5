"""Every telemetry page reads in a constant number of queries however many rows it shows (style guide 6):
each page is requested with few rows, then with many, and must cost the same, exact, number of queries."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.lwm2m.nodes import Path, Reading
from core.lwm2m.types import DataType
from core.models import Endpoint
from core.permissions import SYSTEM
from telemetry.alarms.models import Alarm, AlarmRule, Severity
from telemetry.alarms.services import alarm_acknowledge, alarm_clear, alarm_raise
from telemetry.downlink.queue import operation_cancel, operation_enqueue
from telemetry.ingest import ingest

pytestmark = pytest.mark.django_db


def report(name: str, n: int) -> None:
    """A post of several values (an event): temperature, battery, firmware version, two instances of 3/0/7."""
    ingest(
        endpoint_name=name,
        readings=[
            Reading(Path(3303, 0, 5700), DataType.FLOAT, 20.0 + n),
            Reading(Path(3, 0, 9), DataType.INTEGER, n % 100),
            Reading(Path(3, 0, 3), DataType.STRING, f"1.{n}"),
            Reading(Path(3, 0, 7, 0), DataType.INTEGER, 3300, multiple=True),
            Reading(Path(3, 0, 7, 1), DataType.INTEGER, 3301, multiple=True),
        ],
    )


def grow(devices: int, events: int, operations: int) -> None:
    for i in range(devices):
        report(f"dev-{i:03}", i)
    alarmed(devices)
    for i in range(events):
        report("dev-000", i)
    first = Endpoint.objects.get(name="dev-000")
    for i in range(operations):
        operation = operation_enqueue(actor=SYSTEM, endpoint=first, kind="WRITE", path="/3/0/14", value=f"+0{i % 10}")
        if i % 2:  # a cancelled one offers Retry: its rows ask the retry guards (one query for them all)
            operation_cancel(actor=SYSTEM, operation=operation)


def alarmed(devices: int) -> None:
    """An open alarm on every device (a rule for each of a few severities), the first alarm acknowledged
    and cleared (its history: three changes, each by a user or by its condition)."""
    rules = [
        AlarmRule.objects.get_or_create(name=f"rule {severity}", kind="above", severity=severity, threshold=1)[0]
        for severity in Severity.values
    ]
    with transaction.atomic():
        for n, endpoint in enumerate(Endpoint.objects.order_by("pk")[:devices]):
            alarm_raise(rule=rules[n % len(rules)], endpoint=endpoint, at=timezone.now(), value=n)
    first = Alarm.objects.order_by("pk").first()
    if first is not None and first.state == Alarm.State.ACTIVE:
        operator = get_user_model().objects.get_or_create(username="alarm-operator", is_superuser=True)[0]
        alarm_acknowledge(actor=operator, alarm=first, note="seen")
        alarm_clear(actor=operator, alarm=first, note="done")


PAGES: dict[str, tuple[str, int]] = {
    # session, user, role groups, fleet counts, updating count, device count, the page of devices (their
    # sites joined), their labels, their latest firmware and battery, their sparklines, their worst open
    # alarms, the newest events, their values (two), the sites and labels to filter by, the user's site
    # roles (may they operate any?), the alarms panel (open counts, the newest open), the alarms badge
    "dashboard": ("/", 20),
    # session, user, role groups, the device (its site joined), its labels, its identity and registrations,
    # latest values, events and their values (two), operations and their retry guard, the readings table's
    # resource, its page and units, the user's site roles (may they change the device's site and labels?),
    # its alarms (open, then cleared), the alarms badge
    "device": ("/endpoints/dev-000/", 19),
    # session, user, role groups, the user's site roles (the navigation: core.context_processors), the
    # alarms badge, the events, their values (two)
    "events": ("/events/", 8),
    # session, user, role groups, the user's site roles, the alarms badge, the operations, their retry guard
    "operations": ("/operations/", 7),
    # session, user, role groups, the user's site roles, the alarms badge, the alarms' count and page (rule,
    # device, site and users joined), the sites to filter by
    "alarms": ("/alarms/", 8),
    # session, user, role groups, the user's site roles, the alarms badge, the alarm (its rule, device, site
    # and users joined), its history (users joined)
    "alarm": ("/alarms/1/", 7),
}


def queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("name", list(PAGES))
def test_a_page_costs_the_same_queries_with_few_rows_and_with_many(
    name: str, viewer, django_assert_num_queries
) -> None:
    url, expected = PAGES[name]
    client = Client()
    client.force_login(viewer)
    grow(devices=2, events=2, operations=2)
    url = url.replace("/alarms/1/", f"/alarms/{Alarm.objects.order_by('pk').values_list('pk', flat=True)[0]}/")
    client.get(url)  # the registry's cache and the session warm up
    few = queries(client, url)
    grow(devices=40, events=40, operations=40)
    with django_assert_num_queries(expected):
        response = client.get(url)
    assert response.status_code == 200
    assert few == expected
