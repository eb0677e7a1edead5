"""A fragment pushed into a page is the page's own markup, as a reload would show it, tokens included: a
form that arrived over the websocket posts like the form the page was rendered with."""

from __future__ import annotations

import re
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from core.lwm2m.nodes import Path, Reading
from core.lwm2m.types import DataType
from core.models import Endpoint
from core.roles import Role
from firmware import partials as firmware_partials
from firmware import services as firmware_services
from firmware.models import FirmwareUpdate
from realtime.tokens import PLACEHOLDER
from telemetry import partials, presenters
from telemetry.downlink.queue import operation_enqueue
from telemetry.ingest import ingest
from telemetry.models import Event, Rollout
from tests.factories import make_firmware, make_user
from tests.html import element
from tests.realtime.live import connect, receive_all

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')


def normalised(html: str) -> str:
    """Without what differs by design: the oob attribute of a push, and the token's masking."""
    return TOKEN.sub('name="csrfmiddlewaretoken" value="…"', html.replace(' hx-swap-oob="true"', ""))


def assert_same(pushed: str, page: str, element_id: str) -> None:
    assert normalised(element(pushed, element_id)) == normalised(element(page, element_id))


@pytest.fixture
def fleet(db: None) -> dict[str, Any]:
    """A device that reported, a command for it, an image, a campaign updating the device."""
    admin = make_user(Role.ADMIN, username="ada", is_staff=True)
    name = "urn:dev:same-1"
    ingest(endpoint_name=name, readings=[Reading(Path(10240, 0, 0), DataType.TIME, 1_764_000_000_000)])
    ingest(
        endpoint_name=name,
        readings=[
            Reading(Path(3, 0, 3), DataType.STRING, "1.0.0"),
            Reading(Path(3, 0, 9), DataType.INTEGER, 80),
            Reading(Path(3303, 0, 5700), DataType.FLOAT, 21.5),
        ],
    )
    endpoint = Endpoint.objects.get(name=name)
    operation = operation_enqueue(actor=admin, endpoint=endpoint, kind="WRITE", path="/3/0/14", value="+02")
    image = make_firmware(version="1.1.0")
    make_firmware(version="1.2.0")  # unused: the images table offers to delete it
    campaign = firmware_services.campaign_create(
        actor=admin, name="rollout", firmware=image, endpoints=[endpoint], waves=[100]
    )
    update = FirmwareUpdate.objects.get(rollout_device__rollout=campaign)
    client = Client()
    client.force_login(admin)
    return {"client": client, "endpoint": endpoint, "operation": operation, "campaign": campaign, "update": update}


def page(fleet: dict[str, Any], url: str) -> str:
    response = fleet["client"].get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_the_dashboards_pushes_are_its_own_markup(fleet: dict[str, Any]) -> None:
    dashboard = page(fleet, "/")
    endpoint = fleet["endpoint"]
    assert_same(partials.render_fleet_counts(), dashboard, "fleet-counts")
    assert_same(partials.render_endpoint_row(endpoint.pk), dashboard, f"endpoint-row-{endpoint.pk}")
    event = Event.objects.filter(endpoint=endpoint).latest("pk")
    assert_same(partials.render_event(presenters.summarize_event(event)), dashboard, f"event-{event.pk}")


def test_a_device_pages_pushes_are_its_own_markup(fleet: dict[str, Any]) -> None:
    endpoint, operation, update = fleet["endpoint"], fleet["operation"], fleet["update"]
    device = page(fleet, f"/endpoints/{endpoint.name}/")
    assert_same(partials.render_endpoint_status(endpoint.pk), device, "endpoint-status")
    assert_same(partials.render_latest_values(endpoint.pk), device, "latest-values")
    assert_same(partials.render_operation(operation.pk), device, f"operation-{operation.pk}")
    section = page(fleet, f"/endpoints/{endpoint.name}/firmware/")
    assert_same(firmware_partials.render_update_row(update.pk, page="device"), section, f"update-{update.pk}")
    inserted = firmware_partials.render_update_row(update.pk, page="device", insert=True)
    assert_same(inserted, section, f"update-{update.pk}")


def test_the_commands_pages_pushes_are_its_own_markup(fleet: dict[str, Any]) -> None:
    operation = fleet["operation"]
    pushed = partials.render_operation(operation.pk, page="operations")
    assert_same(pushed, page(fleet, "/operations/"), f"operation-{operation.pk}")


