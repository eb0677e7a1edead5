"""Writes of sites, assignment rules, and the site and labels of devices. Each checks the actor's role and
every input first and stores nothing on a bad one; each is one transaction.

Global admins create and delete sites; a site's admins (global or of that site) rename it and manage its
rules; operators change the site and labels of the devices they operate (moving a device needs the role on
both sites; taking it out of every site, a global role)."""

from __future__ import annotations

import enum
import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from core.errors import Conflict, FieldhubError, PermissionDenied
from core.models import Endpoint, EndpointLabel, Label, Site, SiteRule
from core.permissions import Principal, Scope, has_role, has_role_on, require, require_scope
from core.roles import Role
from core.signals import endpoints_retagged

SITE_NAME_MAX = 100
SITE_DESCRIPTION_MAX = 2000
LABEL_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
RULE_TEXT_MAX = 255
MAX_LABELS = 100  # per call: more is surely a mistake
CHUNK = 500  # devices changed per statement (well under SQLite's limit of variables)


@dataclass(frozen=True)
class Changed:
    """What a bulk write did: how many devices it was given, how many it changed."""

    matched: int
    changed: int


def _site_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise FieldhubError("a site needs a name", path="name")
    if len(name) > SITE_NAME_MAX:
        raise FieldhubError(f"a site name is at most {SITE_NAME_MAX} characters", path="name")
    return name


def _site_description(description: str) -> str:
    if len(description) > SITE_DESCRIPTION_MAX:
        raise FieldhubError(f"a description is at most {SITE_DESCRIPTION_MAX} characters", path="description")
    return description


def may_manage_sites(user: Principal) -> bool:
    """Create, rename and delete sites: global admins (what the pages offer; the services check it)."""
    return has_role(user, Role.ADMIN)


def may_manage_rules(user: Principal, site_id: int) -> bool:
    """Add and delete a site's rules: global admins and the site's admins."""
    return has_role_on(user, Role.ADMIN, site_id)


def _name_taken(name: str, *, other_than: int | None = None) -> None:
    taken = Site.objects.filter(name__iexact=name)
    if other_than is not None:
        taken = taken.exclude(pk=other_than)
    if taken.exists():
        raise Conflict(f"a site named {name!r} exists already", path="name")


def site_create(*, actor: Principal, name: str, description: str = "") -> Site:
    require(actor, Role.ADMIN)
    name, description = _site_name(name), _site_description(description)
    with transaction.atomic():
        _name_taken(name)
        try:
            with transaction.atomic():
                return Site.objects.create(name=name, description=description)
        except IntegrityError:  # created by someone else between the check and the insert
            raise Conflict(f"a site named {name!r} exists already", path="name") from None


def site_update(*, actor: Principal, site: Site, name: str | None = None, description: str | None = None) -> Site:
    require(actor, Role.ADMIN)
    if name is not None:
        name = _site_name(name)
    if description is not None:
        description = _site_description(description)
    with transaction.atomic():
        if name is not None:
            _name_taken(name, other_than=site.pk)
            site.name = name
        if description is not None:
            site.description = description
        try:
            with transaction.atomic():
                site.save(update_fields=["name", "description"])
        except IntegrityError:
            raise Conflict(f"a site named {name!r} exists already", path="name") from None
    return site


def site_delete(*, actor: Principal, site: Site) -> None:
    """Delete an empty site (its rules go with it); a site with devices is a 409 saying how many."""
    require(actor, Role.ADMIN)
    with transaction.atomic():
        count = Endpoint.objects.filter(site=site).count()
        if count:
            raise Conflict(f"site {site.name!r} still has {count} device(s): move or unassign them first", path="site")
        site.delete()


def site_rule_create(*, actor: Principal, site: Site, kind: str, text: str, position: int = 0) -> SiteRule:
    """A rule giving devices that first appear with a matching name this site: ``prefix`` (the name starts
    with ``text``) or ``pattern`` (a shell pattern: ``*``, ``?``, ``[seq]``, matched case-sensitively).
    Global admins and the site's admins manage its rules."""
    _require_site_admin(actor, site.pk)
    if kind not in SiteRule.Kind.values:
        raise FieldhubError(f"kind must be one of {', '.join(SiteRule.Kind.values)}", path="kind")
    if not text or len(text) > RULE_TEXT_MAX:
        raise FieldhubError(f"the text is 1 to {RULE_TEXT_MAX} characters", path="text")
    if not -(2**31) <= position < 2**31:
        raise FieldhubError("position must be a 32-bit integer", path="position")
    with transaction.atomic():
        return SiteRule.objects.create(site=site, kind=kind, text=text, position=position)


