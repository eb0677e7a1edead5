"""Reads of rollouts: the devices a selection reaches, rollouts with their progress, their waves and devices,
and the list of every kind (``kinds``) newest first."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from core.errors import FieldhubError, NotFound
from core.models import Endpoint
from core.paging import OffsetPage
from core.permissions import Principal, require_scope, scope_of
from core.roles import Role
from telemetry.models import EndpointOperation, Rollout, RolloutDevice
from telemetry.rollouts import kinds
from telemetry.selectors.endpoints import endpoints_filter, endpoints_named, visible_endpoints

Op = EndpointOperation.Status
LIST_OFFSET_MAX = 100_000  # the rollout list merges kinds: it reads offset + limit rows of each
NAMES_MAX = 10_000  # names one selection may list
DEVICES_MAX = 100_000  # devices one rollout may reach
NOT_OPERABLE = "not operable: you do not hold the operator role on its site"
DEVICE_FIELDS = ("id", "name", "site_id", "online", "sleeping")


# A device's status in a rollout, and the rows that have it (``prefix``: the path from another model): its
# operation's status, or (a rollout of another kind: ``kinds``) its item's, e.g. a firmware update's.
def status_rules(prefix: str = "") -> dict[str, Q]:
    p = prefix

    def of(status: str, *operation: str) -> Q:
        rule = Q(**{f"{p}operation__status__in": list(operation)})
        items = kinds.item_statuses(status)
        return rule | Q(**{f"{p}update__status__in": items}) if items else rule

    return {
        "skipped": ~Q(**{f"{p}skipped": ""}),
        "waiting": Q(**{f"{p}skipped": "", f"{p}operation__isnull": True, f"{p}update__isnull": True}),
        "queued": of("queued", Op.QUEUED),
        "sent": of("sent", Op.SENDING),
        "confirmed": of("confirmed", Op.CONFIRMED),
        "failed": of("failed", Op.FAILED),
        "cancelled": of("cancelled", Op.CANCELLED),
    }


def device_statuses() -> dict[str, Q]:
    """``status_rules`` of a ``RolloutDevice`` (read when asked: the kinds register when Django starts)."""
    return status_rules()


DEVICE_STATUSES = ("skipped", "waiting", "queued", "sent", "confirmed", "failed", "cancelled")
OPERATION_STATUS: dict[str, str] = {
    Op.QUEUED: "queued",
    Op.SENDING: "sent",
    Op.CONFIRMED: "confirmed",
    Op.FAILED: "failed",
}


@dataclass(frozen=True)
class Selection:
    """Which devices a rollout reaches: a filter (state, site, labels, firmware version, part of the name;
    none of them: every device the user operates), or a list of names, not both."""

    status: str | None = None
    site: str | None = None
    labels: list[str] = field(default_factory=list)
    firmware: str | None = None
    name: str | None = None
    endpoints: list[str] = field(default_factory=list)

    @property
    def by_names(self) -> bool:
        return bool(self.endpoints)

    def as_json(self) -> dict[str, Any]:
        if self.by_names:
            return {"endpoints": len(self.endpoints)}
        found = {"status": self.status, "site": self.site, "firmware": self.firmware, "name": self.name}
        return {key: value for key, value in {**found, "labels": self.labels}.items() if value}


class Device(NamedTuple):
    """A selected device: what a rollout needs of it (not a model instance: a selection may be 100,000)."""

    pk: int
    name: str
    site_id: int | None
    online: bool
    sleeping: bool


@dataclass(frozen=True)
class Resolved:
    """A selection resolved: the devices to operate (by name), and those skipped with the reason."""

    devices: list[Device]
    skipped: list[tuple[Device, str]]


def _devices(endpoints: QuerySet[Endpoint], limit: int) -> list[Device]:
    rows = endpoints.order_by("name").values_list(*DEVICE_FIELDS)[:limit]
    return [Device(*row) for row in rows]


def _filtered(user: Principal, selection: Selection) -> QuerySet[Endpoint]:
    if selection.by_names and (selection.status or selection.site or selection.labels or selection.firmware):
        raise FieldhubError("give a list of endpoints or a filter, not both", path="selection.endpoints")
    return endpoints_filter(
        visible_endpoints(user, Role.OPERATOR),
        user=user,
        status=selection.status or None,
        name=selection.name or None,
        site=selection.site or None,
        labels=selection.labels,
        firmware=selection.firmware or None,
    )


def selection_resolve(*, user: Principal, selection: Selection) -> Resolved:
    """The devices ``selection`` reaches, by name. A filter selects among the devices ``user`` may operate
    only; a list of names may name any device the user sees (an unknown name is a 422), and those the user
    may not operate are skipped with the reason. More than ``DEVICES_MAX`` is a 422."""
    if len(selection.endpoints) > NAMES_MAX:
        raise FieldhubError(f"a list of at most {NAMES_MAX} endpoints", path="selection.endpoints")
    operable = _filtered(user, selection)
    if not selection.by_names:
        devices = _devices(operable, DEVICES_MAX + 1)
        if len(devices) > DEVICES_MAX:
            raise FieldhubError(f"a rollout reaches at most {DEVICES_MAX} devices", path="selection")
        return Resolved(devices=devices, skipped=[])
    named = _devices(endpoints_named(user=user, names=selection.endpoints), NAMES_MAX)
    scope = require_scope(user, Role.OPERATOR)
    return Resolved(
        devices=[e for e in named if scope.includes(e.site_id)],
        skipped=[(e, NOT_OPERABLE) for e in named if not scope.includes(e.site_id)],
    )


def selection_count(*, user: Principal, selection: Selection) -> tuple[int, int]:
    """How many devices ``selection`` reaches, and how many of those it names it would skip (the preview)."""
    if not selection.by_names:
        return _filtered(user, selection).count(), 0
    resolved = selection_resolve(user=user, selection=selection)
    return len(resolved.devices), len(resolved.skipped)


# --- rollouts and their progress ---------------------------------------------------------------------------


def with_progress(rollouts: QuerySet[Rollout]) -> QuerySet[Rollout]:
    """Rollouts with their devices counted by status in the same query (``n_<status>``, ``n_total``)."""
    counts = {f"n_{name}": Count("devices", filter=rule) for name, rule in status_rules("devices__").items()}
    return rollouts.annotate(n_total=Count("devices"), **counts)


def progress(rollout: Rollout) -> dict[str, int]:
    """A rollout's devices by status (``DEVICE_STATUSES``), ``total`` and ``percent`` (finished: confirmed,
    failed, cancelled or skipped); from ``with_progress``'s counts, else counted with one query."""
    if not hasattr(rollout, "n_total"):
        rollout = with_progress(Rollout.objects.filter(pk=rollout.pk)).get()
    counts: dict[str, int] = {name: getattr(rollout, f"n_{name}") for name in ("total", *DEVICE_STATUSES)}
    finished = counts["confirmed"] + counts["failed"] + counts["cancelled"] + counts["skipped"]
    counts["active"] = counts["queued"] + counts["sent"]
    counts["percent"] = 100 * finished // counts["total"] if counts["total"] else 0
    return counts