def test_the_firmware_pages_pushes_are_their_own_markup_forms_included(fleet: dict[str, Any]) -> None:
    campaign, update = fleet["campaign"], fleet["update"]
    firmware_page = page(fleet, "/firmware/")
    images = firmware_partials.render_firmware_list()
    assert "Delete firmware 1.2.0" in images  # the admin's delete form is in the push, as on the page
    assert_same(images, firmware_page, "images")
    assert_same(firmware_partials.render_update_row(update.pk, page="firmware"), firmware_page, f"update-{update.pk}")
    head = firmware_partials.render_campaign(campaign.pk)
    assert head.count(PLACEHOLDER) == 2  # Pause and Abort: each socket puts its user's token there
    assert_same(head, page(fleet, f"/firmware/campaigns/{campaign.number}/"), f"campaign-head-{campaign.pk}")
    assert_same(head, firmware_page, f"campaign-row-{campaign.pk}")
    new_update = firmware_partials.render_update_row(update.pk, page="firmware", insert=True)
    assert_same(new_update, firmware_page, f"update-{update.pk}")
    assert_same(firmware_partials.render_new_campaign(campaign.pk), firmware_page, f"campaign-row-{campaign.pk}")


def campaign_started(actor: Any, name: str) -> Rollout:
    ingest(endpoint_name=name, readings=[Reading(Path(3, 0, 9), DataType.INTEGER, 5)])
    endpoint = Endpoint.objects.get(name=name)
    return firmware_services.campaign_create(
        actor=actor, name="live", firmware=make_firmware(), endpoints=[endpoint], waves=[100]
    )


@pytest.mark.django_db(transaction=True)
async def test_a_form_pushed_to_a_socket_posts_with_that_users_token(layer: str) -> None:
    """The campaign's header reaches an operator's open page after a change; its Pause form then works."""
    operator = await database_sync_to_async(make_user)(Role.OPERATOR, username="otto")
    client = Client(enforce_csrf_checks=True)
    await database_sync_to_async(client.force_login)(operator)
    await database_sync_to_async(client.get)("/firmware/")  # the page sets the CSRF cookie
    cookies = "; ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items())
    socket = await connect("/ws/firmware/", cookie=cookies.encode())
    assert (await socket.connect())[0]
    campaign = await database_sync_to_async(campaign_started)(operator, "urn:dev:pushed")
    pushed = element(await receive_all(socket), f"campaign-head-{campaign.pk}")
    await socket.disconnect()
    assert PLACEHOLDER not in pushed
    form = re.search(
        r'action="(/firmware/campaigns/\d+/pause/)".*?name="csrfmiddlewaretoken" value="(\w+)"', pushed, re.S
    )
    assert form is not None
    response = await database_sync_to_async(client.post)(form[1], {"csrfmiddlewaretoken": form[2]})
    assert response.status_code == 302  # not 403: the token is this user's
    await database_sync_to_async(campaign.refresh_from_db)()
    assert campaign.status == Rollout.Status.PAUSED


@pytest.mark.django_db(transaction=True)
async def test_a_socket_without_a_csrf_cookie_gets_an_empty_token(layer: str) -> None:
    operator = await database_sync_to_async(make_user)(Role.OPERATOR)
    socket = await connect("/ws/firmware/", operator)  # a session cookie, no CSRF cookie
    assert (await socket.connect())[0]
    campaign = await database_sync_to_async(campaign_started)(operator, "urn:dev:no-cookie")
    pushed = element(await receive_all(socket), f"campaign-head-{campaign.pk}")
    await socket.disconnect()
    assert PLACEHOLDER not in pushed
    assert 'name="csrfmiddlewaretoken" value=""' in pushed


def test_the_alarm_pushes_are_their_pages_own_markup_forms_included(fleet: dict[str, Any]) -> None:
    import datetime as dt

    from django.db import transaction

    from telemetry.alarms import partials as alarm_partials
    from telemetry.alarms.models import AlarmRule
    from telemetry.alarms.services import alarm_raise

    endpoint = fleet["endpoint"]
    rule = AlarmRule.objects.create(name="too hot", kind="above", severity="critical", threshold=20)
    with transaction.atomic():
        alarm = alarm_raise(rule=rule, endpoint=endpoint, at=dt.datetime.now(dt.UTC), value=21.5, path="/3303/0/5700")
    assert alarm is not None
    listing = page(fleet, "/alarms/")
    row = alarm_partials.render_row(alarm.pk)
    assert row.count(PLACEHOLDER) == 1  # the acknowledge / clear form: each socket puts its user's token there
    assert_same(row, listing, f"alarm-row-{alarm.pk}")
    assert_same(alarm_partials.render_new_row(alarm.pk), listing, f"alarm-row-{alarm.pk}")
    assert_same(alarm_partials.render_badge(), listing, "nav-alarms-badge")
    assert_same(alarm_partials.render_detail(alarm.pk), page(fleet, f"/alarms/{alarm.pk}/"), f"alarm-detail-{alarm.pk}")
    dashboard = page(fleet, "/")
    assert_same(alarm_partials.render_panel(), dashboard, "alarm-panel")
    assert_same(partials.render_endpoint_row(endpoint.pk), dashboard, f"endpoint-row-{endpoint.pk}")
    device = page(fleet, f"/endpoints/{endpoint.name}/")
    assert_same(alarm_partials.render_endpoint_alarms(endpoint.pk), device, "endpoint-alarms")
