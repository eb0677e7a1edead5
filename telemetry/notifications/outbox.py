"""The outbox as a queue: claiming due messages under a lease, recording what became of each, digests.

A message is due when it is PENDING and its ``next_attempt_at`` has come, or SENDING with a lease
(``claimed_until``) that ran out: its worker died or hung. ``notifications_claim`` takes due messages
(PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED``, so several workers share the queue; SQLite: the one writer),
counts the attempt and leases them; ``notification_complete`` records the outcome only if the lease is still
this attempt's (its ``attempts``), so a worker that came back after its lease ran out cannot overwrite a
newer attempt. Each step is one short transaction; nothing is held open while a message is on its way.

Digest: before claiming, a channel that was written more than ``digest_after`` (NOTIFY_DIGEST_AFTER)
messages within the last minute gets its due messages folded into one digest message (they become
DIGESTED, pointing at it), at most one digest per channel a minute: messages due sooner wait for it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F
from django.utils import timezone

from telemetry.notifications.models import Notification, NotificationChannel
from telemetry.notifications.services import new_key

Status = Notification.Status
DIGEST_WINDOW = dt.timedelta(minutes=1)
DIGEST_MAX = 500  # messages in one digest; more go in the next
# Messages that never count toward a digest nor go into one.
NOT_DIGESTED = ("digest", "test")


@dataclass(frozen=True)
class Claim:
    """One leased message, with what sending it needs (read in the claim: no query while it is sent)."""

    id: int
    key: str
    event: str
    body: dict[str, Any]
    attempts: int
    channel_id: int
    channel_name: str
    kind: str
    url: str
    secret: str = field(repr=False)
    recipients: list[str]


@dataclass(frozen=True)
class Outcome:
    """What became of one attempt: delivered, or not (``retry``: worth another attempt), with the error."""

    delivered: bool
    error: str = ""
    retry: bool = False


def _lock(queryset: Any) -> Any:
    if connection.vendor == "postgresql":
        return queryset.select_for_update(skip_locked=True, of=("self",))
    return queryset  # SQLite: the transaction holds the one write lock


def notifications_recover(*, now: dt.datetime | None = None) -> int:
    """Messages SENDING past their lease (their worker died): PENDING and due now."""
    now = now or timezone.now()
    return Notification.objects.filter(status=Status.SENDING, claimed_until__lt=now).update(
        status=Status.PENDING, claimed_until=None, next_attempt_at=now
    )


def _due(now: dt.datetime) -> Any:
    return Notification.objects.filter(status=Status.PENDING, next_attempt_at__lte=now, channel__enabled=True)


def notifications_digest(*, now: dt.datetime | None = None) -> int:
    """Fold the due messages of every channel in a storm into digests (see the module); how many digests."""
    now = now or timezone.now()
    since = now - DIGEST_WINDOW
    busy = (
        _due(now)
        .exclude(event__in=NOT_DIGESTED)
        .values("channel_id")
        .annotate(n=Count("id"))
        .values_list("channel_id", flat=True)
    )
    made = 0
    for channel_id in list(busy):
        with transaction.atomic():
            channel = _lock(NotificationChannel.objects.filter(pk=channel_id)).first()
            if channel is None:
                continue  # another worker is deciding for it
            limit = channel.digest_after or settings.NOTIFY_DIGEST_AFTER
            written = (
                Notification.objects.filter(channel=channel, created_at__gte=since)
                .exclude(event__in=NOT_DIGESTED)
                .count()
            )
            if written <= limit:
                continue
            due = _due(now).filter(channel=channel).exclude(event__in=NOT_DIGESTED)
            last = (
                Notification.objects.filter(channel=channel, event="digest", created_at__gte=since)
                .order_by("-created_at")
                .values_list("created_at", flat=True)
                .first()
            )
            if last is not None:  # one digest a minute: the rest wait for the next
                due.update(next_attempt_at=last + DIGEST_WINDOW)
                continue
            parts = list(_lock(due.order_by("created_at", "id"))[:DIGEST_MAX])
            if not parts:
                continue
            key = new_key()
            body = {
                "key": key,
                "event": "digest",
                "at": now.isoformat(),
                "count": len(parts),
                "message": f"{len(parts)} alarm changes (more than {limit} within a minute)",
                "channel": {"id": channel.pk, "name": channel.name},
                "notifications": [part.body for part in parts],
            }
            digest = Notification.objects.create(
                channel=channel, key=key, event="digest", body=body, next_attempt_at=now
            )
            Notification.objects.filter(pk__in=[part.pk for part in parts]).update(
                status=Status.DIGESTED, digest=digest, claimed_until=None
            )
            made += 1
    return made


def notifications_claim(*, limit: int, lease_seconds: float | None = None) -> list[Claim]:
    """Lease up to ``limit`` due messages (oldest due first) and count their attempt."""
    now = timezone.now()
    notifications_recover(now=now)
    notifications_digest(now=now)
    lease = now + dt.timedelta(seconds=lease_seconds or settings.NOTIFY_LEASE_SECONDS)
    with transaction.atomic():
        rows = list(_lock(_due(now).select_related("channel").order_by("next_attempt_at", "id"))[:limit])
        if not rows:
            return []
        Notification.objects.filter(pk__in=[row.pk for row in rows]).update(
            status=Status.SENDING, claimed_until=lease, attempts=F("attempts") + 1
        )
    return [
        Claim(
            id=row.pk,
            key=row.key,
            event=row.event,
            body=row.body,
            attempts=row.attempts + 1,
            channel_id=row.channel_id,
            channel_name=row.channel.name,
            kind=row.channel.kind,
            url=row.channel.url,
            secret=row.channel.secret,
            recipients=list(row.channel.recipients or []),
        )
        for row in rows
    ]


def backoff(attempts: int) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones: doubling, capped."""
    return float(min(settings.NOTIFY_BACKOFF_MAX_SECONDS, settings.NOTIFY_BACKOFF_SECONDS * 2 ** max(0, attempts - 1)))


