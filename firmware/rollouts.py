"""Firmware campaigns as one kind of rollout (``telemetry.rollouts.kinds``): listed with the rollouts of
commands under the ids "fw-<campaign id>", paused, resumed and aborted through the campaign services. Their
own pages and API (``/firmware/campaigns/<id>/``, ``/api/v1/campaigns/<id>``) stay theirs."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from core.errors import NotFound
from core.permissions import Principal
from firmware import selectors, services
from firmware.models import Campaign
from telemetry.rollouts.kinds import Kind, RolloutSummary

PREFIX = "fw"


def summary_of(campaign: Campaign) -> RolloutSummary:
    """A campaign (read with its progress: ``selectors.campaign_list``) as the rollout list shows it."""
    counts = selectors.progress(campaign)
    return RolloutSummary(
        id=f"{PREFIX}-{campaign.pk}",
        kind="firmware",
        name=campaign.name,
        status=campaign.status.lower(),
        operation=f"firmware {campaign.firmware.version}",
        created_at=campaign.created_at,
        total=counts["total"],
        done=counts["succeeded"],
        failed=counts["failed"],
        skipped=counts["skipped"],
        active=counts["active"],
        waves=list(campaign.waves),
        current_wave=campaign.current_wave,
        reason=campaign.reason,
        url=f"/firmware/campaigns/{campaign.pk}/",
        api_url=f"/api/v1/campaigns/{campaign.pk}",
    )


def newest(user: Principal, limit: int) -> tuple[Sequence[RolloutSummary], int]:
    campaigns = selectors.campaign_list(user=user)
    return [summary_of(c) for c in campaigns[:limit]], campaigns.count()


def get(user: Principal, pk: int) -> RolloutSummary | None:
    campaign = selectors.campaign_find(user=user, pk=pk)
    return summary_of(campaign) if campaign is not None else None


ACTIONS: dict[str, Callable[..., Campaign]] = {
    "pause": services.campaign_pause,
    "resume": services.campaign_resume,
    "abort": services.campaign_abort,
}


def act(actor: Principal, pk: int, action: str) -> RolloutSummary:
    campaign = selectors.campaign_get(user=actor, pk=pk)
    ACTIONS[action](actor=actor, campaign=campaign)
    found = get(actor, pk)
    if found is None:
        raise NotFound(f"no campaign {pk}", path="rollout")
    return found


KIND = Kind(name="firmware", prefix=PREFIX, newest=newest, get=get, act=act)
