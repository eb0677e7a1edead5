"""What the rollout pages show, read through ``telemetry.rollouts.selectors``; the live fragments
(``partials``) render the same contexts."""

from __future__ import annotations

from typing import Any

from core.errors import FieldhubError
from core.permissions import Principal, scope_of
from core.roles import Role
from telemetry.models import EndpointOperation, Rollout, RolloutDevice
from telemetry.rollouts import selectors

ROLLOUTS_SHOWN = 50  # per page of the rollout list
DEVICES_SHOWN = 50  # per page of a rollout's devices
KINDS_OFFERED = [
    ("WRITE", "write"),
    ("EXECUTE", "execute"),
    ("OBSERVE", "observe"),
    ("OBSERVE_CANCEL", "cancel observation"),
    ("READ", "read"),
    ("FIRMWARE", "firmware update"),
]
STAGES: dict[str, str] = {
    Rollout.Status.RUNNING: "wave {wave}{of} under way",
    Rollout.Status.PAUSED: "paused in wave {wave}{of}: no further wave starts",
    Rollout.Status.HALTED: "halted after wave {wave}{of}",
    Rollout.Status.COMPLETED: "done",
    Rollout.Status.ABORTED: "aborted in wave {wave}{of}",
}


def page_number(text: str | None) -> int:
    if not text:
        return 1
    if not (text.isascii() and text.isdigit()) or len(text) > 9 or int(text) < 1:
        raise FieldhubError("page must be a whole number, 1 or more", path="page")
    return int(text)


def list_context(*, user: Principal, page: int) -> dict[str, Any]:
    """The rollout list: every kind, newest first, a page at a time."""
    found = selectors.summaries_page(user=user, limit=ROLLOUTS_SHOWN, offset=(page - 1) * ROLLOUTS_SHOWN)
    pages = max(1, -(-found.count // ROLLOUTS_SHOWN))
    return {
        "nav": "operations",
        "rollouts": found.items,
        "page": page,
        "pages": pages,
        "total": found.count,
        "may_operate": bool(scope_of(user, Role.OPERATOR)),
    }


def stage(rollout: Rollout) -> str:
    waves = len(rollout.waves)
    text = STAGES.get(str(rollout.status), "")
    return text.format(wave=rollout.current_wave + 1, of=f" of {waves}" if waves > 1 else "")


def sends(rollout: Rollout) -> str:
    """What each operation carries, in words: "the value +02", "the values 14 = +01, 15 = UTC", "the
    arguments 0='x'" ("" for none)."""
    asked = rollout.request or {}
    if "value" in asked:
        return f"the value {asked['value']}"
    if "values" in asked:
        return "the values " + ", ".join(f"{key} = {value}" for key, value in asked["values"].items())
    if "arguments" in asked:
        return f"the arguments {asked['arguments']}"
    return ""


def head_context(*, user: Principal, rollout: Rollout) -> dict[str, Any]:
    """A rollout's head: status, progress, its waves by status (one query), the controls."""
    waves = selectors.wave_counts(user=user, rollout=rollout)
    for row in waves:
        finished = row["confirmed"] + row["failed"] + row["cancelled"] + row["skipped"]
        row["percent"] = 100 * finished // row["total"] if row["total"] else 0
        row["number"] = row["wave"] + 1
    return {
        "rollout": rollout,
        "sends": sends(rollout),
        "p": selectors.progress(rollout),
        "stage": stage(rollout),
        "wave_rows": waves,
        "failure_percent": round(100 * rollout.max_failure_rate),
    }


def member_row(member: RolloutDevice) -> dict[str, Any]:
    status = selectors.device_status(member)
    operation = member.operation
    detail = member.skipped
    if operation is not None and operation.status in (
        EndpointOperation.Status.FAILED,
        EndpointOperation.Status.CANCELLED,
    ):
        detail = operation.last_error
    return {
        "id": member.pk,
        "name": member.endpoint.name,
        "wave": None if member.wave is None else member.wave + 1,
        "status": status,
        "detail": detail,
        "operation_id": member.operation_id,
        "updated_at": operation.updated_at if operation is not None else None,
    }


def rollout_context(*, user: Principal, pk: int, status: str | None, page: int) -> dict[str, Any]:
    """A rollout's page: its head and one page of its devices (a constant number of queries: the rollout
    with its progress, its waves, the devices' count and page)."""
    rollout = selectors.rollout_get(user=user, pk=pk)
    members = selectors.rollout_devices(user=user, rollout=rollout, status=status or None)
    total = members.count()
    pages = max(1, -(-total // DEVICES_SHOWN))
    number = min(page, pages)
    rows = [member_row(m) for m in members[(number - 1) * DEVICES_SHOWN : number * DEVICES_SHOWN]]
    return {
        **head_context(user=user, rollout=rollout),
        "nav": "operations",
        "devices": rows,
        "status": status or "",
        "statuses": list(selectors.DEVICE_STATUSES),
        "page": number,
        "pages": pages,
        "total": total,
        "can_operate": selectors.may_steer(user=user, rollout=rollout),  # its controls (base.html)
    }


def new_context(*, user: Principal, form: Any = None) -> dict[str, Any]:
    """The new-rollout form, filled from ``form`` (a failed post, or the dashboard's filter)."""
    form = form or {}
    return {
        "nav": "operations",
        "kinds": KINDS_OFFERED,
        "images": selectors.firmware_versions(user=user),
        "form": form,
        "statuses": ["online", "sleeping", "offline"],
    }
