"""Writes of notifications: the outbox rows an alarm change makes (in its transaction), and the channels.

``on_alarm_changed`` is told of every alarm change inside the change's transaction
(``telemetry.alarms.signals.alarm_changed``, connected in ``TelemetryConfig.ready``) and writes one
``Notification`` per matching channel there: the message is stored if and only if the change is. The
constraint ``notification_once`` (channel, change) makes a second telling of the same change write nothing.
The delivery workers (``telemetry.notifications.delivery``) are woken after commit.

Which channels match a change: enabled ones that want its event (``on_raise``, ``on_acknowledge``,
``on_clear``), whose site (if any) is the device's site, and which list the alarm's rule, or list no rule
and have a ``min_severity`` at or below the alarm's.

Channels are managed by admins: a site's admins (or global admins) for a channel of that site, global
admins for a channel of every site. The webhook secret is write-only: stored, never shown."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import FieldhubError
from core.models import Endpoint, Site
from core.permissions import Principal, author_of, has_role_on, require_on
from core.roles import Role
from telemetry.alarms.models import SEVERITY_RANK, Alarm, AlarmChange, AlarmRule, Severity
from telemetry.notifications import wakeup
from telemetry.notifications.models import Notification, NotificationChannel

Kind = NotificationChannel.Kind

# An alarm change's state -> the event its message tells of, and the channel's switch for it.
EVENTS = {
    Alarm.State.ACTIVE: ("raised", "on_raise"),
    Alarm.State.ACKNOWLEDGED: ("acknowledged", "on_acknowledge"),
    Alarm.State.CLEARED: ("cleared", "on_clear"),
}
NAME_MAX = 100
URL_MAX = 500
SECRET_MIN, SECRET_MAX = 16, 200
RECIPIENTS_MAX = 20
RULES_MAX = 200
EMAIL_MAX = 254
DIGEST_AFTER_MAX = 10000


def new_key() -> str:
    """An idempotency key: unique, and the same on every attempt of one message."""
    return uuid.uuid4().hex


def alarm_link(alarm_id: int) -> str:
    """The alarm's page: absolute with PUBLIC_BASE_URL, else the path alone."""
    return f"{settings.PUBLIC_BASE_URL}/alarms/{alarm_id}/"


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


# --- the outbox ------------------------------------------------------------------------------------------


def on_alarm_changed(sender: object, *, alarm: Alarm, change: AlarmChange, **kwargs: object) -> None:
    """The receiver of ``alarm_changed``: the change's messages, in its transaction."""
    notifications_for_change(alarm=alarm, change=change)


def matching_channels(*, alarm: Alarm, change: AlarmChange, endpoint: Endpoint) -> list[NotificationChannel]:
    """The enabled channels that want this change (see the module's docstring)."""
    if change.state not in EVENTS:
        return []
    _, switch = EVENTS[Alarm.State(change.state)]
    candidates = (
        NotificationChannel.objects.filter(enabled=True, **{switch: True})
        .filter(Q(site__isnull=True) | Q(site_id=endpoint.site_id))
        .prefetch_related("rules")
    )
    rank = SEVERITY_RANK.get(Severity(alarm.severity), 0) if alarm.severity in Severity.values else 0
    chosen = []
    for channel in candidates:
        rule_ids = {rule.pk for rule in channel.rules.all()}
        if rule_ids:
            if alarm.rule_id in rule_ids:
                chosen.append(channel)
        elif rank >= SEVERITY_RANK[Severity(channel.min_severity)]:
            chosen.append(channel)
    return chosen


def notifications_for_change(*, alarm: Alarm, change: AlarmChange) -> int:
    """One message per matching channel for ``change`` (none twice: a change told again writes nothing);
    how many were written. Runs inside the change's transaction."""
    endpoint = Endpoint.objects.select_related("site").get(pk=alarm.endpoint_id)
    channels = matching_channels(alarm=alarm, change=change, endpoint=endpoint)
    if not channels:
        return 0
    event, _ = EVENTS[Alarm.State(change.state)]
    rule = AlarmRule.objects.only("id", "name", "kind").get(pk=alarm.rule_id)
    now = timezone.now()
    rows = []
    for channel in channels:
        key = new_key()
        body = message_body(key=key, event=event, alarm=alarm, change=change, endpoint=endpoint, rule=rule)
        body["channel"] = {"id": channel.pk, "name": channel.name}
        rows.append(
            Notification(
                channel=channel,
                alarm=alarm,
                change=change,
                key=key,
                event=event,
                body=body,
                next_attempt_at=now,
            )
        )
    written = Notification.objects.bulk_create(rows, ignore_conflicts=True)
    wakeup.wake()
    return len(written)


