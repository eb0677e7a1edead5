"""Every firmware page reads in a constant number of queries however many rows it shows (style guide 6):
each is requested with few rows, then with many, and must cost the same, exact, number of queries."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from core.models import Endpoint
from firmware import services
from telemetry.models import Rollout, RolloutDevice
from tests.factories import make_endpoint, make_firmware
from tests.firmware.reports import finish

pytestmark = pytest.mark.django_db

DEVICE = "fw-device"  # the device whose firmware section is read


def grow(operator: Any, *, devices: int, tag: str) -> Rollout:
    """More of everything the pages list: images, updates of the one device (cancelled, then one under
    way), and a new campaign of ``devices`` devices with every kind of row: succeeded, failed, under way,
    skipped (an update under way elsewhere), waiting for its wave."""
    device = Endpoint.objects.filter(name=DEVICE).first() or make_endpoint(name=DEVICE)
    images = [make_firmware(version=f"{tag}.{n}") for n in range(max(2, devices // 4))]
    for image in images[:-1]:
        update = services.firmware_update_start(actor=operator, endpoint=device, firmware=image)
        services.firmware_update_cancel(actor=operator, update=update)
    endpoints = [make_endpoint(name=f"{tag}-{n:03}") for n in range(devices)]
    services.firmware_update_start(actor=operator, endpoint=endpoints[0], firmware=images[-1])  # skipped below
    campaign = services.campaign_create(
        actor=operator,
        name=tag,
        firmware=make_firmware(version=f"{tag}.target"),
        endpoints=endpoints,
        waves=[50, 100],
        max_failure_rate=1.0,
    )
    first = RolloutDevice.objects.filter(rollout=campaign, wave=0).select_related("update__endpoint")
    started = [member.update for member in first if member.update is not None]
    for number, update in enumerate(started[:-1]):  # the last one stays under way: wave 2 waits
        finish(update, ok=number % 2 == 0)
    return campaign


def pages(campaign: Rollout) -> dict[str, str]:
    return {
        "firmware": "/firmware/",
        "campaign": f"/firmware/campaigns/{campaign.number}/",
        "campaign list": "/api/v1/campaigns",
        "campaign detail": f"/api/v1/campaigns/{campaign.number}",
        "device section": f"/endpoints/{DEVICE}/firmware/",
    }


EXPECTED = {
    # session, user, role groups, site roles (the navigation: core.context_processors), its alarms badge, the
    # images with their use, the updates with their device, image and campaign, the campaigns with their
    # image and counts
    "firmware": 8,
    # session, user, role groups, site roles, the alarms badge, the campaign with its image and counts, its
    # devices with their updates
    "campaign": 7,
    # session, user, role groups, the campaigns with their image and counts
    "campaign list": 4,
    # session, user, role groups, the campaign with its image and counts, its devices with their updates
    "campaign detail": 5,
    # session, user, role groups, the device, the images with their use, the device's updates
    "device section": 6,
}


def queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_a_page_costs_the_same_queries_with_few_rows_and_with_many(
    name: str, viewer, operator, django_assert_num_queries
) -> None:
    expected = EXPECTED[name]
    client = Client()
    client.force_login(viewer)
    url = pages(grow(operator, devices=4, tag="few"))[name]
    client.get(url)  # the registry's cache and the session warm up
    few = queries(client, url)
    url = pages(grow(operator, devices=40, tag="many"))[name]
    with django_assert_num_queries(expected):
        response = client.get(url)
    assert response.status_code == 200
    assert few == expected
