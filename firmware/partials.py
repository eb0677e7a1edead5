"""The live fragments of the firmware pages: each renders one named partial of a page's template, with the
objects the page itself shows, read the same way, and ``oob`` set (the htmx ws extension swaps fragments in
by id). They render for a group whose members were checked when they joined: they read as ``SYSTEM``. A
fragment for something that is gone renders as "" (nothing is pushed). Rendered for one site's group
(``site_id``, realtime.groups.on_site), a device's fragment shows that site's devices only (firmware.announce)."""

from __future__ import annotations

from core.permissions import SYSTEM
from firmware import selectors
from realtime import render

# The lists that take new rows on top, by page: the firmware page's updates, a device's firmware section.
UPDATE_ROWS = {"firmware": "update-rows", "device": "device-update-rows"}


def render_update_row(update_id: int, *, page: str, insert: bool = False, site_id: int | None = None) -> str:
    """An update's row, on the firmware page (``page="firmware"``) or in a device's firmware section; a new
    one (``insert``) goes on top of the list."""
    update = selectors.update_find(user=SYSTEM, pk=update_id)
    if update is None or (site_id is not None and update.endpoint.site_id != site_id):
        return ""
    html = render(f"firmware/{page}.html#update-row", {"update": update, "oob": not insert})
    return f'<tbody hx-swap-oob="afterbegin:#{UPDATE_ROWS[page]}">{html}</tbody>' if insert else html


def render_new_campaign(campaign_id: int) -> str:
    """A new campaign's row, on top of the firmware page's list."""
    campaign = selectors.campaign_find(user=SYSTEM, rollout_id=campaign_id)
    if campaign is None:
        return ""
    html = render("firmware/firmware.html#campaign-row", {"campaign": campaign, "oob": False})
    return f'<ul hx-swap-oob="afterbegin:#campaign-list">{html}</ul>'


def render_campaign(campaign_id: int) -> str:
    """A campaign's head on its page, and its row in the firmware page's list (one query)."""
    campaign = selectors.campaign_find(user=SYSTEM, rollout_id=campaign_id)
    if campaign is None:
        return ""
    context = {"campaign": campaign, "oob": True}
    return render("firmware/campaign.html#campaign-head", context) + render(
        "firmware/firmware.html#campaign-row", context
    )


def render_members(campaign_id: int, *, update_id: int | None = None, site_id: int | None = None) -> str:
    """Rows of a campaign's page: the device whose update this is, or every device not started yet (waiting
    for its wave, or not started because the campaign halted or was aborted); of one site's only with
    ``site_id``."""
    members = selectors.campaign_members(user=SYSTEM, rollout_id=campaign_id, update_id=update_id)
    if site_id is not None:
        members = members.filter(endpoint__site_id=site_id)
    return "".join(
        render("firmware/campaign.html#member-row", {"member": m, "campaign": m.rollout, "oob": True}) for m in members
    )


def render_firmware_list() -> str:
    return render("firmware/firmware.html#images", {"images": selectors.firmware_list(user=SYSTEM), "oob": True})
