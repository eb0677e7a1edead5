"""The rollouts API (/api/v1/rollouts): start one (a command, or a firmware update), list every kind, one
with its waves, its devices, pause, resume, abort. Ids: "12" (a command rollout), "fw-7" (firmware rollout 7,
also /api/v1/campaigns/7)."""

from __future__ import annotations

from typing import Any

from ninja import Router, Status
from ninja.params.functions import Query

from core.http import ApiRequest
from core.paging import MAX_PAGE, OffsetPage, offset_page
from core.schemas import READ_ERRORS, WRITE_ERRORS, Offset
from telemetry.models import RolloutDevice
from telemetry.rollouts import kinds, selectors, services
from telemetry.rollouts.schemas import (
    PreviewOut,
    RolloutDetailOut,
    RolloutDevicePageOut,
    RolloutIn,
    RolloutOut,
    RolloutPageOut,
    SelectionIn,
)

rollouts_router = Router(tags=["Rollouts"])


def _detail(request: ApiRequest, rollout_id: str) -> dict[str, Any]:
    rollout = selectors.rollout_by_id(user=request.auth, rollout_id=rollout_id)
    waves = [{**w, "wave": w["wave"] + 1} for w in selectors.wave_counts(user=request.auth, rollout=rollout)]
    return {**_fields(selectors.summary_of(rollout)), "wave_counts": waves}


def _fields(summary: kinds.RolloutSummary) -> dict[str, Any]:
    return {**summary.__dict__, "waiting": summary.waiting, "percent": summary.percent}


@rollouts_router.post(
    "/rollouts", response={201: RolloutDetailOut, **WRITE_ERRORS}, summary="Start a rollout (operator)"
)
def create_rollout(request: ApiRequest, payload: RolloutIn) -> Status[dict[str, Any]]:
    rollout = services.rollout_create(
        actor=request.auth,
        name=payload.name,
        kind=payload.kind.upper(),
        path=payload.path,
        value=payload.value,
        values=payload.values,
        arguments=payload.arguments,
        selection=payload.selection.selection(),
        waves=payload.waves,
        unit=payload.unit,
        max_failure_rate=payload.max_failure_rate,
        firmware=payload.firmware,
    )
    return Status(201, _detail(request, kinds.id_of(rollout)))


@rollouts_router.post(
    "/rollouts/preview", response={200: PreviewOut, **READ_ERRORS}, summary="How many devices a selection reaches"
)
def preview_rollout(request: ApiRequest, payload: SelectionIn) -> dict[str, int]:
    devices, skipped = selectors.selection_count(user=request.auth, selection=payload.selection())
    return {"devices": devices, "skipped": skipped}


@rollouts_router.get(
    "/rollouts", response={200: RolloutPageOut, **READ_ERRORS}, summary="Rollouts of every kind, newest first"
)
def list_rollouts(
    request: ApiRequest, limit: int = Query(50, ge=1, le=MAX_PAGE), offset: Offset = Query(0)
) -> dict[str, Any]:
    page = selectors.summaries_page(user=request.auth, limit=limit, offset=offset)
    return {**page.__dict__, "items": [_fields(item) for item in page.items]}


@rollouts_router.get(
    "/rollouts/{rollout_id}", response={200: RolloutDetailOut, **READ_ERRORS}, summary="A rollout and its waves"
)
def get_rollout(request: ApiRequest, rollout_id: str) -> dict[str, Any]:
    return _detail(request, rollout_id)


@rollouts_router.get(
    "/rollouts/{rollout_id}/devices", response={200: RolloutDevicePageOut, **READ_ERRORS}, summary="A rollout's devices"
)
def list_rollout_devices(
    request: ApiRequest,
    rollout_id: str,
    status: str | None = Query(None, description="waiting, queued, sent, confirmed, failed, cancelled or skipped"),
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    offset: Offset = Query(0),
) -> OffsetPage[RolloutDevice]:
    rollout = selectors.rollout_by_id(user=request.auth, rollout_id=rollout_id)
    return offset_page(
        selectors.rollout_devices(user=request.auth, rollout=rollout, status=status), limit=limit, offset=offset
    )


def _act(request: ApiRequest, rollout_id: str, action: str) -> dict[str, Any]:
    rollout = selectors.rollout_by_id(user=request.auth, rollout_id=rollout_id)
    {"pause": services.rollout_pause, "resume": services.rollout_resume, "abort": services.rollout_abort}[action](
        actor=request.auth, rollout=rollout
    )
    return _detail(request, rollout_id)


@rollouts_router.post(
    "/rollouts/{rollout_id}/pause", response={200: RolloutOut, **WRITE_ERRORS}, summary="Pause a rollout"
)
def pause_rollout(request: ApiRequest, rollout_id: str) -> dict[str, Any]:
    return _act(request, rollout_id, "pause")


@rollouts_router.post(
    "/rollouts/{rollout_id}/resume",
    response={200: RolloutOut, **WRITE_ERRORS},
    summary="Resume a paused rollout, or a halted one (its next wave starts now)",
)
def resume_rollout(request: ApiRequest, rollout_id: str) -> dict[str, Any]:
    return _act(request, rollout_id, "resume")


@rollouts_router.post(
    "/rollouts/{rollout_id}/abort", response={200: RolloutOut, **WRITE_ERRORS}, summary="Abort a rollout"
)
def abort_rollout(request: ApiRequest, rollout_id: str) -> dict[str, Any]:
    return _act(request, rollout_id, "abort")