def message_body(
    *, key: str, event: str, alarm: Alarm, change: AlarmChange, endpoint: Endpoint, rule: AlarmRule
) -> dict[str, Any]:
    """What a message tells of one alarm change (JSON: the webhook's body, the e-mail's details)."""
    site = endpoint.site
    return {
        "key": key,
        "event": event,
        "at": _iso(change.at),
        "alarm": {
            "id": alarm.pk,
            "state": alarm.state,
            "severity": alarm.severity,
            "path": alarm.path,
            "message": alarm.message,
            "raised_at": _iso(alarm.raised_at),
            "raised_value": alarm.raised_value,
            "acknowledged_at": _iso(alarm.acknowledged_at),
            "note": alarm.note,
            "cleared_at": _iso(alarm.cleared_at),
            "cleared_value": alarm.cleared_value,
            "url": alarm_link(alarm.pk),
        },
        "change": {
            "id": change.pk,
            "state": change.state,
            "at": _iso(change.at),
            "value": change.value,
            "user": change.user.get_username() if change.user_id and change.user else None,
            "note": change.note,
        },
        "device": {
            "name": endpoint.name,
            "site": {"id": site.pk, "name": site.name} if site is not None else None,
        },
        "rule": {"id": rule.pk, "name": rule.name, "kind": rule.kind},
    }


# --- channels --------------------------------------------------------------------------------------------


def _no_nul(value: str, path: str) -> str:
    if "\x00" in value:
        raise FieldhubError("must not contain a NUL character", path=path)
    return value


ID_MAX = 2**63 - 1


def _id(value: int, path: str) -> int:
    if isinstance(value, bool) or not 0 < value <= ID_MAX:
        raise FieldhubError(f"no such id {value}", path=path)
    return value


def _name(name: str) -> str:
    name = _no_nul((name or "").strip(), "name")
    if not name or len(name) > NAME_MAX:
        raise FieldhubError(f"a channel needs a name of at most {NAME_MAX} characters", path="name")
    return name


def _kind(kind: str) -> str:
    if kind not in Kind.values:
        raise FieldhubError(f"kind must be one of {', '.join(Kind.values)}", path="kind")
    return kind


def _url(url: str) -> str:
    url = _no_nul((url or "").strip(), "url")
    if not url:
        raise FieldhubError("a webhook needs a URL", path="url")
    if len(url) > URL_MAX:
        raise FieldhubError(f"a URL is at most {URL_MAX} characters", path="url")
    try:
        parsed = urlparse(url)
        parsed.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise FieldhubError("not a valid URL", path="url") from None
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        raise FieldhubError("a webhook URL is http:// or https:// with a host", path="url")
    if re.search(r"\s", url):
        raise FieldhubError("a URL has no spaces", path="url")
    return url


def _secret(secret: str) -> str:
    _no_nul(secret or "", "secret")
    if not SECRET_MIN <= len(secret or "") <= SECRET_MAX:
        raise FieldhubError(
            f"a webhook needs a secret of {SECRET_MIN} to {SECRET_MAX} characters (the signature's key)", path="secret"
        )
    return secret


def _recipients(recipients: Sequence[str]) -> list[str]:
    cleaned = []
    for address in recipients:
        address = (address or "").strip() if isinstance(address, str) else ""
        if not address:
            continue
        if len(address) > EMAIL_MAX or "\x00" in address:
            raise FieldhubError(f"an address is at most {EMAIL_MAX} characters", path="recipients")
        try:
            validate_email(address)
        except ValidationError:
            raise FieldhubError(f"{address!r} is not an e-mail address", path="recipients") from None
        if address not in cleaned:
            cleaned.append(address)
    if not cleaned:
        raise FieldhubError("an e-mail channel needs at least one address", path="recipients")
    if len(cleaned) > RECIPIENTS_MAX:
        raise FieldhubError(f"at most {RECIPIENTS_MAX} addresses", path="recipients")
    return cleaned


def _severity(severity: str) -> str:
    if severity not in Severity.values:
        raise FieldhubError(f"min_severity must be one of {', '.join(Severity.values)}", path="min_severity")
    return severity


