"""The sites API (/api/v1/sites): sites, their assignment rules and who holds a role on them. Viewers of a
site read it; its admins manage its rules and users; global admins create and delete sites."""

from __future__ import annotations

from ninja import Router, Status
from ninja.params.functions import Query

from core.http import ApiRequest
from core.models import Site, SiteRole, SiteRule
from core.paging import MAX_PAGE, OffsetPage, offset_page
from core.schemas import READ_ERRORS, WRITE_ERRORS, Offset, RowId
from core.selectors import user_named
from core.services import user_set_site_role
from core.sites import selectors, services
from core.sites.schemas import (
    SiteIn,
    SiteOut,
    SitePageOut,
    SitePatchIn,
    SiteRuleIn,
    SiteRuleOut,
    SiteUserIn,
    SiteUserOut,
)

sites_router = Router(tags=["Sites"])


@sites_router.get("/sites", response={200: SitePageOut, **READ_ERRORS}, summary="Sites, with their device counts")
def list_sites(
    request: ApiRequest, limit: int = Query(50, ge=1, le=MAX_PAGE), offset: Offset = Query(0)
) -> OffsetPage[Site]:
    return offset_page(selectors.site_list(user=request.auth), limit=limit, offset=offset)


@sites_router.post("/sites", response={201: SiteOut, **WRITE_ERRORS}, summary="Create a site (admin)")
def create_site(request: ApiRequest, payload: SiteIn) -> Status[Site]:
    site = services.site_create(actor=request.auth, name=payload.name, description=payload.description)
    return Status(201, selectors.site_get(user=request.auth, pk=site.pk))


@sites_router.get("/sites/{site_id}", response={200: SiteOut, **READ_ERRORS}, summary="One site")
def get_site(request: ApiRequest, site_id: RowId) -> Site:
    return selectors.site_get(user=request.auth, pk=site_id)


@sites_router.patch(
    "/sites/{site_id}", response={200: SiteOut, **WRITE_ERRORS}, summary="Rename or describe a site (admin)"
)
def update_site(request: ApiRequest, site_id: RowId, payload: SitePatchIn) -> Site:
    site = selectors.site_get(user=request.auth, pk=site_id)
    services.site_update(actor=request.auth, site=site, name=payload.name, description=payload.description)
    return selectors.site_get(user=request.auth, pk=site_id)


@sites_router.delete("/sites/{site_id}", response={204: None, **WRITE_ERRORS}, summary="Delete an empty site (admin)")
def delete_site(request: ApiRequest, site_id: RowId) -> Status[None]:
    site = selectors.site_get(user=request.auth, pk=site_id)
    services.site_delete(actor=request.auth, site=site)
    return Status(204, None)


@sites_router.get(
    "/sites/{site_id}/rules", response={200: list[SiteRuleOut], **READ_ERRORS}, summary="A site's assignment rules"
)
def list_site_rules(request: ApiRequest, site_id: RowId) -> list[SiteRule]:
    site = selectors.site_get(user=request.auth, pk=site_id)
    return list(selectors.site_rules(user=request.auth, site=site))


@sites_router.post(
    "/sites/{site_id}/rules", response={201: SiteRuleOut, **WRITE_ERRORS}, summary="Add an assignment rule (admin)"
)
def create_site_rule(request: ApiRequest, site_id: RowId, payload: SiteRuleIn) -> Status[SiteRule]:
    site = selectors.site_get(user=request.auth, pk=site_id)
    rule = services.site_rule_create(
        actor=request.auth, site=site, kind=payload.kind, text=payload.text, position=payload.position
    )
    return Status(201, rule)


@sites_router.delete(
    "/sites/{site_id}/rules/{rule_id}", response={204: None, **WRITE_ERRORS}, summary="Delete a rule (admin)"
)
def delete_site_rule(request: ApiRequest, site_id: RowId, rule_id: RowId) -> Status[None]:
    site = selectors.site_get(user=request.auth, pk=site_id)
    rule = selectors.site_rule_get(user=request.auth, site=site, pk=rule_id)
    services.site_rule_delete(actor=request.auth, rule=rule)
    return Status(204, None)


@sites_router.get(
    "/sites/{site_id}/users",
    response={200: list[SiteUserOut], **READ_ERRORS},
    summary="Who holds a role on a site (its admins)",
)
def list_site_users(request: ApiRequest, site_id: RowId) -> list[SiteRole]:
    site = selectors.site_get(user=request.auth, pk=site_id)
    return list(selectors.site_users(user=request.auth, site=site))


@sites_router.put(
    "/sites/{site_id}/users/{username}",
    response={200: SiteUserOut, **WRITE_ERRORS},
    summary="Give a user a role on a site, or change it (its admins)",
)
def set_site_user(request: ApiRequest, site_id: RowId, username: str, payload: SiteUserIn) -> SiteRole:
    site = selectors.site_get(user=request.auth, pk=site_id)
    target = user_named(user=request.auth, username=username)
    user_set_site_role(actor=request.auth, user=target, site=site, role=payload.role.value)
    return selectors.site_user_get(user=request.auth, site=site, username=target.get_username())


@sites_router.delete(
    "/sites/{site_id}/users/{username}",
    response={204: None, **WRITE_ERRORS},
    summary="Take a user's role on a site (its admins)",
)
def delete_site_user(request: ApiRequest, site_id: RowId, username: str) -> Status[None]:
    site = selectors.site_get(user=request.auth, pk=site_id)
    held = selectors.site_user_get(user=request.auth, site=site, username=username)
    user_set_site_role(actor=request.auth, user=held.user, site=site, role=None)
    return Status(204, None)
