"""The live fragments of the rollout pages (``telemetry/rollouts.html``, ``telemetry/rollout.html``), read as
``SYSTEM`` for the ``rollouts`` group as the pages read them; "" for what is gone."""

from __future__ import annotations

from core.permissions import SYSTEM
from realtime import render
from telemetry.rollouts import presenters, selectors


def render_row(rollout_id: int) -> str:
    rollout = selectors.rollout_find(user=SYSTEM, pk=rollout_id)
    if rollout is None:
        return ""
    return render("telemetry/rollouts.html#rollout-row", {"r": selectors.summary_of(rollout), "oob": True})


def render_new_row(rollout_id: int) -> str:
    rollout = selectors.rollout_find(user=SYSTEM, pk=rollout_id)
    if rollout is None:
        return ""
    html = render("telemetry/rollouts.html#rollout-row", {"r": selectors.summary_of(rollout), "oob": False})
    return f'<tbody hx-swap-oob="afterbegin:#rollout-rows">{html}</tbody>'


def render_head(rollout_id: int) -> str:
    rollout = selectors.rollout_find(user=SYSTEM, pk=rollout_id)
    if rollout is None:
        return ""
    context = {**presenters.head_context(user=SYSTEM, rollout=rollout), "oob": True}
    return render("telemetry/rollout.html#rollout-head", context)


def render_member(member_id: int) -> str:
    member = selectors.member_find(user=SYSTEM, pk=member_id)
    if member is None:
        return ""
    return render("telemetry/rollout.html#device-row", {"m": presenters.member_row(member), "oob": True})
