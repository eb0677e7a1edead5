"""New updates and campaigns join the lists of the pages that are open: a single device's update goes on
top of the firmware page's updates and of its device's firmware section, a new campaign on top of the
firmware page's campaigns; a campaign's own updates are counted by its row instead of being added one by one
(a wave may start thousands)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from firmware import announce, partials, services
from realtime import groups
from tests.factories import make_endpoint, make_firmware

pytestmark = pytest.mark.django_db


def squeezed(html: str) -> str:
    return re.sub(r">\s+<", "><", html.strip())


@pytest.fixture
def pushed(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(announce, "publish", lambda group, event: seen.append((group, event.key)))
    return seen


def test_a_devices_new_update_goes_on_top_of_both_lists(operator: Any, pushed: list[tuple[str, str]]) -> None:
    device = make_endpoint(name="live-1")
    update = services.firmware_update_start(actor=operator, endpoint=device, firmware=make_firmware(version="3.0.0"))
    key = f"update-{update.pk}-new"
    assert (groups.FIRMWARE, key) in pushed
    assert (groups.endpoint(device.pk), key) in pushed
    row = squeezed(partials.render_update_row(update.pk, page="firmware", insert=True))
    assert row.startswith(f'<tbody hx-swap-oob="afterbegin:#update-rows"><tr id="update-{update.pk}">')
    assert ' hx-swap-oob="true"' not in row  # the row itself is added, not swapped for one by its id
    section = squeezed(partials.render_update_row(update.pk, page="device", insert=True))
    assert section.startswith(f'<tbody hx-swap-oob="afterbegin:#device-update-rows"><tr id="update-{update.pk}">')


def test_a_change_of_an_update_replaces_its_row(operator: Any, pushed: list[tuple[str, str]]) -> None:
    device = make_endpoint(name="live-2")
    update = services.firmware_update_start(actor=operator, endpoint=device, firmware=make_firmware(version="3.0.1"))
    pushed.clear()
    services.firmware_update_cancel(actor=operator, update=update)
    assert (groups.FIRMWARE, f"update-{update.pk}") in pushed
    assert not [key for _, key in pushed if key.endswith("-new")]
    assert ' hx-swap-oob="true"' in partials.render_update_row(update.pk, page="firmware")


def test_a_new_campaign_goes_on_top_and_its_updates_are_not_added_one_by_one(
    operator: Any, pushed: list[tuple[str, str]]
) -> None:
    devices = [make_endpoint(name=f"live-c{n}") for n in range(3)]
    campaign = services.campaign_create(
        actor=operator, name="live", firmware=make_firmware(version="3.1.0"), endpoints=devices, waves=[100]
    )
    assert (groups.FIRMWARE, f"campaign-{campaign.pk}-new") in pushed
    new_updates = [(group, key) for group, key in pushed if key.startswith("update-") and key.endswith("-new")]
    assert len(new_updates) == 3  # each device's own page hears of its update
    assert all(group != groups.FIRMWARE for group, _ in new_updates)
    row = squeezed(partials.render_new_campaign(campaign.pk))
    assert row.startswith(f'<ul hx-swap-oob="afterbegin:#campaign-list"><li id="campaign-row-{campaign.pk}">')


def test_a_campaign_that_is_gone_pushes_nothing() -> None:
    assert partials.render_new_campaign(10**9) == ""
    assert partials.render_update_row(10**9, page="firmware", insert=True) == ""
