"""The alarm rules' services: create, change and delete a rule (operators: a global operator any rule, a
site operator the rules of their sites and of their sites' devices), each checked against the registry
before anything is stored; a change reaches every process's rule cache (``telemetry.alarms.cache``) at
once in this one and within ``CHECK_SECONDS`` in the others. Re-exported by ``telemetry.alarms.services``."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from core.errors import FieldhubError
from core.lwm2m import types as lwm2m
from core.lwm2m.types import ID_MAX
from core.models import Endpoint, ResourceType, Site
from core.permissions import Principal, author_of, require_on, require_scope
from core.roles import Role
from telemetry.alarms import conditions
from telemetry.alarms.cache import rule_cache
from telemetry.alarms.models import AlarmRule, AlarmWatch, Severity

NAME_MAX = 100
DESCRIPTION_MAX = 1000
LABELS_MAX = 20
READINGS_MAX = 10_000
DURATION_MAX = 30 * 86_400  # seconds
Kind = AlarmRule.Kind


# What a rule is made of, as the API and the pages give it (every field optional on an update).
RULE_FIELDS = (
    "name",
    "description",
    "kind",
    "severity",
    "enabled",
    "path",
    "threshold",
    "threshold_high",
    "clear_threshold",
    "clear_threshold_high",
    "value",
    "duration_seconds",
    "readings",
    "labels",
)


def alarm_rule_create(
    *,
    actor: Principal,
    name: str,
    kind: str,
    severity: str = Severity.MAJOR,
    enabled: bool = True,
    description: str = "",
    path: str = "",
    resource: str = "",
    threshold: float | None = None,
    threshold_high: float | None = None,
    clear_threshold: float | None = None,
    clear_threshold_high: float | None = None,
    value: Any = None,
    duration_seconds: int = 0,
    minutes: int | None = None,
    readings: int = 1,
    endpoint: str | None = None,
    site: int | None = None,
    labels: list[str] | None = None,
) -> AlarmRule:
    """A rule (operator of its scope): ``kind`` on the resource at ``path`` (``/3303/*/5700``: every
    instance) or named ``resource`` in the registry (``temperature``), on one device (``endpoint``, a
    name), else a site (an id) and/or ``labels`` (none: every device). Fleet kinds: no_data and offline
    take ``minutes`` (or ``duration_seconds``), battery a percent ``threshold``. A bad field is a 422
    naming it, and nothing is stored."""
    require_scope(actor, Role.OPERATOR)
    rule = AlarmRule(created_by=author_of(actor))
    _rule_fill(
        actor,
        rule,
        {
            "name": name,
            "description": description,
            "kind": kind,
            "severity": severity,
            "enabled": enabled,
            "path": path,
            "threshold": threshold,
            "threshold_high": threshold_high,
            "clear_threshold": clear_threshold,
            "clear_threshold_high": clear_threshold_high,
            "value": value,
            "duration_seconds": duration_seconds,
            "readings": readings,
            "labels": labels or [],
        },
        resource=resource,
        minutes=minutes,
        endpoint=endpoint,
        site=site,
        scope_given=True,
    )
    require_on(actor, Role.OPERATOR, _rule_site_id(rule), what="this rule")
    with transaction.atomic():
        rule.save()
        _rules_changed()
    return rule


def alarm_rule_update(
    *,
    actor: Principal,
    rule: AlarmRule,
    changes: dict[str, Any],
) -> AlarmRule:
    """Change a rule: ``changes`` holds the fields given (``RULE_FIELDS``, and ``resource``, ``minutes``,
    ``endpoint``, ``site``), the others stay. The actor operates the rule's scope before and after."""
    require_on(actor, Role.OPERATOR, _rule_site_id(rule), what="this rule")
    unknown = set(changes) - {*RULE_FIELDS, "resource", "minutes", "endpoint", "site"}
    if unknown:
        raise FieldhubError("not a field of a rule", path=sorted(unknown)[0])
    rule = AlarmRule.objects.get(pk=rule.pk)
    fields = {name: getattr(rule, name) for name in RULE_FIELDS}
    fields.update({name: changes[name] for name in RULE_FIELDS if name in changes})
    if "resource" in changes:
        fields["path"] = ""
    if changes.get("labels") is None and "labels" in changes:
        fields["labels"] = []
    scope_given = bool({"endpoint", "site", "labels"} & set(changes))
    if scope_given:
        endpoint = changes.get("endpoint") if "endpoint" in changes else _endpoint_name(rule)
        site = changes.get("site") if "site" in changes else rule.site_id
    else:
        endpoint, site = None, None
    _rule_fill(
        actor,
        rule,
        fields,
        resource=changes.get("resource") or "",
        minutes=changes.get("minutes"),
        endpoint=endpoint,
        site=site,
        scope_given=scope_given,
    )
    require_on(actor, Role.OPERATOR, _rule_site_id(rule), what="this rule")
    with transaction.atomic():
        rule.save()
        # A changed condition starts afresh: pending durations are forgotten.
        AlarmWatch.objects.filter(rule=rule).delete()
        _rules_changed()
    return rule


def alarm_rule_delete(*, actor: Principal, rule: AlarmRule) -> None:
    """Delete a rule and its alarms (history included). To keep them, disable the rule instead."""
    require_on(actor, Role.OPERATOR, _rule_site_id(rule), what="this rule")
    with transaction.atomic():
        AlarmRule.objects.filter(pk=rule.pk).delete()
        _rules_changed()


def _rules_changed() -> None:
    rule_cache.clear()  # this process at once (its next post sees the change)...
    transaction.on_commit(rule_cache.clear)  # ...and without what a reload in the meantime read


def _endpoint_name(rule: AlarmRule) -> str | None:
    return (
        None if rule.endpoint_id is None else Endpoint.objects.values_list("name", flat=True).get(pk=rule.endpoint_id)
    )


def _rule_site_id(rule: AlarmRule) -> int | None:
    """The site whose operators manage the rule: its device's, or its site; None: global operators only."""
    if rule.endpoint is not None:
        return rule.endpoint.site_id
    return rule.site_id


def _rule_fill(
    actor: Principal,
    rule: AlarmRule,
    fields: dict[str, Any],
    *,
    resource: str,
    minutes: int | None,
    endpoint: str | None,
    site: int | None,
    scope_given: bool,
) -> None:
    """Check every field of a rule and set them on ``rule`` (not saved): 422s name the field."""
    name = (fields["name"] or "").strip() if isinstance(fields["name"], str) else ""
    if not name or len(name) > NAME_MAX:
        raise FieldhubError(f"a rule needs a name of at most {NAME_MAX} characters", path="name")
    kind = fields["kind"]
    if kind not in Kind.values:
        raise FieldhubError(f"kind must be one of {', '.join(Kind.values)}", path="kind")
    if fields["severity"] not in Severity.values:
        raise FieldhubError(f"severity must be one of {', '.join(Severity.values)}", path="severity")
    if not isinstance(fields["enabled"], bool):
        raise FieldhubError("enabled is true or false", path="enabled")
    description = fields["description"] or ""
    if not isinstance(description, str) or len(description) > DESCRIPTION_MAX:
        raise FieldhubError(f"a description holds at most {DESCRIPTION_MAX} characters", path="description")
    _numbers_check(fields)
    duration = fields["duration_seconds"] if minutes is None else _minutes(minutes)
    if isinstance(duration, bool) or not isinstance(duration, int) or not 0 <= duration <= DURATION_MAX:
        raise FieldhubError(f"duration_seconds is 0 .. {DURATION_MAX}", path="duration_seconds")
    readings = fields["readings"]
    if isinstance(readings, bool) or not isinstance(readings, int) or not 1 <= readings <= READINGS_MAX:
        raise FieldhubError(f"readings is 1 .. {READINGS_MAX}", path="readings")

    rule.name, rule.kind, rule.severity, rule.enabled = name, kind, fields["severity"], fields["enabled"]
    rule.description = description
    rule.duration_seconds, rule.readings = duration, readings
    for number_field in ("threshold", "threshold_high", "clear_threshold", "clear_threshold_high"):
        given = fields[number_field]
        setattr(rule, number_field, None if given is None else float(given))
    rule.value = None
    rule.path, rule.object_id, rule.instance_id, rule.resource_id = "", None, None, None

    if kind in conditions.RESOURCE_KINDS:
        resource_type = _watched_resource(rule, kind, fields["path"] or "", resource)
        _condition_check(rule, kind, resource_type, fields["value"])
    else:
        _fleet_check(rule, kind, fields, resource)
    if scope_given:
        _scope_fill(actor, rule, endpoint=endpoint, site=site, labels=fields["labels"])


def _fleet_check(rule: AlarmRule, kind: str, fields: dict[str, Any], resource: str) -> None:
    """A fleet kind watches no resource: no path, threshold, value or count; no_data and offline need minutes."""
    if fields["path"] or resource:
        raise FieldhubError(f"{_a(kind)} rule watches no resource", path="path" if fields["path"] else "resource")
    for number_field in ("threshold", "threshold_high", "clear_threshold", "clear_threshold_high"):
        if getattr(rule, number_field) is not None:
            raise FieldhubError(f"{_a(kind)} rule has no threshold", path=number_field)
    if fields["value"] is not None:
        raise FieldhubError(f"{_a(kind)} rule has no value", path="value")
    if kind in conditions.SWEPT_KINDS and rule.duration_seconds <= 0:
        raise FieldhubError(f"{_a(kind)} rule needs minutes (or duration_seconds) above 0", path="minutes")
    if rule.readings != 1:
        raise FieldhubError(f"{_a(kind)} rule counts no readings", path="readings")
    if kind not in conditions.SWEPT_KINDS and rule.duration_seconds:
        raise FieldhubError(f"{_a(kind)} rule has no duration", path="duration_seconds")


def _numbers_check(fields: dict[str, Any]) -> None:
    for number_field in ("threshold", "threshold_high", "clear_threshold", "clear_threshold_high"):
        given = fields[number_field]
        if given is not None and conditions.number(given) is None:
            raise FieldhubError("a threshold is a number", path=number_field)
        if given is not None and not -1e300 < float(given) < 1e300:
            raise FieldhubError("a threshold is a finite number", path=number_field)


def _a(kind: str) -> str:
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def _minutes(minutes: Any) -> int:
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 0 < minutes <= DURATION_MAX // 60:
        raise FieldhubError(f"minutes is 1 .. {DURATION_MAX // 60}", path="minutes")
    return int(minutes) * 60


def _watched_resource(rule: AlarmRule, kind: str, path: str, resource: str) -> ResourceType:
    """Parse the watched resource (a path, or a registry name) into the rule; it must be registered."""
    if kind == Kind.BATTERY:
        if path or resource:
            raise FieldhubError("a battery rule watches /3/0/9 Battery Level", path="path" if path else "resource")
        path = conditions.BATTERY_PATH
    if path and resource:
        raise FieldhubError("give path or resource, not both", path="resource")
    if resource:
        if not isinstance(resource, str):
            raise FieldhubError("a resource is a registry name, e.g. temperature", path="resource")
        found = ResourceType.objects.filter(slug=resource.strip()).first()
        if found is None:
            raise FieldhubError(f"{resource[:64]!r} is not a resource name the registry knows", path="resource")
        rule.object_id, rule.resource_id = found.object_id, found.resource_id
        rule.path = f"/{found.object_id}/*/{found.resource_id}"
        return found
    if not path:
        raise FieldhubError(f"{_a(kind)} rule watches a resource: give path (/3303/*/5700) or resource", path="path")
    parts = path.strip().strip("/").split("/") if isinstance(path, str) else []
    shown = str(path)[:40]
    if len(parts) == 2:
        parts = [parts[0], "*", parts[1]]
    ok = len(parts) == 3 and all(p.isascii() and p.isdigit() and len(p) <= 5 for p in (parts[0], parts[2]))
    ok = ok and (parts[1] == "*" or (parts[1].isascii() and parts[1].isdigit() and len(parts[1]) <= 5))
    if not ok or any(int(p) > ID_MAX for p in parts if p != "*"):
        raise FieldhubError(f"{shown!r} is not a resource path like /3303/*/5700 or /3303/0/5700", path="path")
    object_id, resource_id = int(parts[0]), int(parts[2])
    instance_id = None if parts[1] == "*" else int(parts[1])
    found = ResourceType.objects.filter(object_id=object_id, resource_id=resource_id).first()
    if found is None:
        raise FieldhubError(f"/{object_id}/{parts[1]}/{resource_id} is not a resource the registry knows", path="path")
    rule.object_id, rule.instance_id, rule.resource_id = object_id, instance_id, resource_id
    rule.path = f"/{object_id}/{parts[1]}/{resource_id}"
    return found


def _condition_check(rule: AlarmRule, kind: str, resource_type: ResourceType, value: Any) -> None:
    data_type = resource_type.lwm2m_type
    described = f"{rule.path} ({resource_type.slug}) is {data_type}"
    if kind in conditions.THRESHOLD_KINDS:
        if data_type not in lwm2m.NUMERIC_TYPES:
            raise FieldhubError(f"a threshold needs a numeric resource; {described}", path="threshold")
        if value is not None:
            raise FieldhubError(f"{_a(kind)} rule compares with thresholds, not a value", path="value")
        _thresholds_check(rule, kind)
        return
    for number_field in ("threshold", "threshold_high", "clear_threshold", "clear_threshold_high"):
        if getattr(rule, number_field) is not None:
            raise FieldhubError(f"{_a(kind)} rule has no threshold", path=number_field)
    if kind == Kind.EQUAL:
        rule.value = _equal_value(value, data_type, described)
    elif value is not None:
        raise FieldhubError("a changed rule has no value", path="value")
    elif rule.duration_seconds or rule.readings != 1:
        raise FieldhubError(
            "a changed rule is raised by one change", path="readings" if rule.readings != 1 else "duration_seconds"
        )


def _thresholds_check(rule: AlarmRule, kind: str) -> None:
    low, high = rule.threshold, rule.threshold_high
    clear, clear_high = rule.clear_threshold, rule.clear_threshold_high
    if low is None:
        raise FieldhubError(f"{_a(kind)} rule needs a threshold", path="threshold")
    if kind == Kind.OUTSIDE:
        if high is None:
            raise FieldhubError(
                "an outside rule needs threshold_high (the range is threshold .. threshold_high)", path="threshold_high"
            )
        if high <= low:
            raise FieldhubError("threshold_high must be above threshold", path="threshold_high")
        clear = low if clear is None else clear
        clear_high = high if clear_high is None else clear_high
        if not low <= clear <= clear_high <= high:
            raise FieldhubError(
                "the clear range lies inside the range: "
                "threshold <= clear_threshold <= clear_threshold_high <= threshold_high",
                path="clear_threshold" if not low <= clear <= clear_high else "clear_threshold_high",
            )
        return
    if high is not None:
        raise FieldhubError(f"{_a(kind)} rule has one threshold", path="threshold_high")
    if clear_high is not None:
        raise FieldhubError(f"{_a(kind)} rule has one clear threshold", path="clear_threshold_high")
    if kind == Kind.BATTERY and not 0 < low <= 100:
        raise FieldhubError("a battery threshold is a percent, 1 .. 100", path="threshold")
    if clear is not None and kind == Kind.ABOVE and clear > low:
        raise FieldhubError("an above rule clears at or below its threshold", path="clear_threshold")
    if clear is not None and kind != Kind.ABOVE and clear < low:
        raise FieldhubError(f"{_a(kind)} rule clears at or above its threshold", path="clear_threshold")


def _equal_value(value: Any, data_type: lwm2m.DataType, described: str) -> Any:
    if value is None:
        raise FieldhubError("an equal rule needs the value that raises it", path="value")
    if data_type == lwm2m.DataType.BOOLEAN:
        ok = isinstance(value, bool)
    elif data_type == lwm2m.DataType.STRING:
        ok = isinstance(value, str) and len(value) <= 255
    elif data_type == lwm2m.DataType.FLOAT:
        ok = conditions.number(value) is not None
        value = float(value) if ok else value
    elif data_type in lwm2m.NUMERIC_TYPES:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        raise FieldhubError(f"an equal rule compares numbers, strings or booleans; {described}", path="value")
    if not ok:
        raise FieldhubError(f"the value does not fit: {described}", path="value")
    return value


def _scope_fill(actor: Principal, rule: AlarmRule, *, endpoint: str | None, site: int | None, labels: Any) -> None:
    """The rule's scope; a device or site the actor may not see is unknown to them (a 422 naming it)."""
    seen = require_scope(actor, Role.VIEWER)
    if not isinstance(labels, list) or not all(isinstance(label, str) and label.strip() for label in labels):
        raise FieldhubError("labels is a list of label names", path="labels")
    labels = sorted({label.strip() for label in labels})
    if len(labels) > LABELS_MAX or any(len(label) > 64 for label in labels):
        raise FieldhubError(f"at most {LABELS_MAX} labels of at most 64 characters", path="labels")
    rule.labels, rule.endpoint, rule.site = labels, None, None
    if endpoint:
        if site is not None or labels:
            raise FieldhubError("a rule is on one device, or on a site and/or labels: not both", path="endpoint")
        found = Endpoint.objects.filter(name=endpoint).first() if isinstance(endpoint, str) else None
        if found is None or not seen.includes(found.site_id):
            raise FieldhubError(f"no endpoint named {str(endpoint)[:64]!r}", path="endpoint")
        rule.endpoint = found
    elif site is not None:
        chosen = Site.objects.filter(pk=site).first() if isinstance(site, int) and not isinstance(site, bool) else None
        if chosen is None or not seen.includes(chosen.pk):
            raise FieldhubError(f"no site {site}", path="site")
        rule.site = chosen