def notification_complete(*, claim: Claim, outcome: Outcome) -> str | None:
    """Record one attempt's outcome: SENT; PENDING again after the backoff (a retry within
    NOTIFY_RETRY_SECONDS of the message's writing); or FAILED. The new status, or None when the lease was
    no longer this attempt's (another attempt owns the message now: nothing recorded)."""
    now = timezone.now()
    with transaction.atomic():
        mine = Notification.objects.filter(
            pk=claim.id, attempts=claim.attempts, status__in=[Status.SENDING, Status.PENDING]
        )
        if outcome.delivered:
            status = Status.SENT
            updated = mine.update(status=status, sent_at=now, claimed_until=None)
            if updated:
                NotificationChannel.objects.filter(pk=claim.channel_id).update(last_sent_at=now)
            return status if updated else None
        created = Notification.objects.filter(pk=claim.id).values_list("created_at", flat=True).first()
        if created is None:
            return None
        error = outcome.error[:2000]
        next_at = now + dt.timedelta(seconds=backoff(claim.attempts))
        if outcome.retry and next_at <= created + dt.timedelta(seconds=settings.NOTIFY_RETRY_SECONDS):
            status = Status.PENDING
            updated = mine.update(status=status, next_attempt_at=next_at, claimed_until=None, last_error=error)
        else:
            status = Status.FAILED
            if outcome.retry:
                error = f"gave up after {claim.attempts} attempt{'s' if claim.attempts != 1 else ''}: {error}"
            updated = mine.update(status=status, claimed_until=None, last_error=error)
        if updated:
            NotificationChannel.objects.filter(pk=claim.channel_id).update(last_error=error, last_error_at=now)
        return status if updated else None


def notification_release(*, claim: Claim) -> bool:
    """Give a leased message back (a worker stopping before it could send it): due again now."""
    now = timezone.now()
    with transaction.atomic():
        return bool(
            Notification.objects.filter(pk=claim.id, attempts=claim.attempts, status=Status.SENDING).update(
                status=Status.PENDING, claimed_until=None, next_attempt_at=now
            )
        )