def _digest_after(value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not 1 <= value <= DIGEST_AFTER_MAX:
        raise FieldhubError(f"digest_after is between 1 and {DIGEST_AFTER_MAX}, or empty", path="digest_after")
    return value


def _site(site_id: int | None) -> Site | None:
    if site_id is None:
        return None
    site = Site.objects.filter(pk=_id(site_id, "site")).first()
    if site is None:
        raise FieldhubError(f"no site {site_id}", path="site")
    return site


def _rules(rule_ids: Sequence[int], site: Site | None) -> list[AlarmRule]:
    """The rules a channel lists: they exist, and for a channel of a site, they are that site's (or of every
    site; the channel still only hears of its site's devices)."""
    ids = sorted({_id(rule_id, "rules") for rule_id in rule_ids})
    if len(ids) > RULES_MAX:
        raise FieldhubError(f"at most {RULES_MAX} rules", path="rules")
    rules = list(AlarmRule.objects.filter(pk__in=ids).select_related("endpoint"))
    missing = set(ids) - {rule.pk for rule in rules}
    if missing:
        raise FieldhubError(f"no alarm rule {min(missing)}", path="rules")
    if site is not None:
        for rule in rules:
            rule_site = rule.site_id if rule.endpoint_id is None else rule.endpoint.site_id  # type: ignore[union-attr]
            if rule_site not in (None, site.pk):
                raise FieldhubError(f"alarm rule {rule.pk} is not of this channel's site", path="rules")
    return rules


def may_manage(user: Principal, site_id: int | None) -> bool:
    """May ``user`` create or change a channel of ``site_id`` (None: of every site)? What the pages offer."""
    return has_role_on(user, Role.ADMIN, site_id)


def _require_manage(actor: Principal, site_id: int | None) -> None:
    require_on(actor, Role.ADMIN, site_id, what="a notification channel")


def channel_create(
    *,
    actor: Principal,
    name: str,
    kind: str,
    url: str = "",
    secret: str = "",
    recipients: Sequence[str] = (),
    site_id: int | None = None,
    rule_ids: Sequence[int] = (),
    min_severity: str = Severity.WARNING,
    on_raise: bool = True,
    on_acknowledge: bool = False,
    on_clear: bool = True,
    enabled: bool = True,
    digest_after: int | None = None,
) -> NotificationChannel:
    """A channel of ``site_id`` (None: every site), by an admin of that site (or a global admin). Every field
    is checked first: a bad one is a 422 naming it, and nothing is stored."""
    _require_manage(actor, site_id)
    channel = NotificationChannel(
        name=_name(name),
        kind=_kind(kind),
        min_severity=_severity(min_severity),
        on_raise=bool(on_raise),
        on_acknowledge=bool(on_acknowledge),
        on_clear=bool(on_clear),
        enabled=bool(enabled),
        digest_after=_digest_after(digest_after),
        created_by=author_of(actor),
    )
    if kind == Kind.WEBHOOK:
        channel.url, channel.secret = _url(url), _secret(secret)
    else:
        channel.recipients = _recipients(recipients)
    channel.site = _site(site_id)
    rules = _rules(rule_ids, channel.site)
    with transaction.atomic():
        channel.save()
        channel.rules.set(rules)
    return channel


_UNSET: Any = object()


def channel_update(
    *,
    actor: Principal,
    channel: NotificationChannel,
    name: str | None = None,
    url: str | None = None,
    secret: str | None = None,
    recipients: Sequence[str] | None = None,
    site_id: int | None = _UNSET,
    rule_ids: Sequence[int] | None = None,
    min_severity: str | None = None,
    on_raise: bool | None = None,
    on_acknowledge: bool | None = None,
    on_clear: bool | None = None,
    enabled: bool | None = None,
    digest_after: int | None = _UNSET,
) -> NotificationChannel:
    """Change what is given (None or absent: unchanged; ``secret`` empty or None keeps it). Moving a channel
    to another site needs the admin role on both. The kind is fixed."""
    _require_manage(actor, channel.site_id)
    fields: dict[str, Any] = {}
    if name is not None:
        fields["name"] = _name(name)
    if channel.kind == Kind.WEBHOOK:
        if url is not None:
            fields["url"] = _url(url)
        if secret:
            fields["secret"] = _secret(secret)
    elif recipients is not None:
        fields["recipients"] = _recipients(recipients)
    if min_severity is not None:
        fields["min_severity"] = _severity(min_severity)
    for flag, given in (("on_raise", on_raise), ("on_acknowledge", on_acknowledge), ("on_clear", on_clear)):
        if given is not None:
            fields[flag] = bool(given)
    if enabled is not None:
        fields["enabled"] = bool(enabled)
    if digest_after is not _UNSET:
        fields["digest_after"] = _digest_after(digest_after)
    site = channel.site
    if site_id is not _UNSET and site_id != channel.site_id:
        _require_manage(actor, site_id)
        site = _site(site_id)
        fields["site"] = site
    rules = None
    if rule_ids is not None:
        rules = _rules(rule_ids, site)
    elif "site" in fields:
        rules = _rules(list(channel.rules.values_list("pk", flat=True)), site)
    with transaction.atomic():
        for field, value in fields.items():
            setattr(channel, field, value)
        channel.save()
        if rules is not None:
            channel.rules.set(rules)
    return channel


def channel_delete(*, actor: Principal, channel: NotificationChannel) -> None:
    """Delete a channel with its delivery log (messages not sent yet are dropped)."""
    _require_manage(actor, channel.site_id)
    channel.delete()


def channel_test(*, actor: Principal, channel: NotificationChannel) -> Notification:
    """A test message to the channel, through the outbox (its delivery is in the log like any other)."""
    _require_manage(actor, channel.site_id)
    key = new_key()
    now = timezone.now()
    who = actor.get_username()
    body = {
        "key": key,
        "event": "test",
        "at": now.isoformat(),
        "message": f"A test message from Fieldhub, sent by {who}.",
        "channel": {"id": channel.pk, "name": channel.name},
    }
    with transaction.atomic():
        notification = Notification.objects.create(
            channel=channel, key=key, event="test", body=body, next_attempt_at=now
        )
        wakeup.wake()
    return notification