def site_rule_delete(*, actor: Principal, rule: SiteRule) -> None:
    _require_site_admin(actor, rule.site_id)
    with transaction.atomic():
        rule.delete()


def _require_site_admin(actor: Principal, site_id: int) -> None:
    require_scope(actor, Role.ADMIN)  # "this needs the admin role" for one who is admin nowhere
    if not may_manage_rules(actor, site_id):
        raise PermissionDenied("the site's rules need the admin role on the site")


def rule_matches(rule: SiteRule, name: str) -> bool:
    if rule.kind == SiteRule.Kind.PREFIX:
        return name.startswith(rule.text)
    return fnmatch.fnmatchcase(name, rule.text)  # a glob, translated by fnmatch: no user regex


def site_by_rules(name: str, rules: Iterable[SiteRule]) -> Site | None:
    """The site of the first of ``rules`` (in their order, with their sites) that the name ``name`` matches."""
    for rule in rules:
        if rule_matches(rule, name):
            return rule.site
    return None


def site_rules_ordered() -> list[SiteRule]:
    """Every assignment rule in the order they are tried, with its site."""
    return list(SiteRule.objects.select_related("site"))


def endpoint_site_assign_first(*, endpoint_id: int, name: str) -> Site | None:
    """A device that has just appeared (created by the ingest or a registration) and has no site gets the
    site of the first rule its name matches. Called by the ingest inside the transaction that created it
    (on PostgreSQL's one-statement path, in one of its own right after)."""
    site = site_by_rules(name, site_rules_ordered())
    if site is not None:
        Endpoint.objects.filter(pk=endpoint_id, site__isnull=True).update(site=site)
    return site


def label_name_check(name: object) -> str:
    """A label as stored: lower-cased; 1-64 of [a-z0-9._-], starting with a letter or digit."""
    if not isinstance(name, str):
        raise FieldhubError("a label is a string", path="labels")
    lowered = name.strip().lower()
    if not LABEL_NAME.fullmatch(lowered):
        raise FieldhubError(
            f"label {name[:70]!r} is not 1-64 of a-z, 0-9, '.', '_', '-' starting with a letter or digit",
            path="labels",
        )
    return lowered


def label_names_check(names: Iterable[object]) -> list[str]:
    checked = sorted({label_name_check(name) for name in names})
    if len(checked) > MAX_LABELS:
        raise FieldhubError(f"at most {MAX_LABELS} labels at once", path="labels")
    return checked


class Keep(enum.Enum):
    """A bulk change that leaves the devices' site as it is."""

    SITE = "keep"


KEEP_SITE = Keep.SITE


def endpoints_change(
    *,
    actor: Principal,
    endpoints: QuerySet[Endpoint],
    site: Site | Keep | None = KEEP_SITE,
    labels: Sequence[object] | None = None,
    add: Sequence[object] = (),
    remove: Sequence[object] = (),
    preview: bool = False,
) -> Changed:
    """Site and labels of many devices at once, all or nothing: ``site`` puts them in a site (None: in
    none); ``labels`` replaces their labels (an empty list clears them), or ``add`` and ``remove`` change
    them. Labels are created on first use. ``changed`` counts the devices of which anything changed.
    ``preview`` checks everything and counts the devices (``matched``) but changes nothing (``changed`` 0).

    The actor is operator of every chosen device's site (global operators of devices in no site too) and,
    to move them, of the new site (taking devices out of every site needs the global role)."""
    scope = require_scope(actor, Role.OPERATOR)
    if not isinstance(site, Keep) and not has_role_on(actor, Role.OPERATOR, None if site is None else site.pk):
        raise PermissionDenied(
            "taking devices out of every site needs the global operator role"
            if site is None
            else f"moving devices to site {site.name!r} needs the operator role there"
        )
    wanted = None if labels is None else label_names_check(labels)
    to_add, to_remove = label_names_check(add), label_names_check(remove)
    if wanted is not None and (to_add or to_remove):
        raise FieldhubError("give labels (replace) or add_labels/remove_labels, not both", path="labels")
    if set(to_add) & set(to_remove):
        raise FieldhubError("a label cannot be added and removed at once", path="remove_labels")
    with transaction.atomic():
        # The devices chosen before anything changes (a change may move them out of a filter's reach).
        ids, moved_sites = _chosen(scope, endpoints, site)
        matched = len(ids)
        if preview:
            return Changed(matched=matched, changed=0)
        new_labels = _labels_get_or_create(wanted if wanted is not None else to_add)
        touched: set[int] = set()
        moved_ids: set[int] = set()
        for start in range(0, len(ids), CHUNK):
            chunk = Endpoint.objects.filter(pk__in=ids[start : start + CHUNK])
            if not isinstance(site, Keep):
                moved = chunk.exclude(site=site)
                moved_ids |= set(moved.values_list("pk", flat=True))
                moved.update(site=site)
            if wanted is not None:
                touched |= _labels_remove(chunk, keep_only=[label.pk for label in new_labels], remove=())
            elif to_remove:
                touched |= _labels_remove(chunk, keep_only=None, remove=to_remove)
            touched |= _labels_add(chunk, new_labels)
        touched |= moved_ids
    if touched:
        changed_ids, moved_list = sorted(touched), sorted(moved_ids)
        transaction.on_commit(
            lambda: endpoints_retagged.send(
                sender=Endpoint, endpoint_ids=changed_ids, sites=moved_sites, moved=moved_list
            )
        )
    return Changed(matched=matched, changed=len(touched))


