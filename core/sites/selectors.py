"""Reads of sites, their rules and labels. Each takes the user (viewer role; ``SYSTEM`` for Fieldhub's own)."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from core.errors import FieldhubError, NotFound
from core.models import Label, Site, SiteRule
from core.permissions import Principal, require, require_scope
from core.roles import Role

UNASSIGNED = "none"  # ?site=none: the devices in no site


def site_list(*, user: Principal) -> QuerySet[Site]:
    """Sites by name, each with ``devices``, its number of devices: one query."""
    require(user, Role.VIEWER)
    return Site.objects.annotate(devices=Count("endpoints")).order_by("name", "id")


def site_get(*, user: Principal, pk: int) -> Site:
    """One site with ``devices`` (its number of devices), or a 404."""
    try:
        return site_list(user=user).get(pk=pk)
    except Site.DoesNotExist:
        raise NotFound(f"no site with id {pk}", path="site") from None


def site_rules(*, user: Principal, site: Site) -> QuerySet[SiteRule]:
    """The site's assignment rules in the order they are tried (position, then id)."""
    require(user, Role.VIEWER)
    return SiteRule.objects.filter(site=site).order_by("position", "id")


def site_rule_get(*, user: Principal, site: Site, pk: int) -> SiteRule:
    try:
        return site_rules(user=user, site=site).get(pk=pk)
    except SiteRule.DoesNotExist:
        raise NotFound(f"site {site.pk} has no rule with id {pk}", path="rule") from None


def site_for_filter(*, user: Principal, value: str | int | None, path: str = "site") -> Site | None:
    """What a ``site`` filter names: a site (by id), or None for "none" (the devices in no site). A value that
    is neither, or a site that does not exist, is a 422 naming ``path``."""
    require(user, Role.VIEWER)
    if isinstance(value, str) and value.strip().lower() == UNASSIGNED:
        return None
    if isinstance(value, str) and value.strip().isdecimal() and value.strip().isascii():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise FieldhubError(f"site must be a site id or {UNASSIGNED!r}", path=path)
    pk = value
    site = Site.objects.filter(pk=pk).first() if 0 < pk < 2**63 else None
    if site is None:
        raise FieldhubError(f"no site with id {pk}", path=path)
    return site


def labels_for_filter(*, user: Principal, names: list[str], path: str = "label") -> list[Label]:
    """The labels a ``label`` filter names (repeated or comma-separated; lower-cased): unknown ones are a 422
    naming ``path`` and them."""
    require_scope(user, Role.VIEWER)
    wanted = sorted({name.strip().lower() for value in names for name in value.split(",") if name.strip()})
    if not wanted:
        return []
    found = list(Label.objects.filter(name__in=wanted))
    missing = sorted(set(wanted) - {label.name for label in found})
    if missing:
        raise FieldhubError(f"unknown label(s): {', '.join(missing[:20])}", path=path)
    return found
