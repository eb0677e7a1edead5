"""Roles per site: what a user whose role is on some sites only reads and writes, through every door that is
not a websocket (tests/realtime has those): the permission rules themselves, device lists and counts, device
pages and their controls, series, readings, CSV, events, operations, firmware updates and campaigns, sites
and rules, the bulk change, and the users page of a site admin. The route-by-route answers are in
tests/security/test_site_personas.py."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from core.errors import PermissionDenied
from core.lwm2m.nodes import Path, Reading
from core.lwm2m.types import DataType
from core.models import Endpoint, Site, SiteRole
from core.permissions import EVERYWHERE, SYSTEM, Scope, has_role_on, highest_role, require_on, scope_of
from core.roles import Role
from core.services import user_set_site_role
from firmware.services import campaign_create, firmware_update_start
from telemetry.downlink.queue import operation_enqueue
from telemetry.ingest import ingest
from telemetry.models import EndpointOperation, Rollout
from tests.core.test_sites import as_user, send
from tests.factories import make_firmware, make_user

pytestmark = pytest.mark.django_db


def on_sites(username: str, **roles: Role) -> Any:
    """A user with no global role and ``roles`` by site name."""
    user = make_user(None, username=username)
    for site_name, role in roles.items():
        SiteRole.objects.create(user=user, site=Site.objects.get(name=site_name), role=role.value)
    return user


def report(name: str, temperature: float = 21.5) -> None:
    """A post of two values: readings and an event."""
    readings = [Reading(Path(3303, 0, 5700), DataType.FLOAT, temperature), Reading(Path(3, 0, 9), DataType.INTEGER, 80)]
    ingest(endpoint_name=name, readings=readings)


@pytest.fixture
def fleet() -> dict[str, Site]:
    """a1, a2 in site A; b1 in site B; loose in no site; each with a reading (an event)."""
    a, b = Site.objects.create(name="A"), Site.objects.create(name="B")
    for name in ("a1", "a2", "b1", "loose"):
        report(name)
    Endpoint.objects.filter(name__in=["a1", "a2"]).update(site=a)
    Endpoint.objects.filter(name="b1").update(site=b)
    return {"A": a, "B": b}


def names(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return sorted(item["name"] if "name" in item else item["endpoint"] for item in response.json()["items"])


# --- the rules --------------------------------------------------------------------------------------------


class TestScope:
    def test_a_global_role_reaches_everywhere_and_a_site_role_its_site(self, fleet, viewer) -> None:
        a, b = fleet["A"], fleet["B"]
        user = on_sites("sally", A=Role.OPERATOR, B=Role.VIEWER)
        assert scope_of(user, Role.VIEWER) == Scope(everywhere=False, site_ids=frozenset({a.pk, b.pk}))
        assert scope_of(user, Role.OPERATOR).site_ids == {a.pk}
        assert not scope_of(user, Role.ADMIN)
        assert (has_role_on(user, Role.OPERATOR, a.pk), has_role_on(user, Role.OPERATOR, b.pk)) == (True, False)
        assert not has_role_on(user, Role.VIEWER, None)  # a device in no site: global roles only
        assert highest_role(user) == Role.OPERATOR
        assert scope_of(viewer, Role.VIEWER) is EVERYWHERE
        assert scope_of(SYSTEM, Role.ADMIN) is EVERYWHERE

    def test_on_a_site_a_user_holds_the_higher_of_their_global_and_site_role(self, fleet, viewer) -> None:
        SiteRole.objects.create(user=viewer, site=fleet["A"], role="admin")
        assert scope_of(viewer, Role.ADMIN).site_ids == {fleet["A"].pk}
        assert scope_of(viewer, Role.VIEWER) is EVERYWHERE
        assert highest_role(viewer) == Role.ADMIN

    def test_refusals_say_what_is_missing(self, fleet) -> None:
        user = on_sites("sally", A=Role.OPERATOR)
        with pytest.raises(PermissionDenied, match="this device needs the operator role on its site"):
            require_on(user, Role.OPERATOR, fleet["B"].pk)
        with pytest.raises(PermissionDenied, match=r"needs the operator role globally \(it is in no site\)"):
            require_on(user, Role.OPERATOR, None)
        with pytest.raises(PermissionDenied, match=r"^this needs the admin role$"):
            require_on(user, Role.ADMIN, fleet["A"].pk)

    def test_an_inactive_user_holds_no_site_role(self, fleet) -> None:
        user = on_sites("sally", A=Role.ADMIN)
        user.is_active = False
        assert not scope_of(user, Role.VIEWER)

    def test_a_changed_site_role_counts_at_once_for_the_user_object_changed(self, fleet, admin_user) -> None:
        user = on_sites("sally", A=Role.VIEWER)
        assert not has_role_on(user, Role.OPERATOR, fleet["A"].pk)
        user_set_site_role(actor=admin_user, user=user, site=fleet["A"], role="operator")
        assert has_role_on(user, Role.OPERATOR, fleet["A"].pk)
        user_set_site_role(actor=admin_user, user=user, site=fleet["A"], role=None)
        assert not scope_of(user, Role.VIEWER)


# --- reads --------------------------------------------------------------------------------------------------


class TestReads:
    def test_a_site_viewer_lists_and_counts_the_devices_of_their_site_only(self, fleet) -> None:
        client = as_user(on_sites("sally", A=Role.VIEWER))
        assert names(client.get("/api/v1/endpoints")) == ["a1", "a2"]
        assert names(client.get("/api/v1/events")) == ["a1", "a2"]
        assert names(client.get("/api/v1/sites")) == ["A"]
        page = client.get("/").content.decode()
        assert set(re.findall(r'href="/endpoints/([^/"]+)/"', page)) == {"a1", "a2"}

    def test_a_viewer_of_two_sites_sees_both_and_never_the_devices_in_no_site(self, fleet) -> None:
        client = as_user(on_sites("sally", A=Role.VIEWER, B=Role.VIEWER))
        assert names(client.get("/api/v1/endpoints")) == ["a1", "a2", "b1"]
        refused = client.get("/api/v1/endpoints?site=none")
        assert refused.status_code == 422
        assert "needs a global role" in refused.json()["detail"]

    def test_a_global_viewer_sees_every_device(self, fleet, viewer) -> None:
        assert names(as_user(viewer).get("/api/v1/endpoints")) == ["a1", "a2", "b1", "loose"]

    @pytest.mark.parametrize(
        "url",
        [
            "/api/v1/endpoints/{name}",
            "/api/v1/endpoints/{name}/series?path=/3303/0/5700",
            "/api/v1/endpoints/{name}/readings?path=/3303/0/5700",
            "/api/v1/endpoints/{name}/export.csv",
            "/endpoints/{name}/",
            "/endpoints/{name}/firmware/",
        ],
    )
    def test_a_device_of_another_site_or_of_none_is_not_found(self, fleet, url: str) -> None:
        client = as_user(on_sites("sally", A=Role.ADMIN))
        assert client.get(url.format(name="a1")).status_code == 200
        for foreign in ("b1", "loose"):
            response = client.get(url.format(name=foreign))
            assert response.status_code == 404, (foreign, response.status_code)
            assert "no endpoint named" in response.content.decode()

    def test_a_site_filter_naming_another_site_is_a_422_as_an_unknown_one(self, fleet) -> None:
        response = as_user(on_sites("sally", A=Role.VIEWER)).get(f"/api/v1/endpoints?site={fleet['B'].pk}")
        assert (response.status_code, response.json()["detail"]) == (422, f"site: no site with id {fleet['B'].pk}")

    def test_operations_and_firmware_updates_of_other_sites_are_not_listed(self, fleet) -> None:
        for name in ("a1", "b1", "loose"):
            operation_enqueue(actor=SYSTEM, endpoint=Endpoint.objects.get(name=name), kind="READ", path="/3/0/0")
            firmware_update_start(actor=SYSTEM, endpoint=Endpoint.objects.get(name=name), firmware=make_firmware())
        client = as_user(on_sites("sally", B=Role.VIEWER))
        operations = client.get("/api/v1/operations").json()["items"]
        assert {operation["endpoint"] for operation in operations} == {"b1"}
        updates = client.get("/api/v1/firmware-updates").json()
        assert {update["endpoint"] for update in updates} == {"b1"}
        dashboard = client.get("/").content.decode()
        assert '<div class="count updating"><span class="number">1</span> updating</div>' in dashboard


# --- writes -------------------------------------------------------------------------------------------------


class TestWrites:
    def test_an_operator_of_a_site_commands_its_devices_and_no_others(self, fleet) -> None:
        user = on_sites("sally", A=Role.OPERATOR, B=Role.VIEWER)
        client = as_user(user)
        body = {"kind": "read", "path": "/3/0/0"}
        assert send(client, "POST", "/api/v1/endpoints/a1/operations", body).status_code == 201
        refused = send(client, "POST", "/api/v1/endpoints/b1/operations", body)
        assert (refused.status_code, refused.json()["detail"]) == (
            403,
            "this device needs the operator role on its site",
        )
        assert send(client, "POST", "/api/v1/endpoints/loose/operations", body).status_code == 404
        assert list(EndpointOperation.objects.values_list("endpoint__name", flat=True)) == ["a1"]

    def test_pages_offer_controls_only_where_the_user_may_use_them(self, fleet, viewer) -> None:
        SiteRole.objects.create(user=viewer, site=fleet["A"], role="operator")
        client = as_user(viewer)
        operates = re.compile(r"<body[^>]*data-can-operate")
        assert operates.search(client.get("/endpoints/a1/").content.decode())
        assert not operates.search(client.get("/endpoints/b1/").content.decode())
        assert not operates.search(client.get("/").content.decode()), "not an operator of every device they see"
        assert operates.search(as_user(on_sites("olga", A=Role.OPERATOR)).get("/").content.decode())

    def test_a_campaign_belongs_to_its_devices_site_and_is_seen_there_only(self, fleet, operator) -> None:
        firmware = make_firmware(version="2.0.0")
        a_devices = list(Endpoint.objects.filter(site=fleet["A"]))
        sally = on_sites("sally", A=Role.OPERATOR, B=Role.OPERATOR)
        campaign = campaign_create(actor=sally, name="a", firmware=firmware, endpoints=a_devices, waves=[100])
        assert campaign.site_id == fleet["A"].pk
        ann = as_user(on_sites("ann", A=Role.VIEWER))
        assert [c["id"] for c in ann.get("/api/v1/campaigns").json()] == [campaign.number]
        bob = as_user(on_sites("bob", B=Role.OPERATOR))
        assert bob.get("/api/v1/campaigns").json() == []
        assert bob.get(f"/api/v1/campaigns/{campaign.number}").status_code == 404
        assert send(bob, "POST", f"/api/v1/campaigns/{campaign.number}/pause").status_code == 404

    def test_a_campaign_over_several_sites_needs_a_global_operator(self, fleet, operator) -> None:
        firmware = make_firmware(version="2.0.0")
        both = list(Endpoint.objects.filter(name__in=["a1", "b1"]))
        sally = on_sites("sally", A=Role.OPERATOR, B=Role.OPERATOR)
        with pytest.raises(PermissionDenied, match="a campaign over devices of several sites needs the operator"):
            campaign_create(actor=sally, name="both", firmware=firmware, endpoints=both, waves=[100])
        assert not Rollout.objects.exists()
        campaign = campaign_create(actor=operator, name="both", firmware=firmware, endpoints=both, waves=[100])
        assert campaign.site_id is None
        assert as_user(sally).get(f"/api/v1/campaigns/{campaign.number}").status_code == 404

    def test_bulk_moves_need_the_operator_role_on_both_sites(self, fleet) -> None:
        c = Site.objects.create(name="C")
        client = as_user(on_sites("sally", A=Role.OPERATOR, B=Role.OPERATOR, C=Role.VIEWER))
        moved = send(client, "POST", "/api/v1/endpoints/bulk", {"endpoints": ["a1"], "site": fleet["B"].pk})
        assert (moved.status_code, moved.json()) == (200, {"matched": 1, "changed": 1})
        for target in (c.pk, None):
            refused = send(client, "POST", "/api/v1/endpoints/bulk", {"endpoints": ["a2"], "site": target})
            assert refused.status_code == 403, refused.content
        assert Endpoint.objects.get(name="a2").site == fleet["A"]

    def test_a_bulk_change_by_filter_reaches_the_users_devices_only(self, fleet) -> None:
        client = as_user(on_sites("sally", A=Role.OPERATOR))
        changed = send(client, "POST", "/api/v1/endpoints/bulk", {"filter": {}, "add_labels": ["mine"]})
        assert changed.json() == {"matched": 2, "changed": 2}
        tagged = Endpoint.objects.filter(labels__name="mine").values_list("name", flat=True)
        assert sorted(tagged) == ["a1", "a2"]

    def test_a_viewer_of_a_site_with_an_operator_site_cannot_relabel_it(self, fleet) -> None:
        client = as_user(on_sites("sally", A=Role.OPERATOR, B=Role.VIEWER))
        refused = send(client, "POST", "/api/v1/endpoints/bulk", {"endpoints": ["a1", "b1"], "add_labels": ["x"]})
        assert (refused.status_code, refused.json()["detail"]) == (
            403,
            "1 of the 2 devices are not on a site you operate",
        )
        assert not Endpoint.objects.filter(labels__name="x").exists()


# --- site admins --------------------------------------------------------------------------------------------


class TestSiteAdmins:
    def test_a_site_admin_manages_the_rules_of_their_site_only(self, fleet) -> None:
        client = as_user(on_sites("sam", A=Role.ADMIN))
        a, b = fleet["A"].pk, fleet["B"].pk
        rule = send(client, "POST", f"/api/v1/sites/{a}/rules", {"kind": "prefix", "text": "urn:a:"})
        assert rule.status_code == 201
        assert send(client, "PATCH", f"/api/v1/sites/{a}", {"description": "plant A"}).status_code == 403
        assert send(client, "DELETE", f"/api/v1/sites/{a}/rules/{rule.json()['id']}").status_code == 204
        assert send(client, "POST", f"/api/v1/sites/{b}/rules", {"kind": "prefix", "text": "x"}).status_code == 404
        refused = send(client, "POST", "/api/v1/sites", {"name": "D"})
        assert (refused.status_code, refused.json()["detail"]) == (403, "this needs the admin role")
        assert send(client, "DELETE", f"/api/v1/sites/{a}").status_code == 403

    def test_a_site_admin_sees_and_creates_the_users_of_their_site(self, fleet, viewer) -> None:
        on_sites("bert", B=Role.VIEWER)
        ann = on_sites("ann", A=Role.VIEWER)
        client = as_user(on_sites("sam", A=Role.ADMIN))
        page = client.get("/users/").content.decode()
        listed = set(re.findall(r'<tr id="user-\d+">\s*<td>([^<\s]+)', page))
        assert listed == {"ann", "sam"}
        created = client.post(
            "/users/", {"action": "create", "username": "newbie", "role": "operator", "site": fleet["A"].pk}
        )
        assert created.status_code == 201
        newbie = get_user_model().objects.get(username="newbie")
        assert scope_of(newbie, Role.OPERATOR).site_ids == {fleet["A"].pk}
        assert not newbie.groups.exists()
        refused = client.post("/users/", {"action": "create", "username": "global", "role": "viewer", "site": ""})
        assert refused.status_code == 403
        foreign = client.post("/users/", {"action": "create", "username": "b", "role": "viewer", "site": fleet["B"].pk})
        assert foreign.status_code == 404
        assert not get_user_model().objects.filter(username__in=["global", "b"]).exists()
        raised = client.post("/users/", {"action": "site-role", "user": ann.pk, "site": fleet["A"].pk, "role": "admin"})
        assert raised.status_code == 200
        assert SiteRole.objects.get(user=ann).role == "admin"
        assert "ann is now admin on A." in raised.content.decode()

    def test_a_site_admin_manages_the_accounts_of_users_of_their_sites_only(self, fleet, viewer) -> None:
        ann = on_sites("ann", A=Role.VIEWER)
        both = on_sites("bea", A=Role.VIEWER, B=Role.VIEWER)
        SiteRole.objects.create(user=viewer, site=fleet["A"], role="operator")
        client = as_user(on_sites("sam", A=Role.ADMIN))
        assert client.post("/users/", {"action": "deactivate", "user": ann.pk}).status_code == 200
        ann.refresh_from_db()
        assert not ann.is_active
        for other in (both, viewer):  # a role on another site, or a global one
            refused = client.post("/users/", {"action": "password", "user": other.pk})
            assert refused.status_code == 403
            assert "only a global admin may reset the password of" in refused.content.decode()
        global_role = client.post("/users/", {"action": "role", "user": ann.pk, "role": "viewer"})
        assert global_role.status_code == 403

    def test_a_global_admin_gives_and_takes_site_roles_and_global_ones(self, fleet, admin_user) -> None:
        ann = on_sites("ann", A=Role.VIEWER)
        client = as_user(admin_user)
        assert (
            client.post(
                "/users/", {"action": "site-role", "user": ann.pk, "site": fleet["B"].pk, "role": "operator"}
            ).status_code
            == 200
        )
        assert (
            client.post(
                "/users/", {"action": "site-role", "user": ann.pk, "site": fleet["A"].pk, "role": "none"}
            ).status_code
            == 200
        )
        assert dict(SiteRole.objects.filter(user=ann).values_list("site__name", "role")) == {"B": "operator"}
        assert client.post("/users/", {"action": "role", "user": ann.pk, "role": "viewer"}).status_code == 200
        assert client.post("/users/", {"action": "role", "user": ann.pk, "role": "none"}).status_code == 200
        bad = client.post("/users/", {"action": "site-role", "user": ann.pk, "site": "x", "role": "viewer"})
        assert (bad.status_code, "site must be the id of a site" in bad.content.decode()) == (422, True)
        bad_role = client.post(
            "/users/", {"action": "site-role", "user": ann.pk, "site": fleet["A"].pk, "role": "boss"}
        )
        assert bad_role.status_code == 422

    def test_the_site_users_api_gives_lists_and_takes_roles(self, fleet, viewer) -> None:
        sam = on_sites("sam", A=Role.ADMIN)
        client = as_user(sam)
        a = fleet["A"].pk
        given = send(client, "PUT", f"/api/v1/sites/{a}/users/{viewer.username}", {"role": "operator"})
        assert (given.status_code, given.json()["role"], given.json()["username"]) == (200, "operator", viewer.username)
        listed = client.get(f"/api/v1/sites/{a}/users").json()
        assert [(row["username"], row["role"]) for row in listed] == [("sam", "admin"), (viewer.username, "operator")]
        assert send(client, "DELETE", f"/api/v1/sites/{a}/users/{viewer.username}").status_code == 204
        assert not SiteRole.objects.filter(user=viewer).exists()

    @pytest.mark.parametrize(
        ("username", "body", "status", "detail"),
        [
            ("nobody", {"role": "viewer"}, 404, "username: no active user named 'nobody'"),
            ("sam", {"role": "viewer"}, 422, "role: you cannot change your own role"),
            ("ann", {"role": "boss"}, 422, None),
            ("ann", {}, 422, None),
        ],
    )
    def test_the_site_users_api_refuses_what_it_cannot_do(
        self, fleet, username: str, body: dict[str, str], status: int, detail: str | None
    ) -> None:
        on_sites("ann", A=Role.VIEWER)
        client = as_user(on_sites("sam", A=Role.ADMIN))
        response = send(client, "PUT", f"/api/v1/sites/{fleet['A'].pk}/users/{username}", body)
        assert response.status_code == status, response.content
        if detail:
            assert response.json()["detail"] == detail
        assert dict(SiteRole.objects.values_list("user__username", "role")) == {"ann": "viewer", "sam": "admin"}
        missing = send(client, "DELETE", f"/api/v1/sites/{fleet['A'].pk}/users/nobody")
        assert (missing.status_code, missing.json()["detail"]) == (404, "username: 'nobody' holds no role on site 'A'")


def test_the_django_admin_shows_a_users_site_roles_read_only(fleet) -> None:
    ann = on_sites("ann", A=Role.OPERATOR)
    root = make_user(Role.ADMIN, username="root", is_staff=True, is_superuser=True)
    page = as_user(root).get(f"/admin/auth/user/{ann.pk}/change/").content.decode()
    assert "Site roles" in page
    assert re.search(r'class="field-site">\s*<p>A</p>\s*</td>\s*<td class="field-role">\s*<p>operator</p>', page)
    assert 'name="site_roles-0-role"' not in page  # given and taken on /users/ only


def test_the_sites_page_links_the_devices_in_no_site_for_global_roles_only(fleet, viewer) -> None:
    assert "/?site=none" in as_user(viewer).get("/sites/").content.decode()
    assert "/?site=none" not in as_user(on_sites("sam", A=Role.ADMIN)).get("/sites/").content.decode()
