"""The notification pages: /notifications/ (the channels), /notifications/new/ (a channel's form) and
/notifications/<id>/ (its form, a test button, and the delivery log, paged). Admins only: a site's admins
see and manage that site's channels, global admins every channel; viewers and operators get a 403 and no
menu entry. Plain forms that post and come back; a refusal is the form again with the reason (its 4xx
status), nothing stored. The webhook secret is never put in a page: its field is always empty."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, QueryDict
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_http_methods, require_POST

from core import pages
from core.errors import FieldhubError, PermissionDenied
from core.http import PageRequest
from core.paging import offset_page
from core.sites.selectors import sites_administered
from telemetry.alarms.models import Severity
from telemetry.notifications import selectors, services
from telemetry.notifications.models import NotificationChannel

LOG_PAGE = 50
FLAGS = ("enabled", "on_raise", "on_acknowledge", "on_clear")


def _number(raw: str, path: str) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise FieldhubError("must be a whole number", path=path)
    return int(raw)


def _form_of(post: QueryDict) -> dict[str, Any]:
    """The form as sent (strings, to show again on a refusal)."""
    return {
        "name": post.get("name", ""),
        "kind": post.get("kind", ""),
        "url": post.get("url", ""),
        "recipients": post.get("recipients", ""),
        "site": post.get("site", ""),
        "rules": post.getlist("rules"),
        "min_severity": post.get("min_severity", Severity.WARNING),
        "digest_after": post.get("digest_after", ""),
        **{flag: post.get(flag) == "on" for flag in FLAGS},
    }


def _form_from(channel: NotificationChannel) -> dict[str, Any]:
    return {
        "name": channel.name,
        "kind": channel.kind,
        "url": channel.url,
        "recipients": "\n".join(channel.recipients or []),
        "site": str(channel.site_id or ""),
        "rules": [str(rule.pk) for rule in channel.rules.all()],
        "min_severity": channel.min_severity,
        "digest_after": "" if channel.digest_after is None else str(channel.digest_after),
        **{flag: getattr(channel, flag) for flag in FLAGS},
    }


def _values(form: dict[str, Any], post: QueryDict) -> dict[str, Any]:
    """What the services take, from the form; a malformed number is a 422 naming its field."""
    recipients = [part.strip() for line in form["recipients"].splitlines() for part in line.split(",")]
    return {
        "name": form["name"],
        "url": form["url"],
        "secret": post.get("secret", ""),
        "recipients": [address for address in recipients if address],
        "site_id": _number(form["site"], "site"),
        "rule_ids": [number for raw in form["rules"] if (number := _number(raw, "rules")) is not None],
        "min_severity": form["min_severity"],
        "digest_after": _number(form["digest_after"], "digest_after"),
        **{flag: form[flag] for flag in FLAGS},
    }


def _form_context(request: PageRequest) -> dict[str, Any]:
    return {
        "nav": "notifications",
        "kinds": NotificationChannel.Kind.choices,
        "severities": Severity.choices,
        "sites": list(sites_administered(user=request.user)),
        "every_site": services.may_manage(request.user, None),
        "rule_choices": selectors.rule_choices(user=request.user),
    }


def _failing(channel: NotificationChannel) -> bool:
    """Was the channel's last delivery attempt a failure?"""
    error_at, sent_at = channel.last_error_at, channel.last_sent_at
    return error_at is not None and (sent_at is None or error_at >= sent_at)


@login_required
@require_http_methods(["GET"])
def channels(request: PageRequest) -> HttpResponse:
    rows = list(selectors.channel_list(user=request.user))
    for row in rows:
        row.failing = _failing(row)  # type: ignore[attr-defined]
    context = {"nav": "notifications", "channels": rows}
    return TemplateResponse(request, "telemetry/notifications.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def channel_new(request: PageRequest) -> HttpResponse:
    context = _form_context(request)
    if request.method == "GET":
        initial = {
            "kind": "webhook",
            "min_severity": Severity.WARNING,
            "enabled": True,
            "on_raise": True,
            "on_clear": True,
        }
        context["form"] = {"rules": [], **initial}
        return TemplateResponse(request, "telemetry/notification_new.html", context)
    form = _form_of(request.POST)
    try:
        values = _values(form, request.POST)
        channel = services.channel_create(actor=request.user, kind=form["kind"], **values)
    except PermissionDenied:
        raise
    except FieldhubError as exc:
        context.update(form=form, error=str(exc))
        return TemplateResponse(request, "telemetry/notification_new.html", context, status=exc.status)
    messages.success(request, f"Channel {channel.name} created.")
    return redirect("notification_channel", pk=channel.pk)


def _channel_page(
    request: PageRequest, channel: NotificationChannel, *, status: int = 200, **answer: Any
) -> TemplateResponse:
    number = pages.page_number(request)
    log = offset_page(
        selectors.deliveries(user=request.user, channel=channel).select_related("digest"),
        limit=LOG_PAGE,
        offset=(number - 1) * LOG_PAGE,
    )
    last = max(1, -(-log.count // LOG_PAGE))
    here = f"/notifications/{channel.pk}/"
    context = {
        **_form_context(request),
        "channel": channel,
        "failing": _failing(channel),
        "form": _form_from(channel),
        "log": log,
        "pager": {
            "number": number,
            "pages": last,
            "previous": pages.link(here, page=number - 1 if number > 2 else None) if number > 1 else None,
            "next": pages.link(here, page=number + 1) if number < last else None,
        },
        **answer,
    }
    return TemplateResponse(request, "telemetry/notification.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def channel(request: PageRequest, pk: int) -> HttpResponse:
    """The channel and its delivery log; a POST saves its form (an empty secret keeps the secret)."""
    channel = selectors.channel_get(user=request.user, pk=pk)
    if request.method == "GET":
        return _channel_page(request, channel)
    form = _form_of(request.POST)
    try:
        services.channel_update(actor=request.user, channel=channel, **_values(form, request.POST))
    except PermissionDenied:
        raise
    except FieldhubError as exc:
        channel = selectors.channel_get(user=request.user, pk=pk)
        return _channel_page(request, channel, status=exc.status, form=form, error=str(exc))
    messages.success(request, f"Channel {channel.name} saved.")
    return redirect("notification_channel", pk=channel.pk)


@login_required
@require_POST
def channel_test(request: PageRequest, pk: int) -> HttpResponse:
    channel = selectors.channel_get(user=request.user, pk=pk)
    services.channel_test(actor=request.user, channel=channel)
    messages.success(request, "Test message queued: its delivery shows below in a moment.")
    return redirect("notification_channel", pk=channel.pk)


@login_required
@require_POST
def channel_delete(request: PageRequest, pk: int) -> HttpResponse:
    channel = selectors.channel_get(user=request.user, pk=pk)
    services.channel_delete(actor=request.user, channel=channel)
    messages.success(request, f"Channel {channel.name} deleted.")
    return redirect("notification_channels")