def rollout_list(*, user: Principal, kind: str | None = None) -> QuerySet[Rollout]:
    """Rollouts newest first with their progress (of one ``kind`` only, if given): every one for a global
    viewer, else those reaching a device of the user's sites; of a ``site_only`` kind (firmware), those
    belonging to one of the user's sites (``Rollout.site``)."""
    scope = require_scope(user, Role.VIEWER)
    rollouts = Rollout.objects.select_related("created_by", "firmware")
    if kind is not None:
        rollouts = rollouts.filter(kind=kind)
    if not scope.everywhere:
        mine = scope.filter(RolloutDevice.objects.filter(rollout=OuterRef("pk")), "endpoint__site")
        site_only = [k.name for k in kinds.kinds() if k.site_only]
        rollouts = rollouts.filter(
            (~Q(kind__in=site_only) & Exists(mine)) | Q(kind__in=site_only, site__in=sorted(scope.site_ids))
        )
    return with_progress(rollouts).order_by("-created_at", "-id")


def may_steer(*, user: Principal, rollout: Rollout) -> bool:
    """May ``user`` pause, resume or abort ``rollout``: an operator of every device it reaches (one query
    for a role on some sites only; none for a global operator)."""
    scope = scope_of(user, Role.OPERATOR)
    if scope.everywhere:
        return True
    if not scope:
        return False
    members = RolloutDevice.objects.filter(rollout=rollout)
    return not members.exclude(endpoint__site__in=sorted(scope.site_ids)).exists()


