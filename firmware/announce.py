"""What to push when firmware changes: each function names the fragments (``firmware.partials``) that the
groups watching a change need (the firmware pages' groups, each device's own group), and
``realtime.publish`` sends them after commit. Rendering is lazy: a fragment nobody watches is never
rendered.

Every write of the firmware services that changes what a page shows announces it here, once: an update
moved (``update_changed``), a campaign changed (``campaign_changed``, which the rollout engine calls), the
images (``images_changed``).

Who hears what (realtime.groups): what concerns one device (an update's row, a campaign's row of that
device) goes to the firmware page's global group and to the group of the device's site, rendered for a
site's group only while the device is still in it. What concerns a campaign as a
whole (its head, its row in the list, its progress) goes to the global group and to the group of every site
it reaches (``Rollout.sites``), the same fragment for each (the campaign's own counts, as
its page shows them: no device of another site is named in them); the rows of its devices not started yet
go to each of those groups with that site's devices only. The images are no site's: the global group only
(site roles do not see the images)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from core.permissions import SYSTEM
from firmware import partials
from firmware.models import FirmwareUpdate
from realtime import LiveEvent, groups, publish
from realtime.groups import EventType
from telemetry.announce import site_of_device
from telemetry.rollouts import announce as rollouts_announce
from telemetry.rollouts import selectors as rollouts_selectors

MEMBER_ROWS_PUSHED = 100  # device rows of a campaign's page one wave start pushes


def member_of(update: FirmwareUpdate) -> tuple[int, int] | None:
    """(rollout id, device row id) of the firmware rollout whose device's update this is, or None (read
    with the update when it was read with ``rollout_device``, else one query)."""
    member = getattr(update, "rollout_device", None)
    return (member.rollout_id, member.pk) if member is not None else None


def update_changed(update: FirmwareUpdate, *, created: bool = False, member: tuple[int, int] | None = None) -> None:
    """An update started (``created``) or changed: its row on the firmware pages, its device page, and its
    campaign's (``member``: its rollout and device row, when known) device row and progress. A campaign's
    new updates are not added to the firmware page's list one by one (a wave may start thousands): the
    campaign's row counts them."""
    member = member or member_of(update)
    key = f"update-{update.pk}" + ("-new" if created else "")
    fleet = groups.of_device(groups.FIRMWARE, site_of_device(update))
    if not (created and member):
        for group in fleet:
            row = partial(
                partials.render_update_row, update.pk, page="firmware", insert=created, site_id=groups.site_of(group)
            )
            publish(group, LiveEvent(EventType.FIRMWARE, key, row))
    device_row = partial(partials.render_update_row, update.pk, page="device", insert=created)
    publish(groups.endpoint(update.endpoint_id), LiveEvent(EventType.FIRMWARE, key, device_row))
    if member is not None:
        rollout_id, _ = member
        for group in fleet:
            rows = partial(partials.render_members, rollout_id, update_id=update.pk, site_id=groups.site_of(group))
            publish(group, LiveEvent(EventType.CAMPAIGN, f"campaign-update-{update.pk}", rows))
        rollouts_announce.rollout_changed(rollout_id)  # its rows on the rollout list and here (campaign_changed)


def wave_started(rollout_id: int, started: Sequence[FirmwareUpdate], member_ids: Sequence[int]) -> None:
    """A firmware rollout's wave started these updates (its devices' rows ``member_ids``): the device pages
    and the campaign page's rows of the first ``MEMBER_ROWS_PUSHED`` hear of theirs (a wave may start
    thousands: their pages show them when they load; the head counts them all, pushed by the rollout engine
    once the wave is started)."""
    for update in started[:MEMBER_ROWS_PUSHED]:
        device_row = partial(partials.render_update_row, update.pk, page="device", insert=True)
        publish(
            groups.endpoint(update.endpoint_id), LiveEvent(EventType.FIRMWARE, f"update-{update.pk}-new", device_row)
        )
    for update in started[:MEMBER_ROWS_PUSHED]:
        for group in groups.of_device(groups.FIRMWARE, update.endpoint.site_id):
            rows = partial(partials.render_members, rollout_id, update_id=update.pk, site_id=groups.site_of(group))
            publish(group, LiveEvent(EventType.CAMPAIGN, f"campaign-update-{update.pk}", rows))
    rollouts_announce.rollout_changed(rollout_id)


def campaign_changed(rollout_id: int, *, waiting: bool = False, created: bool = False) -> None:
    """A campaign (a firmware rollout) changed: its head and list row; a new one (``created``) goes on top of
    the firmware page's list. ``waiting``: its status changed (halted, paused, resumed, aborted), so the rows
    of its devices not started yet, whose words say it ("not started: campaign halted"), go too (once per
    change: a large campaign's are many). The rollout engine calls it (``telemetry.rollouts.kinds``) after
    its own pushes."""
    fleet = campaign_groups(rollout_id)
    if created:
        new_row = partial(partials.render_new_campaign, rollout_id)
        for group in fleet:
            publish(group, LiveEvent(EventType.CAMPAIGN, f"campaign-{rollout_id}-new", new_row))
    renderer = partial(partials.render_campaign, rollout_id)
    for group in fleet:
        publish(group, LiveEvent(EventType.CAMPAIGN, f"campaign-{rollout_id}", renderer))
    if waiting:
        for group in fleet:
            rows = partial(partials.render_members, rollout_id, site_id=groups.site_of(group))
            publish(group, LiveEvent(EventType.CAMPAIGN, f"campaign-{rollout_id}-waiting", rows))


def campaign_groups(rollout_id: int) -> list[str]:
    """The firmware page's groups that hear about a campaign: the global one and those of the sites it
    reaches (stored on its rollout)."""
    _kind, sites = rollouts_selectors.rollout_sites(user=SYSTEM, rollout_id=rollout_id)
    return groups.of_sites(groups.FIRMWARE, sites)


def images_changed() -> None:
    """An image was uploaded or deleted: the firmware page's list of images."""
    publish(groups.FIRMWARE, LiveEvent(EventType.FIRMWARE, "images", partials.render_firmware_list))
