"""What to push when firmware changes: each function names the fragments (``firmware.partials``) that the
groups watching a change need (the firmware pages' groups, each device's own group), and
``realtime.publish`` sends them after commit. Rendering is lazy: a fragment nobody watches is never
rendered.

Every write of the firmware services that changes what a page shows announces it here, once: an update
moved (``update_changed``), a campaign changed (``campaign_changed``), the images (``images_changed``).

Who hears what (realtime.groups): what concerns one device (an update's row, a campaign's row of that
device) goes to the firmware page's global group and to the group of the device's site, rendered for a
site's group only while the device is still in it. A campaign has no site: what concerns the campaign as a
whole (its head, its row in the list, its progress) goes to the global group and to the group of every site
its devices are in (one query for those sites), the same fragment for each (the campaign's own counts, as
its page shows them: no device of another site is named in them); the rows of its devices not started yet
go to each of those groups with that site's devices only. The images are no site's: the global group only
(site roles do not see the images)."""

from __future__ import annotations

from functools import partial

from firmware import partials
from firmware.models import Campaign, CampaignDevice, FirmwareUpdate
from realtime import LiveEvent, groups, publish
from realtime.groups import EventType
from telemetry.announce import site_of_device
from telemetry.rollouts import announce as rollouts_announce

PREFIX = "fw"  # firmware.rollouts.PREFIX: a campaign's id among rollouts


def update_changed(update: FirmwareUpdate, *, created: bool = False) -> None:
    """An update started (``created``) or changed: its row on the firmware pages, its device page, and its
    campaign's progress. A campaign's new updates are not added to the firmware page's list one by one (a
    wave may start thousands): the campaign's row counts them."""
    key = f"update-{update.pk}" + ("-new" if created else "")
    fleet = groups.of_device(groups.FIRMWARE, site_of_device(update))
    if not (created and update.campaign_id):
        for group in fleet:
            row = partial(
                partials.render_update_row, update.pk, page="firmware", insert=created, site_id=groups.site_of(group)
            )
            publish(group, LiveEvent(EventType.FIRMWARE, key, row))
    device_row = partial(partials.render_update_row, update.pk, page="device", insert=created)
    publish(groups.endpoint(update.endpoint_id), LiveEvent(EventType.FIRMWARE, key, device_row))
    if update.campaign_id:
        for group in fleet:
            member = partial(
                partials.render_members, update.campaign_id, update_id=update.pk, site_id=groups.site_of(group)
            )
            publish(group, LiveEvent(EventType.CAMPAIGN, f"campaign-update-{update.pk}", member))
        campaign_progress_changed(update.campaign_id)


def campaign_changed(campaign: Campaign, *, waiting: bool = False, created: bool = False) -> None:
    """A campaign changed (made, a wave started, completed): its head and list row; a new one (``created``)
    goes on top of the firmware page's list. ``waiting``: its status changed (halted, paused, resumed,
    aborted), so the rows of its devices not started yet, whose words say it ("not started: campaign
    halted"), go too (once per change: a large campaign's are many)."""
    fleet = campaign_groups(campaign.pk)
    if created:
        new_row = partial(partials.render_new_campaign, campaign.pk)
        for group in fleet:
            publish(group, LiveEvent(EventType.CAMPAIGN, f"campaign-{campaign.pk}-new", new_row))
    campaign_progress_changed(campaign.pk, fleet=fleet)
    if waiting:
        for group in fleet:
            rows = partial(partials.render_members, campaign.pk, site_id=groups.site_of(group))
            publish(group, LiveEvent(EventType.CAMPAIGN, f"campaign-{campaign.pk}-waiting", rows))


def campaign_groups(campaign_id: int) -> list[str]:
    """The firmware page's groups that hear about a campaign: the global one and those of its devices' sites."""
    sites = CampaignDevice.objects.filter(campaign_id=campaign_id).values_list("endpoint__site_id", flat=True)
    return groups.of_sites(groups.FIRMWARE, sites.distinct().order_by())


def campaign_progress_changed(campaign_id: int, *, fleet: list[str] | None = None) -> None:
    """A campaign's counts changed: its head on its page and its row in the firmware page's list, for every
    group that hears about it (``fleet``, read when not given)."""
    renderer = partial(partials.render_campaign, campaign_id)
    for group in campaign_groups(campaign_id) if fleet is None else fleet:
        publish(group, LiveEvent(EventType.CAMPAIGN, f"campaign-{campaign_id}", renderer))
    rollouts_announce.summary_changed(f"{PREFIX}-{campaign_id}")  # its row on the rollout list


def images_changed() -> None:
    """An image was uploaded or deleted: the firmware page's list of images."""
    publish(groups.FIRMWARE, LiveEvent(EventType.FIRMWARE, "images", partials.render_firmware_list))