def rollout_get(*, user: Principal, pk: int) -> Rollout:
    """A command rollout by its id (a rollout of another kind is known by its number: ``rollout_of_kind``)."""
    found = _commands(rollout_list(user=user)).filter(pk=pk).first()
    if found is None:
        raise NotFound(f"no rollout {pk}", path="rollout")
    return found


def _commands(rollouts: QuerySet[Rollout]) -> QuerySet[Rollout]:
    return rollouts.exclude(kind__in=[k.name for k in kinds.kinds()])


def rollout_find(*, user: Principal, pk: int) -> Rollout | None:
    """The rollout (any kind) and its progress, or None if it is gone (a live fragment)."""
    return rollout_list(user=user).filter(pk=pk).first()


def rollout_of_kind(*, user: Principal, kind: kinds.Kind, number: int) -> Rollout | None:
    """A rollout of another kind by its number ("fw-7": 7), or None."""
    return rollout_list(user=user, kind=kind.name).filter(number=number).first()


def rollout_by_id(*, user: Principal, rollout_id: str) -> Rollout:
    """A rollout of any kind by its id ("12", "fw-7"); a 404 for an id that is no rollout's the user sees."""
    kind, number = kinds.parse_id(rollout_id)
    if kind is None:
        return rollout_get(user=user, pk=number)
    found = rollout_of_kind(user=user, kind=kind, number=number)
    if found is None:
        raise NotFound(f"no rollout {rollout_id[:40]!r}", path="rollout")
    return found


def wave_counts(*, user: Principal, rollout: Rollout) -> list[dict[str, int]]:
    """Each wave's devices by status (and ``wave``, ``total``), in one query; devices skipped when the
    rollout was made are in no wave and not listed here."""
    require_scope(user, Role.VIEWER)
    counts = {f"n_{name}": Count("pk", filter=rule) for name, rule in device_statuses().items()}
    rows = RolloutDevice.objects.filter(rollout=rollout, wave__isnull=False).values("wave")
    found = {row["wave"]: row for row in rows.annotate(n_total=Count("pk"), **counts).order_by("wave")}
    names = ("total", *DEVICE_STATUSES)
    return [
        {"wave": wave, **{name: found.get(wave, {}).get(f"n_{name}", 0) for name in names}}
        for wave in range(len(rollout.waves))
    ]


def wave_tally(*, user: Principal, rollout: Rollout, wave: int) -> dict[str, int]:
    """One wave's members, counted now (the wave engine's look, in one query): ``open`` (queued or sent),
    ``started`` (an operation or item linked), ``failed``, ``skipped``."""
    require_scope(user, Role.VIEWER)
    rules = device_statuses()
    rows = RolloutDevice.objects.filter(rollout=rollout, wave=wave)
    return rows.aggregate(
        open=Count("pk", filter=rules["queued"] | rules["sent"]),
        started=Count("pk", filter=Q(operation__isnull=False) | Q(update__isnull=False)),
        failed=Count("pk", filter=rules["failed"]),
        skipped=Count("pk", filter=rules["skipped"]),
    )


def rollout_devices(*, user: Principal, rollout: Rollout, status: str | None = None) -> QuerySet[RolloutDevice]:
    """A rollout's devices the user may see, wave by wave (skipped ones last), each with its device and
    operation (or item), optionally of one ``DEVICE_STATUSES`` status (another is a 422)."""
    scope = require_scope(user, Role.VIEWER)
    members = scope.filter(RolloutDevice.objects.filter(rollout=rollout), "endpoint__site")
    if status:
        if status not in DEVICE_STATUSES:
            raise FieldhubError(f"status must be one of {', '.join(DEVICE_STATUSES)}", path="status")
        members = members.filter(device_statuses()[status])
    return members.select_related("endpoint", "operation", "update").order_by("wave", "id")