def _chosen(
    scope: Scope, endpoints: QuerySet[Endpoint], site: Site | Keep | None
) -> tuple[list[int], list[int | None]]:
    """The ids of the devices a change reaches, all of them operated by the actor (``scope``; else 403
    naming how many are not), and the sites whose device counts a move changes (those the devices leave,
    and the one they join)."""
    chosen = Endpoint.objects.filter(pk__in=endpoints.values("pk"))
    ids = list(chosen.order_by("pk").values_list("pk", flat=True))
    if not scope.everywhere:
        foreign = chosen.exclude(site__in=sorted(scope.site_ids)).count()
        if foreign:
            raise PermissionDenied(f"{foreign} of the {len(ids)} devices are not on a site you operate")
    if isinstance(site, Keep):
        return ids, []
    left = set(chosen.values_list("site_id", flat=True).distinct())
    return ids, sorted({*left, site.pk if site is not None else None}, key=lambda pk: (pk is None, pk or 0))


def endpoints_site_set(*, actor: Principal, endpoints: QuerySet[Endpoint], site: Site | None) -> Changed:
    """Put the devices in ``site``, or take them out of any (``site=None``)."""
    return endpoints_change(actor=actor, endpoints=endpoints, site=site)


def endpoints_labels_set(*, actor: Principal, endpoints: QuerySet[Endpoint], labels: Sequence[object]) -> Changed:
    """Replace the devices' labels with ``labels`` (an empty list clears them)."""
    return endpoints_change(actor=actor, endpoints=endpoints, labels=labels)


def endpoints_labels_add(*, actor: Principal, endpoints: QuerySet[Endpoint], labels: Sequence[object]) -> Changed:
    return endpoints_change(actor=actor, endpoints=endpoints, add=labels)


def endpoints_labels_remove(*, actor: Principal, endpoints: QuerySet[Endpoint], labels: Sequence[object]) -> Changed:
    return endpoints_change(actor=actor, endpoints=endpoints, remove=labels)


def _labels_get_or_create(names: Sequence[str]) -> list[Label]:
    if not names:
        return []
    Label.objects.bulk_create([Label(name=name) for name in names], ignore_conflicts=True)
    return list(Label.objects.filter(name__in=names))


def _labels_remove(chosen: QuerySet[Endpoint], *, keep_only: Sequence[int] | None, remove: Sequence[str]) -> set[int]:
    links = EndpointLabel.objects.filter(endpoint__in=chosen)
    links = links.exclude(label__in=keep_only) if keep_only is not None else links.filter(label__name__in=remove)
    touched = set(links.values_list("endpoint_id", flat=True).distinct())
    links.delete()
    return touched


def _labels_add(chosen: QuerySet[Endpoint], labels: Sequence[Label]) -> set[int]:
    if not labels:
        return set()
    have = set(
        EndpointLabel.objects.filter(endpoint__in=chosen, label__in=labels).values_list("endpoint_id", "label_id")
    )
    ids = list(chosen.values_list("pk", flat=True))
    new = [EndpointLabel(endpoint_id=e, label=lab) for e in ids for lab in labels if (e, lab.pk) not in have]
    EndpointLabel.objects.bulk_create(new, ignore_conflicts=True, batch_size=1000)
    return {link.endpoint_id for link in new}
