"""Reads of the firmware app. Every function takes the requesting user first (``core.permissions.Principal``;
``SYSTEM`` for Fieldhub's own reads: the services' checks, the hooks telemetry calls, fragments pushed to a
group whose members were checked when they joined). Which devices a user may see is telemetry's one rule,
``telemetry.selectors.visible_endpoints``."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Count, F, Q, QuerySet

from core.errors import FieldhubError, NotFound
from core.models import Endpoint
from core.permissions import Principal, require_scope
from core.roles import Role
from firmware.models import Firmware, FirmwareUpdate
from telemetry.models import LatestValue, Rollout, RolloutDevice
from telemetry.rollouts import selectors as rollouts_selectors
from telemetry.selectors import FIRMWARE_VERSION_PATH, visible_endpoints

Status = FirmwareUpdate.Status

# A campaign that may still start updates: the devices waiting in it are not free for another campaign.
CAMPAIGN_UNDER_WAY = Rollout.OPEN_STATUSES
# What a campaign's device row shows: its device, its update and image, its campaign and that one's image.
MEMBER_RELATED = ("endpoint", "update", "update__firmware", "rollout", "rollout__firmware")


# --- images -------------------------------------------------------------------------------------------


def firmware_list(*, user: Principal) -> QuerySet[Firmware]:
    """Images newest first, each with how many updates used it (``used``): every viewer sees every image."""
    require_scope(user, Role.VIEWER)
    return Firmware.objects.annotate(used=Count("updates")).order_by("-created_at")


def firmware_get(*, user: Principal, version: str) -> Firmware:
    try:
        return firmware_list(user=user).get(version=version)
    except Firmware.DoesNotExist:
        raise NotFound(f"no firmware {version!r}", path="version") from None


def firmware_find(*, user: Principal, pk: int) -> Firmware | None:
    """The image with id ``pk``, or None if there is none."""
    return firmware_list(user=user).filter(pk=pk).first()


def firmware_package(*, user: Principal, token: str, filename: str) -> Firmware | None:
    """The image a Package URI names (devices cannot log in: the token in the URL is the key, and the
    package view reads as ``SYSTEM``), or None when the token or the file name does not match."""
    require_scope(user, Role.VIEWER)
    image = Firmware.objects.filter(download_token=token).first()
    return image if image is not None and image.filename == filename else None


# --- updates of single devices ------------------------------------------------------------------------


def _updates(user: Principal) -> QuerySet[FirmwareUpdate]:
    """The updates of the devices ``user`` may see."""
    return FirmwareUpdate.objects.filter(endpoint__in=visible_endpoints(user))


def update_list(
    *, user: Principal, endpoint: Endpoint | None = None, status: str | None = None
) -> QuerySet[FirmwareUpdate]:
    """Updates newest first, with their device, image and campaign (its rollout's device row)."""
    updates = _updates(user).select_related("endpoint", "firmware", "rollout_device__rollout").order_by("-id")
    if endpoint is not None:
        updates = updates.filter(endpoint=endpoint)
    if status:
        if status.upper() not in Status.values:
            names = ", ".join(s.lower() for s in Status.values)
            raise FieldhubError(f"status must be one of {names}", path="status")
        updates = updates.filter(status=status.upper())
    return updates


def update_get(*, user: Principal, pk: int) -> FirmwareUpdate:
    try:
        return update_list(user=user).get(pk=pk)
    except FirmwareUpdate.DoesNotExist:
        raise NotFound(f"no firmware update {pk}", path="update") from None


def update_find(*, user: Principal, pk: int) -> FirmwareUpdate | None:
    """The update with id ``pk``, or None if it is gone (a live fragment for a row deleted meanwhile)."""
    return update_list(user=user).filter(pk=pk).first()


def updating_by_site(*, user: Principal, endpoints: QuerySet[Endpoint]) -> dict[int | None, int]:
    """Of ``endpoints``, those with an update under way, counted by site (None: in no site), in one query."""
    active = _updates(user).filter(endpoint__in=endpoints, status__in=FirmwareUpdate.ACTIVE_STATUSES)
    rows = active.values("endpoint__site_id").annotate(n=Count("pk")).order_by()
    return {row["endpoint__site_id"]: row["n"] for row in rows}


def updates_under_way(*, user: Principal, endpoint_ids: Sequence[int]) -> dict[int, FirmwareUpdate]:
    """The active update of each of these devices that has one, with its image and campaign."""
    updates = update_list(user=user).filter(
        endpoint_id__in=list(endpoint_ids), status__in=FirmwareUpdate.ACTIVE_STATUSES
    )
    return {update.endpoint_id: update for update in updates}


def running_versions(*, user: Principal, endpoint_ids: Sequence[int]) -> dict[int, str]:
    """Each device's firmware version as it last reported it (3/0/3)."""
    rows = LatestValue.objects.filter(
        path=FIRMWARE_VERSION_PATH,
        endpoint_id__in=list(endpoint_ids),
        endpoint__in=visible_endpoints(user),
    )
    return {
        endpoint_id: version or "" for endpoint_id, version in rows.values_list("endpoint_id", "resource__value_str")
    }


def operation_retry_refusals(*, user: Principal, operation_ids: Sequence[int]) -> dict[int, str]:
    """Why an operation a firmware update queued may not be retried (telemetry asks, through its hooks, for
    the retry service and to hide the Retry buttons): the Package URI write or Update execute of an update
    that is over (cancelled, aborted with its campaign, failed, succeeded) would start a download or an
    update that nothing follows. The empty Package URI write that cancels an update stays retryable: it is
    how a device is told to stop."""
    ids = set(operation_ids)
    if not ids:
        return {}
    over = (
        update_list(user=user)
        .exclude(status__in=FirmwareUpdate.ACTIVE_STATUSES)
        .filter(Q(uri_operation_id__in=ids) | Q(execute_operation_id__in=ids))
    )
    refusals = {}
    for update in over:
        why = (
            f"it belongs to the firmware update of {update.endpoint.name} to {update.firmware.version}, which is "
            f"{update.get_status_display()} (start a new update instead)"
        )
        for pk in (update.uri_operation_id, update.execute_operation_id):
            if pk in ids:
                refusals[pk] = why
    return refusals


# --- campaigns: firmware rollouts ---------------------------------------------------------------------


def progress(campaign: Rollout) -> dict[str, int]:
    """A campaign's devices by outcome, as the campaign pages and API count them: total, succeeded, failed
    (cancelled ones too), skipped (no update started: why is on each device), active, waiting (not started
    yet, or never: after a halt or an abort), and the percent done. The rollout's own counts
    (``telemetry.rollouts.selectors.progress``: from its list's annotations, else one query) in other words."""
    counts = rollouts_selectors.progress(campaign)
    return {
        "total": counts["total"],
        "succeeded": counts["confirmed"],
        "failed": counts["failed"] + counts["cancelled"],
        "skipped": counts["skipped"],
        "active": counts["active"],
        "waiting": counts["waiting"],
        "percent": counts["percent"],
    }


def campaign_list(*, user: Principal) -> QuerySet[Rollout]:
    """Campaigns (firmware rollouts) newest first, each with its image and its progress counted in the same
    query: the rollouts' rule of who sees which (``telemetry.rollouts.selectors.rollout_list``)."""
    return rollouts_selectors.rollout_list(user=user, kind=Rollout.FIRMWARE)


def campaign_get(*, user: Principal, pk: int) -> Rollout:
    """Campaign ``pk``: the firmware rollout numbered so ("fw-<pk>")."""
    found = campaign_list(user=user).filter(number=pk).first()
    if found is None:
        raise NotFound(f"no campaign {pk}", path="campaign")
    return found


def campaign_find(*, user: Principal, rollout_id: int) -> Rollout | None:
    """The campaign whose rollout's id is ``rollout_id``, with its progress, or None if it is gone (a live
    fragment)."""
    return campaign_list(user=user).filter(pk=rollout_id).first()


def campaign_devices(*, user: Principal, campaign: Rollout) -> QuerySet[RolloutDevice]:
    """A campaign's devices wave by wave, then those skipped when it was made (in no wave), each with its
    update (and that one's device and image: the API lists them)."""
    members = RolloutDevice.objects.filter(rollout=campaign, endpoint__in=visible_endpoints(user))
    related = (
        "endpoint",
        "rollout",
        "update",
        "update__endpoint",
        "update__firmware",
    )  # rollout: the campaign's number
    return members.select_related(*related).order_by(F("wave").asc(nulls_last=True), "endpoint__name")


def campaign_members(*, user: Principal, rollout_id: int, update_id: int | None = None) -> QuerySet[RolloutDevice]:
    """Devices of a campaign, each with its campaign, as their pushed rows show them: the device whose update
    this is, or (no ``update_id``) every device not started yet (waiting for its wave, or not started because
    the campaign halted or was aborted)."""
    members = RolloutDevice.objects.filter(rollout_id=rollout_id, endpoint__in=visible_endpoints(user))
    members = members.select_related(*MEMBER_RELATED)
    if update_id is not None:
        return members.filter(update_id=update_id)
    return members.filter(update__isnull=True, skipped="")


def members_waiting(*, user: Principal, endpoint_ids: Sequence[int]) -> dict[int, Rollout]:
    """The campaign under way (``CAMPAIGN_UNDER_WAY``) that each of these devices waits in for its wave."""
    members = RolloutDevice.objects.filter(
        endpoint__in=visible_endpoints(user),
        endpoint_id__in=list(endpoint_ids),
        wave__isnull=False,
        update__isnull=True,
        skipped="",
        rollout__kind=Rollout.FIRMWARE,
        rollout__status__in=CAMPAIGN_UNDER_WAY,
    )
    return {member.endpoint_id: member.rollout for member in members.select_related("rollout")}


def campaign_endpoints(
    *, user: Principal, names: Sequence[str] | None = None, from_version: str | None = None
) -> list[Endpoint]:
    """Select a campaign's devices (operator): by name, by current firmware version (their latest 3/0/3), or
    all: of the devices on which ``user`` is an operator."""
    endpoints = visible_endpoints(user, Role.OPERATOR)
    if names is not None:
        if not names:
            raise FieldhubError("give at least one endpoint name", path="endpoints")
        found = list(endpoints.filter(name__in=list(names)))
        missing = sorted(set(names) - {e.name for e in found})
        if missing:
            raise NotFound(f"no endpoint named {', '.join(repr(n) for n in missing[:5])}", path="endpoints")
        return found
    if from_version is not None:
        from_version = from_version.strip()
        if not from_version:
            raise FieldhubError("give the firmware version the devices run", path="from_version")
        running = LatestValue.objects.filter(path=FIRMWARE_VERSION_PATH, resource__value_str=from_version)
        found = list(endpoints.filter(pk__in=running.values("endpoint_id")))
        if not found:
            raise FieldhubError(f"no device reports firmware version {from_version} (3/0/3)", path="from_version")
        return found
    return list(endpoints)
