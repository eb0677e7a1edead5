"""Reads of sites, their rules and labels. Each takes the user (viewer role, globally or on the sites read;
``SYSTEM`` for Fieldhub's own): a user sees the sites where they hold a role, every site with a global role."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Count, QuerySet

from core.errors import FieldhubError, NotFound
from core.models import Endpoint, Label, Site, SiteRole, SiteRule
from core.permissions import Principal, require_on, require_scope, scope_of
from core.roles import Role
from core.sites.services import rule_matches

UNASSIGNED = "none"  # ?site=none: the devices in no site
PREVIEW_MAX_DEVICES = 20_000  # a rule's preview reads every visible device's name: only for fleets up to this
LABELS_LISTED = 200  # label names a page offers to pick from


def site_list(*, user: Principal) -> QuerySet[Site]:
    """The sites the user sees (every one with a global role, else theirs) by name, each with ``devices``,
    its number of devices: one query."""
    scope = require_scope(user, Role.VIEWER)
    return scope.filter(Site.objects.annotate(devices=Count("endpoints")), "pk").order_by("name", "id")


def site_choices(*, user: Principal, role: Role = Role.VIEWER) -> list[Site]:
    """The sites where the user holds ``role`` (to filter by, or to move devices to), by name; none without it."""
    return list(scope_of(user, role).filter(Site.objects.all(), "pk").order_by("name", "id"))


def label_names(*, user: Principal, limit: int = LABELS_LISTED) -> list[str]:
    """The labels known (every one ever given), by name (the first ``limit``): what a label field offers."""
    require_scope(user, Role.VIEWER)
    return list(Label.objects.order_by("name").values_list("name", flat=True)[:limit])


def sites_administered(*, user: Principal) -> QuerySet[Site]:
    """The sites where ``user`` is an admin (every site for a global admin), by name; none for others."""
    scope = scope_of(user, Role.ADMIN)
    return scope.filter(Site.objects.order_by("name", "id"), "pk") if scope else Site.objects.none()


def site_get(*, user: Principal, pk: int) -> Site:
    """One site with ``devices`` (its number of devices), or a 404 (also for a site the user does not see)."""
    if not 0 < pk < 2**63:
        raise NotFound(f"no site with id {pk}", path="site")
    try:
        return site_list(user=user).get(pk=pk)
    except Site.DoesNotExist:
        raise NotFound(f"no site with id {pk}", path="site") from None


def site_rules(*, user: Principal, site: Site) -> QuerySet[SiteRule]:
    """The site's assignment rules in the order they are tried (position, then id)."""
    if not require_scope(user, Role.VIEWER).includes(site.pk):
        raise NotFound(f"no site with id {site.pk}", path="site")
    return SiteRule.objects.filter(site=site).order_by("position", "id")


def site_rule_get(*, user: Principal, site: Site, pk: int) -> SiteRule:
    if not 0 < pk < 2**63:
        raise NotFound(f"site {site.pk} has no rule with id {pk}", path="rule")
    try:
        return site_rules(user=user, site=site).get(pk=pk)
    except SiteRule.DoesNotExist:
        raise NotFound(f"site {site.pk} has no rule with id {pk}", path="rule") from None


def site_users(*, user: Principal, site: Site) -> QuerySet[SiteRole]:
    """The roles held on ``site``, each with its user, by user name (the site's admins, and global admins)."""
    require_on(user, Role.ADMIN, site.pk, what=f"site {site.name!r}")
    return SiteRole.objects.filter(site=site).select_related("user").order_by("user__username")


def site_user_get(*, user: Principal, site: Site, username: str) -> SiteRole:
    try:
        return site_users(user=user, site=site).get(user__username=username)
    except SiteRole.DoesNotExist:
        raise NotFound(f"{username!r} holds no role on site {site.name!r}", path="username") from None


def site_for_filter(*, user: Principal, value: str | int | None, path: str = "site") -> Site | None:
    """What a ``site`` filter names: a site (by id), or None for "none" (the devices in no site). A value that
    is neither, or a site that does not exist (or is not one of the user's), is a 422 naming ``path``.
    "none" is one of the user's only with a global role."""
    scope = require_scope(user, Role.VIEWER)
    if isinstance(value, str) and value.strip().lower() == UNASSIGNED:
        if not scope.everywhere:
            raise FieldhubError(f"site {UNASSIGNED!r} (devices in no site) needs a global role", path=path)
        return None
    if isinstance(value, str) and value.strip().isdecimal() and value.strip().isascii():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise FieldhubError(f"site must be a site id or {UNASSIGNED!r}", path=path)
    pk = value
    site = scope.filter(Site.objects.filter(pk=pk), "pk").first() if 0 < pk < 2**63 else None
    if site is None:
        raise FieldhubError(f"no site with id {pk}", path=path)
    return site


def labels_for_filter(*, user: Principal, names: list[str], path: str = "label") -> list[Label]:
    """The labels a ``label`` filter names (repeated or comma-separated; lower-cased): unknown ones are a 422
    naming ``path`` and them. Labels are names shared by every site."""
    require_scope(user, Role.VIEWER)
    wanted = sorted({name.strip().lower() for value in names for name in value.split(",") if name.strip()})
    if not wanted:
        return []
    found = list(Label.objects.filter(name__in=wanted))
    missing = sorted(set(wanted) - {label.name for label in found})
    if missing:
        raise FieldhubError(f"unknown label(s): {', '.join(missing[:20])}", path=path)
    return found


def rules_preview(*, user: Principal, rules: Sequence[tuple[str, str]]) -> list[int] | None:
    """For each (kind, text) rule, how many devices the user sees have a name it matches now (a hint: rules
    place only devices that appear later). One query reading the names; None for a fleet over
    ``PREVIEW_MAX_DEVICES`` (too slow to count this way)."""
    visible = require_scope(user, Role.VIEWER).filter(Endpoint.objects.all())
    names = list(visible.values_list("name", flat=True)[: PREVIEW_MAX_DEVICES + 1])
    if len(names) > PREVIEW_MAX_DEVICES:
        return None
    checked = [SiteRule(kind=kind, text=text) for kind, text in rules]
    return [sum(1 for name in names if rule_matches(rule, name)) for rule in checked]