def device_status(member: RolloutDevice) -> str:
    """The device's status in its rollout (one of ``DEVICE_STATUSES``)."""
    if member.skipped:
        return "skipped"
    operation = member.operation
    if operation is not None:
        return OPERATION_STATUS.get(str(operation.status), "cancelled")
    if member.update is not None:
        status = str(member.update.status)
        return next((name for name in kinds.ITEM_STATUSES if status in kinds.item_statuses(name)), "cancelled")
    return "waiting"


def rollout_members_of(*, user: Principal, operation_ids: list[int]) -> list[tuple[int, int]]:
    """(rollout id, device row id) of the rollout devices these operations belong to (one query)."""
    require_scope(user, Role.VIEWER)
    return list(RolloutDevice.objects.filter(operation_id__in=operation_ids).values_list("rollout_id", "id"))


def member_find(*, user: Principal, pk: int) -> RolloutDevice | None:
    scope = require_scope(user, Role.VIEWER)
    members = scope.filter(RolloutDevice.objects.filter(pk=pk), "endpoint__site")
    return members.select_related("endpoint", "operation", "update", "rollout").first()


def rollout_sites(*, user: Principal, rollout_id: int) -> tuple[str, list[int | None]]:
    """A rollout's kind and the sites it reaches (stored when it was made), or ("", []) if it is gone."""
    require_scope(user, Role.VIEWER)
    found = Rollout.objects.filter(pk=rollout_id).values_list("kind", "sites").first()
    return (found[0], list(found[1] or [])) if found else ("", [])


def firmware_versions(*, user: Principal, limit: int = 50) -> list[str]:
    """The newest firmware images' versions, for the new-rollout form (read through ``Rollout.firmware``:
    telemetry does not import the firmware app)."""
    require_scope(user, Role.VIEWER)
    images = Rollout._meta.get_field("firmware").related_model._default_manager  # type: ignore[union-attr]
    return list(images.order_by("-created_at").values_list("version", flat=True)[:limit])


# --- every kind, newest first ------------------------------------------------------------------------------


def summary_of(rollout: Rollout) -> kinds.RolloutSummary:
    """A rollout (read with its progress: ``rollout_list``) as the rollout list shows it."""
    counts = progress(rollout)
    kind = kinds.of(rollout.kind)
    if kind is None:
        value = rollout.request.get("value") if rollout.request else None
        operation = f"{rollout.get_kind_display()} {rollout.path}" + (f" = {value}" if value not in (None, "") else "")
        url, api_url = f"/rollouts/{rollout.pk}/", f"/api/v1/rollouts/{rollout.pk}"
    else:
        operation, url, api_url = kind.describe(rollout), kind.url(rollout), kind.api_url(rollout)
    return kinds.RolloutSummary(
        id=kinds.id_of(rollout),
        kind=kinds.COMMAND if kind is None else kind.label,
        name=rollout.name,
        status=rollout.status.lower(),
        operation=operation,
        created_at=rollout.created_at,
        total=counts["total"],
        done=counts["confirmed"],
        failed=counts["failed"],
        skipped=counts["skipped"],
        active=counts["active"],
        cancelled=counts["cancelled"],
        waves=list(rollout.waves),
        current_wave=rollout.current_wave,
        reason=rollout.reason,
        url=url,
        api_url=api_url,
    )


def summaries_page(*, user: Principal, limit: int, offset: int) -> OffsetPage[kinds.RolloutSummary]:
    """Rollouts of every kind newest first, a page of them (one query for the page, one for the count);
    an offset past ``LIST_OFFSET_MAX`` is a 422."""
    if offset > LIST_OFFSET_MAX:
        raise FieldhubError(f"offset is at most {LIST_OFFSET_MAX} in the rollout list", path="offset")
    rollouts = rollout_list(user=user)
    rows = [summary_of(r) for r in rollouts[offset : offset + limit]]
    return OffsetPage(items=rows, count=rollouts.count(), limit=limit, offset=offset)


def summary_get(*, user: Principal, rollout_id: str) -> kinds.RolloutSummary:
    return summary_of(rollout_by_id(user=user, rollout_id=rollout_id))
