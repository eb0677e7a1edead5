from __future__ import annotations

from typing import Any

from django import template

from telemetry.alarms import presenters

register = template.Library()


@register.inclusion_tag("telemetry/_alarm_badges.html", takes_context=True)
def alarm_badges(context: template.Context) -> dict[str, Any]:
    """The navigation's badges of open critical and major alarms (telemetry.alarms.presenters.badges): one
    query, on every page of a logged-in user."""
    user = context.get("user")
    return {"badges": presenters.badges(user=user) if user is not None else []}
