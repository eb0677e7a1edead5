"""Reads of notification channels and their delivery logs. Channels are admins' business: a user sees the
channels of the sites they administer, and a global admin also those of every site (no site). Viewers and
operators see none (403): a channel's addresses and URLs are configuration, not fleet data."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from core.errors import FieldhubError, NotFound
from core.permissions import Principal, require_scope
from core.roles import Role
from telemetry.alarms.models import AlarmRule
from telemetry.notifications.models import Notification, NotificationChannel

STATUSES = tuple(Notification.Status.values)


def channel_list(*, user: Principal) -> QuerySet[NotificationChannel]:
    """The channels the user manages, by name, with their site and rules (three queries however many)."""
    scope = require_scope(user, Role.ADMIN)
    rows = NotificationChannel.objects.select_related("site").prefetch_related("rules").order_by("name", "id")
    return scope.filter(rows, "site")


def channel_get(*, user: Principal, pk: int) -> NotificationChannel:
    """One channel, or a 404 (also for a channel of a site the user does not administer)."""
    if not 0 < pk < 2**63:
        raise NotFound(f"no notification channel with id {pk}", path="channel")
    try:
        return channel_list(user=user).get(pk=pk)
    except NotificationChannel.DoesNotExist:
        raise NotFound(f"no notification channel with id {pk}", path="channel") from None


def deliveries(*, user: Principal, channel: NotificationChannel, status: str | None = None) -> QuerySet[Notification]:
    """The channel's messages, newest first (the delivery log); ``status``: only those."""
    channel_get(user=user, pk=channel.pk)
    rows = Notification.objects.filter(channel=channel).order_by("-created_at", "-id")
    if status:
        if status not in STATUSES:
            raise FieldhubError(f"status must be one of {', '.join(STATUSES)}", path="status")
        rows = rows.filter(status=status)
    return rows


def rule_choices(*, user: Principal) -> list[AlarmRule]:
    """The alarm rules a channel form offers the user: every rule for a global admin; else the rules of the
    sites they administer and those of every site (a channel of a site only hears of its site's devices)."""
    scope = require_scope(user, Role.ADMIN)
    rules = AlarmRule.objects.select_related("endpoint", "site").order_by("name", "id")
    if scope.everywhere:
        return list(rules)
    mine = sorted(scope.site_ids)
    return list(
        rules.filter(
            Q(endpoint__isnull=True, site__isnull=True)
            | Q(endpoint__isnull=True, site__in=mine)
            | Q(endpoint__site__in=mine)
        )
    )
