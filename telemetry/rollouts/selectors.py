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


# A device's status in a rollout, and the rows that have it (``prefix``: the path from another model).
def status_rules(prefix: str = "") -> dict[str, Q]:
    p = prefix
    return {
        "skipped": ~Q(**{f"{p}skipped": ""}),
        "waiting": Q(**{f"{p}skipped": "", f"{p}operation__isnull": True}),
        "queued": Q(**{f"{p}operation__status": Op.QUEUED}),
        "sent": Q(**{f"{p}operation__status": Op.SENDING}),
        "confirmed": Q(**{f"{p}operation__status": Op.CONFIRMED}),
        "failed": Q(**{f"{p}operation__status": Op.FAILED}),
        "cancelled": Q(**{f"{p}operation__status": Op.CANCELLED}),
    }


DEVICE_STATUSES = status_rules()
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


def rollout_list(*, user: Principal) -> QuerySet[Rollout]:
    """Rollouts newest first with their progress: every one for a global viewer, else those reaching a
    device of the user's sites."""
    scope = require_scope(user, Role.VIEWER)
    rollouts = Rollout.objects.select_related("created_by")
    if not scope.everywhere:
        mine = scope.filter(RolloutDevice.objects.filter(rollout=OuterRef("pk")), "endpoint__site")
        rollouts = rollouts.filter(Exists(mine))
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
    found = rollout_list(user=user).filter(pk=pk).first()
    if found is None:
        raise NotFound(f"no rollout {pk}", path="rollout")
    return found


def rollout_find(*, user: Principal, pk: int) -> Rollout | None:
    """The rollout and its progress, or None if it is gone (a live fragment)."""
    return rollout_list(user=user).filter(pk=pk).first()


def wave_counts(*, user: Principal, rollout: Rollout) -> list[dict[str, int]]:
    """Each wave's devices by status (and ``wave``, ``total``), in one query; devices skipped when the
    rollout was made are in no wave and not listed here."""
    require_scope(user, Role.VIEWER)
    counts = {f"n_{name}": Count("pk", filter=rule) for name, rule in DEVICE_STATUSES.items()}
    rows = RolloutDevice.objects.filter(rollout=rollout, wave__isnull=False).values("wave")
    found = {row["wave"]: row for row in rows.annotate(n_total=Count("pk"), **counts).order_by("wave")}
    names = ("total", *DEVICE_STATUSES)
    return [
        {"wave": wave, **{name: found.get(wave, {}).get(f"n_{name}", 0) for name in names}}
        for wave in range(len(rollout.waves))
    ]


def rollout_devices(*, user: Principal, rollout: Rollout, status: str | None = None) -> QuerySet[RolloutDevice]:
    """A rollout's devices the user may see, wave by wave (skipped ones last), each with its device and
    operation, optionally of one ``DEVICE_STATUSES`` status (another is a 422)."""
    scope = require_scope(user, Role.VIEWER)
    members = scope.filter(RolloutDevice.objects.filter(rollout=rollout), "endpoint__site")
    if status:
        if status not in DEVICE_STATUSES:
            raise FieldhubError(f"status must be one of {', '.join(DEVICE_STATUSES)}", path="status")
        members = members.filter(DEVICE_STATUSES[status])
    return members.select_related("endpoint", "operation").order_by("wave", "id")


def device_status(member: RolloutDevice) -> str:
    """The device's status in its rollout (a key of ``DEVICE_STATUSES``)."""
    if member.skipped:
        return "skipped"
    operation = member.operation
    if operation is None:
        return "waiting"
    return OPERATION_STATUS.get(str(operation.status), "cancelled")


def rollout_members_of(*, user: Principal, operation_ids: list[int]) -> list[tuple[int, int]]:
    """(rollout id, device row id) of the rollout devices these operations belong to (one query)."""
    require_scope(user, Role.VIEWER)
    return list(RolloutDevice.objects.filter(operation_id__in=operation_ids).values_list("rollout_id", "id"))


def member_find(*, user: Principal, pk: int) -> RolloutDevice | None:
    scope = require_scope(user, Role.VIEWER)
    members = scope.filter(RolloutDevice.objects.filter(pk=pk), "endpoint__site")
    return members.select_related("endpoint", "operation", "rollout").first()


# --- every kind, newest first ------------------------------------------------------------------------------


def summary_of(rollout: Rollout) -> kinds.RolloutSummary:
    counts = progress(rollout)
    value = rollout.request.get("value") if rollout.request else None
    operation = f"{rollout.get_kind_display()} {rollout.path}" + (f" = {value}" if value not in (None, "") else "")
    return kinds.RolloutSummary(
        id=str(rollout.pk),
        kind=kinds.COMMAND,
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
        url=f"/rollouts/{rollout.pk}/",
        api_url=f"/api/v1/rollouts/{rollout.pk}",
    )


def summaries_page(*, user: Principal, limit: int, offset: int) -> OffsetPage[kinds.RolloutSummary]:
    """Rollouts of every kind newest first: the newest ``offset + limit`` of each kind, merged (one query
    for the commands' page and one for their count, and what each other kind needs for its own); an offset
    past ``LIST_OFFSET_MAX`` is a 422."""
    if offset > LIST_OFFSET_MAX:
        raise FieldhubError(f"offset is at most {LIST_OFFSET_MAX} in the rollout list", path="offset")
    own = rollout_list(user=user)
    rows: list[kinds.RolloutSummary] = [summary_of(r) for r in own[: offset + limit]]
    count = own.count()
    for kind in kinds.kinds():
        newest, total = kind.newest(user, offset + limit)
        rows.extend(newest)
        count += total
    rows.sort(key=lambda row: row.created_at, reverse=True)
    return OffsetPage(items=rows[offset : offset + limit], count=count, limit=limit, offset=offset)


def summary_get(*, user: Principal, rollout_id: str) -> kinds.RolloutSummary:
    kind, pk = kinds.parse_id(rollout_id)
    if kind is None:
        return summary_of(rollout_get(user=user, pk=pk))
    found = kind.get(user, pk)
    if found is None:
        raise NotFound(f"no rollout {rollout_id!r}", path="rollout")
    return found
