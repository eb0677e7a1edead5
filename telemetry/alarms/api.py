"""The alarms API: /api/v1/alarm-rules (viewers read the rules that apply to what they see; operators of a
rule's scope create, change and delete it) and /api/v1/alarms (the alarms of the devices one sees;
operators of a device's site acknowledge and clear them)."""

from __future__ import annotations

from ninja import Router, Status
from ninja.params.functions import Query

from core.http import ApiRequest
from core.paging import MAX_PAGE, OffsetPage, offset_page
from core.schemas import READ_ERRORS, WRITE_ERRORS, Offset, RowId
from telemetry.alarms import selectors, services
from telemetry.alarms.models import Alarm, AlarmRule
from telemetry.alarms.schemas import (
    AlarmDetailOut,
    AlarmPageOut,
    AlarmRuleIn,
    AlarmRuleOut,
    AlarmRulePageOut,
    AlarmRulePatchIn,
    NoteIn,
)

alarms_router = Router(tags=["Alarms"])


@alarms_router.get("/alarm-rules", response={200: AlarmRulePageOut, **READ_ERRORS}, summary="Alarm rules")
def list_alarm_rules(
    request: ApiRequest, limit: int = Query(50, ge=1, le=MAX_PAGE), offset: Offset = Query(0)
) -> OffsetPage[AlarmRule]:
    return offset_page(selectors.alarm_rule_list(user=request.auth), limit=limit, offset=offset)


@alarms_router.post("/alarm-rules", response={201: AlarmRuleOut, **WRITE_ERRORS}, summary="Create a rule (operator)")
def create_alarm_rule(request: ApiRequest, payload: AlarmRuleIn) -> Status[AlarmRule]:
    rule = services.alarm_rule_create(actor=request.auth, **payload.dict())
    return Status(201, selectors.alarm_rule_get(user=request.auth, pk=rule.pk))


@alarms_router.get("/alarm-rules/{rule_id}", response={200: AlarmRuleOut, **READ_ERRORS}, summary="One rule")
def get_alarm_rule(request: ApiRequest, rule_id: RowId) -> AlarmRule:
    return selectors.alarm_rule_get(user=request.auth, pk=rule_id)


@alarms_router.patch(
    "/alarm-rules/{rule_id}", response={200: AlarmRuleOut, **WRITE_ERRORS}, summary="Change a rule (operator)"
)
def update_alarm_rule(request: ApiRequest, rule_id: RowId, payload: AlarmRulePatchIn) -> AlarmRule:
    rule = selectors.alarm_rule_get(user=request.auth, pk=rule_id)
    changes = payload.dict(exclude_unset=True)
    services.alarm_rule_update(actor=request.auth, rule=rule, changes=changes)
    return selectors.alarm_rule_get(user=request.auth, pk=rule_id)


@alarms_router.delete(
    "/alarm-rules/{rule_id}",
    response={204: None, **WRITE_ERRORS},
    summary="Delete a rule and its alarms (operator; disable it to keep them)",
)
def delete_alarm_rule(request: ApiRequest, rule_id: RowId) -> Status[None]:
    rule = selectors.alarm_rule_get(user=request.auth, pk=rule_id)
    services.alarm_rule_delete(actor=request.auth, rule=rule)
    return Status(204, None)


@alarms_router.get("/alarms", response={200: AlarmPageOut, **READ_ERRORS}, summary="Alarms, newest raised first")
def list_alarms(
    request: ApiRequest,
    state: str | None = Query(None, description="open (active or acknowledged), active, acknowledged or cleared"),
    severity: str | None = Query(None, description="critical, major, minor or warning"),
    site: RowId | None = Query(None, description="a site id"),
    device: str | None = Query(None, description="an endpoint name"),
    rule: RowId | None = Query(None, description="a rule id"),
    limit: int = Query(50, ge=1, le=MAX_PAGE),
    offset: Offset = Query(0),
) -> OffsetPage[Alarm]:
    filters = selectors.AlarmFilter(state=state, severity=severity, site_id=site, endpoint=device, rule_id=rule)
    alarms = selectors.alarm_list(user=request.auth, filters=filters).select_related("acknowledged_by", "cleared_by")
    return offset_page(alarms, limit=limit, offset=offset)


def _detail(request: ApiRequest, alarm_id: int) -> Alarm:
    alarm = selectors.alarm_get(user=request.auth, pk=alarm_id)
    alarm.history = list(selectors.alarm_history(alarm=alarm))  # type: ignore[attr-defined]  # AlarmDetailOut's
    return alarm


@alarms_router.get(
    "/alarms/{alarm_id}", response={200: AlarmDetailOut, **READ_ERRORS}, summary="An alarm, with its history"
)
def get_alarm(request: ApiRequest, alarm_id: RowId) -> Alarm:
    return _detail(request, alarm_id)


@alarms_router.post(
    "/alarms/{alarm_id}/acknowledge",
    response={200: AlarmDetailOut, **WRITE_ERRORS},
    summary="Acknowledge an active alarm, with a note (operator of its device's site)",
)
def acknowledge_alarm(request: ApiRequest, alarm_id: RowId, payload: NoteIn) -> Alarm:
    alarm = selectors.alarm_get(user=request.auth, pk=alarm_id)
    services.alarm_acknowledge(actor=request.auth, alarm=alarm, note=payload.note)
    return _detail(request, alarm_id)


@alarms_router.post(
    "/alarms/{alarm_id}/clear",
    response={200: AlarmDetailOut, **WRITE_ERRORS},
    summary="Clear an open alarm by hand (operator of its device's site)",
)
def clear_alarm(request: ApiRequest, alarm_id: RowId, payload: NoteIn | None = None) -> Alarm:
    alarm = selectors.alarm_get(user=request.auth, pk=alarm_id)
    services.alarm_clear(actor=request.auth, alarm=alarm, note=payload.note if payload is not None else "")
    return _detail(request, alarm_id)
