"""Sites, labels and assignment rules: the services and their refusals, the sites API, the device list's
site and label filters, the bulk change, and what devices show."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from core.errors import Conflict, FieldhubError, PermissionDenied
from core.models import Endpoint, EndpointLabel, Label, Site, SiteRule
from core.permissions import SYSTEM
from core.sites import selectors, services
from tests.factories import make_endpoint

pytestmark = pytest.mark.django_db


def as_user(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def send(client: Client, method: str, url: str, body: Any = None) -> Any:
    data = json.dumps(body) if body is not None else None
    return client.generic(method, url, data or "", content_type="application/json")


def labels_of(name: str) -> list[str]:
    return sorted(Endpoint.objects.get(name=name).labels.values_list("name", flat=True))


def everyone() -> Endpoint:
    return Endpoint.objects.all()


# --- services -----------------------------------------------------------------------------------------------


class TestSites:
    def test_an_admin_creates_renames_and_deletes_a_site(self, admin_user) -> None:
        site = services.site_create(actor=admin_user, name=" Plant A ", description="the old mill")
        assert (site.name, site.description) == ("Plant A", "the old mill")
        services.site_update(actor=admin_user, site=site, name="Plant B")
        services.site_update(actor=admin_user, site=site, description="new")
        assert Site.objects.values_list("name", "description").get() == ("Plant B", "new")
        services.site_delete(actor=admin_user, site=site)
        assert not Site.objects.exists()

    def test_it_refuses_a_name_taken_in_any_case(self, admin_user) -> None:
        services.site_create(actor=admin_user, name="Plant A")
        with pytest.raises(Conflict, match="a site named 'plant a' exists already"):
            services.site_create(actor=admin_user, name="plant a")
        assert Site.objects.count() == 1

    def test_a_rename_to_a_taken_name_is_refused_and_changes_nothing(self, admin_user) -> None:
        services.site_create(actor=admin_user, name="A")
        b = services.site_create(actor=admin_user, name="B")
        with pytest.raises(Conflict):
            services.site_update(actor=admin_user, site=b, name="a", description="changed")
        assert Site.objects.get(pk=b.pk).description == ""
        services.site_update(actor=admin_user, site=b, name="b")  # its own name, in another case
        assert Site.objects.get(pk=b.pk).name == "b"

    @pytest.mark.parametrize("name", ["", "   ", "x" * 101])
    def test_it_refuses_an_empty_or_long_name(self, admin_user, name: str) -> None:
        with pytest.raises(FieldhubError) as caught:
            services.site_create(actor=admin_user, name=name)
        assert caught.value.path == "name"
        assert not Site.objects.exists()

    def test_a_site_with_devices_is_not_deleted(self, admin_user) -> None:
        site = services.site_create(actor=admin_user, name="A")
        make_endpoint(site=site)
        make_endpoint(site=site)
        with pytest.raises(Conflict, match="site 'A' still has 2 device"):
            services.site_delete(actor=admin_user, site=site)
        assert Site.objects.filter(pk=site.pk).exists()

    def test_deleting_a_site_deletes_its_rules(self, admin_user) -> None:
        site = services.site_create(actor=admin_user, name="A")
        services.site_rule_create(actor=admin_user, site=site, kind="prefix", text="urn:")
        services.site_delete(actor=admin_user, site=site)
        assert not SiteRule.objects.exists()

    @pytest.mark.parametrize("persona", ["viewer", "operator", "outsider"])
    def test_only_admins_manage_sites_and_rules(self, request, admin_user, persona: str) -> None:
        user = request.getfixturevalue(persona)
        site = services.site_create(actor=admin_user, name="A")
        rule = services.site_rule_create(actor=admin_user, site=site, kind="prefix", text="urn:")
        for attempt in (
            lambda: services.site_create(actor=user, name="B"),
            lambda: services.site_update(actor=user, site=site, name="C"),
            lambda: services.site_delete(actor=user, site=site),
            lambda: services.site_rule_create(actor=user, site=site, kind="prefix", text="x"),
            lambda: services.site_rule_delete(actor=user, rule=rule),
        ):
            with pytest.raises(PermissionDenied, match="this needs the admin role"):
                attempt()
        assert list(Site.objects.values_list("name", flat=True)) == ["A"]
        assert SiteRule.objects.count() == 1


class TestRules:
    @pytest.mark.parametrize(
        ("kind", "text", "path"),
        [("regex", "urn:.*", "kind"), ("prefix", "", "text"), ("pattern", "x" * 256, "text")],
    )
    def test_it_refuses_a_bad_rule(self, admin_user, kind: str, text: str, path: str) -> None:
        site = services.site_create(actor=admin_user, name="A")
        with pytest.raises(FieldhubError) as caught:
            services.site_rule_create(actor=admin_user, site=site, kind=kind, text=text)
        assert caught.value.path == path
        assert not SiteRule.objects.exists()

    def test_a_position_outside_32_bits_is_refused(self, admin_user) -> None:
        site = services.site_create(actor=admin_user, name="A")
        with pytest.raises(FieldhubError, match="position"):
            services.site_rule_create(actor=admin_user, site=site, kind="prefix", text="a", position=2**31)

    @pytest.mark.parametrize(
        ("kind", "text", "name", "matches"),
        [
            ("prefix", "urn:imei:35", "urn:imei:350000000000001", True),
            ("prefix", "urn:imei:35", "URN:IMEI:350000000000001", False),
            ("pattern", "urn:imei:35??0*", "urn:imei:350000000000001", True),
            ("pattern", "urn:imei:35??0*", "urn:imei:35001", False),
            ("pattern", "sensor-[ab]-*", "sensor-b-7", True),
            ("pattern", "sensor-[!ab]-*", "sensor-b-7", False),
            ("pattern", "(a+)+$", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!", False),  # text, not a regex
        ],
    )
    def test_prefixes_and_shell_patterns_match_case_sensitively(
        self, kind: str, text: str, name: str, matches: bool
    ) -> None:
        assert services.rule_matches(SiteRule(kind=kind, text=text), name) is matches


class TestLabels:
    @pytest.mark.parametrize("label", ["", "-beta", ".x", "a b", "ü", "x" * 65, "a/b"])
    def test_it_refuses_a_bad_label_and_changes_nothing(self, operator, label: str) -> None:
        make_endpoint(name="d1")
        with pytest.raises(FieldhubError, match="is not 1-64 of a-z") as caught:
            services.endpoints_labels_set(actor=operator, endpoints=everyone(), labels=["good", label])
        assert caught.value.path == "labels"
        assert not Label.objects.exists()
        assert labels_of("d1") == []

    def test_labels_are_lower_cased_and_created_on_first_use(self, operator) -> None:
        make_endpoint(name="d1")
        changed = services.endpoints_labels_set(actor=operator, endpoints=everyone(), labels=["Beta", "hw-rev.B_2"])
        assert changed == services.Changed(matched=1, changed=1)
        assert labels_of("d1") == ["beta", "hw-rev.b_2"]

    def test_set_replaces_add_and_remove_change(self, operator) -> None:
        make_endpoint(name="d1")
        make_endpoint(name="d2")
        services.endpoints_labels_set(actor=operator, endpoints=everyone(), labels=["a", "b"])
        one = Endpoint.objects.filter(name="d1")
        assert services.endpoints_labels_set(actor=operator, endpoints=one, labels=["b", "c"]).changed == 1
        assert (labels_of("d1"), labels_of("d2")) == (["b", "c"], ["a", "b"])
        assert services.endpoints_labels_add(actor=operator, endpoints=everyone(), labels=["c"]).changed == 1
        assert services.endpoints_labels_remove(actor=operator, endpoints=everyone(), labels=["b"]).changed == 2
        assert (labels_of("d1"), labels_of("d2")) == (["c"], ["a", "c"])
        assert services.endpoints_labels_add(actor=operator, endpoints=everyone(), labels=["c"]).changed == 0
        assert services.endpoints_labels_set(actor=operator, endpoints=everyone(), labels=[]).changed == 2
        assert not EndpointLabel.objects.exists()

    def test_adding_and_removing_one_label_at_once_is_refused(self, operator) -> None:
        make_endpoint(name="d1")
        with pytest.raises(FieldhubError, match="added and removed at once"):
            services.endpoints_change(actor=operator, endpoints=everyone(), add=["a"], remove=["A"])
        with pytest.raises(FieldhubError, match="not both"):
            services.endpoints_change(actor=operator, endpoints=everyone(), labels=["a"], add=["b"])
        assert not Label.objects.exists()

    def test_viewers_change_no_devices(self, viewer, admin_user) -> None:
        site = services.site_create(actor=admin_user, name="A")
        make_endpoint(name="d1")
        with pytest.raises(PermissionDenied, match="operator"):
            services.endpoints_change(actor=viewer, endpoints=everyone(), site=site, labels=["a"])
        assert Endpoint.objects.get(name="d1").site is None
        assert not Label.objects.exists()


class TestDeviceSites:
    def test_an_operator_puts_devices_in_a_site_and_takes_them_out(self, operator, admin_user) -> None:
        site = services.site_create(actor=admin_user, name="A")
        make_endpoint(name="d1")
        make_endpoint(name="d2", site=site)
        assert services.endpoints_site_set(actor=operator, endpoints=everyone(), site=site) == services.Changed(2, 1)
        one = Endpoint.objects.filter(name="d1")
        assert services.endpoints_site_set(actor=operator, endpoints=one, site=None) == services.Changed(1, 1)
        assert dict(Endpoint.objects.values_list("name", "site")) == {"d1": None, "d2": site.pk}

    def test_a_site_list_counts_its_devices_in_one_query(self, viewer, admin_user, django_assert_num_queries) -> None:
        a = services.site_create(actor=admin_user, name="A")
        services.site_create(actor=admin_user, name="B")
        for _ in range(3):
            make_endpoint(site=a)
        selectors.site_list(user=viewer)  # the viewer's role looked up
        with django_assert_num_queries(1):
            counts = [(site.name, site.devices) for site in selectors.site_list(user=viewer)]
        assert counts == [("A", 3), ("B", 0)]

    def test_a_site_filter_is_an_id_or_none(self, viewer, admin_user) -> None:
        site = services.site_create(actor=admin_user, name="A")
        assert selectors.site_for_filter(user=viewer, value=str(site.pk)) == site
        assert selectors.site_for_filter(user=viewer, value="None") is None
        for value in ("x", "-1", "0", "99999", "1.5", "\u0661"):
            with pytest.raises(FieldhubError) as caught:
                selectors.site_for_filter(user=viewer, value=value)
            assert caught.value.path == "site"


# --- the API ------------------------------------------------------------------------------------------------


class TestSitesApi:
    def test_an_admin_manages_sites_and_rules(self, admin_user) -> None:
        client = as_user(admin_user)
        created = send(client, "POST", "/api/v1/sites", {"name": "Plant A", "description": "mill"})
        assert created.status_code == 201
        site = created.json()
        assert {k: site[k] for k in ("name", "description", "devices")} == {
            "name": "Plant A",
            "description": "mill",
            "devices": 0,
        }
        url = f"/api/v1/sites/{site['id']}"
        make_endpoint(site_id=site["id"])
        assert send(client, "PATCH", url, {"name": "Plant B"}).json()["name"] == "Plant B"
        assert client.get(url).json()["devices"] == 1
        listed = client.get("/api/v1/sites").json()
        assert (listed["count"], listed["items"][0]["name"], listed["items"][0]["devices"]) == (1, "Plant B", 1)

        rule = send(client, "POST", f"{url}/rules", {"kind": "pattern", "text": "urn:imei:35*", "position": 2})
        assert rule.status_code == 201
        assert {k: rule.json()[k] for k in ("site", "kind", "text", "position")} == {
            "site": site["id"],
            "kind": "pattern",
            "text": "urn:imei:35*",
            "position": 2,
        }
        assert [r["text"] for r in client.get(f"{url}/rules").json()] == ["urn:imei:35*"]
        assert send(client, "DELETE", f"{url}/rules/{rule.json()['id']}").status_code == 204
        assert send(client, "DELETE", f"{url}/rules/{rule.json()['id']}").status_code == 404
        assert not SiteRule.objects.exists()

    def test_a_site_with_devices_is_a_409_naming_the_count(self, admin_user) -> None:
        site = Site.objects.create(name="A")
        make_endpoint(site=site)
        response = send(as_user(admin_user), "DELETE", f"/api/v1/sites/{site.pk}")
        assert response.status_code == 409
        assert response.json()["detail"] == "site: site 'A' still has 1 device(s): move or unassign them first"
        assert Site.objects.exists()

    def test_refusals_name_the_problem_and_store_nothing(self, admin_user) -> None:
        client = as_user(admin_user)
        Site.objects.create(name="A")
        dup = send(client, "POST", "/api/v1/sites", {"name": "a"})
        assert (dup.status_code, dup.json()["detail"]) == (409, "name: a site named 'a' exists already")
        assert send(client, "POST", "/api/v1/sites", {"name": ""}).status_code == 422
        site = Site.objects.get()
        bad_kind = send(client, "POST", f"/api/v1/sites/{site.pk}/rules", {"kind": "regex", "text": ".*"})
        assert bad_kind.status_code == 422
        assert "kind" in bad_kind.json()["detail"]
        assert send(client, "GET", "/api/v1/sites/999999").status_code == 404
        assert send(client, "POST", "/api/v1/sites/999999/rules", {"kind": "prefix", "text": "a"}).status_code == 404
        assert Site.objects.count() == 1
        assert not SiteRule.objects.exists()

    def test_viewers_read_and_operators_do_not_manage(self, viewer, operator) -> None:
        site = Site.objects.create(name="A")
        assert as_user(viewer).get("/api/v1/sites").status_code == 200
        assert as_user(viewer).get(f"/api/v1/sites/{site.pk}/rules").status_code == 200
        refused = send(as_user(operator), "POST", "/api/v1/sites", {"name": "B"})
        assert (refused.status_code, refused.json()["detail"]) == (403, "this needs the admin role")
        assert send(as_user(operator), "DELETE", f"/api/v1/sites/{site.pk}").status_code == 403
        assert list(Site.objects.values_list("name", flat=True)) == ["A"]


@pytest.fixture
def tagged() -> dict[str, Site]:
    """d1 in A with labels a and b; d2 in A with a; d3 in B; d4 in no site, with b."""
    a, b = Site.objects.create(name="A"), Site.objects.create(name="B")
    d1, d2, _d3, d4 = (
        make_endpoint(name="d1", site=a),
        make_endpoint(name="d2", site=a),
        make_endpoint(name="d3", site=b),
        make_endpoint(name="d4"),
    )
    services.endpoints_labels_set(actor=SYSTEM, endpoints=Endpoint.objects.filter(pk=d1.pk), labels=["a", "b"])
    services.endpoints_labels_add(actor=SYSTEM, endpoints=Endpoint.objects.filter(pk=d2.pk), labels=["a"])
    services.endpoints_labels_add(actor=SYSTEM, endpoints=Endpoint.objects.filter(pk=d4.pk), labels=["b"])
    return {"A": a, "B": b}


def names(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return sorted(item["name"] for item in response.json()["items"])


class TestDeviceListFilters:
    def test_devices_show_their_site_and_labels(self, viewer, tagged) -> None:
        client = as_user(viewer)
        items = {item["name"]: item for item in client.get("/api/v1/endpoints?sort=name").json()["items"]}
        assert items["d1"]["site"] == {"id": tagged["A"].pk, "name": "A"}
        assert items["d1"]["labels"] == ["a", "b"]
        assert (items["d4"]["site"], items["d4"]["labels"]) == (None, ["b"])
        detail = client.get("/api/v1/endpoints/d1").json()
        assert (detail["site"]["name"], detail["labels"]) == ("A", ["a", "b"])

    def test_it_filters_by_site_and_by_every_label(self, viewer, tagged) -> None:
        client = as_user(viewer)
        assert names(client.get(f"/api/v1/endpoints?site={tagged['A'].pk}")) == ["d1", "d2"]
        assert names(client.get("/api/v1/endpoints?site=none")) == ["d4"]
        assert names(client.get("/api/v1/endpoints?label=b")) == ["d1", "d4"]
        assert names(client.get("/api/v1/endpoints?label=a,B")) == ["d1"]
        assert names(client.get("/api/v1/endpoints?label=a&label=b")) == ["d1"]
        assert names(client.get(f"/api/v1/endpoints?label=a&site={tagged['A'].pk}&name=2")) == ["d2"]

    @pytest.mark.parametrize(
        ("query", "detail"),
        [
            ("site=999999", "site: no site with id 999999"),
            ("site=plant", "site: site must be a site id or 'none'"),
            ("label=a,nope,zz", "label: unknown label(s): nope, zz"),
        ],
    )
    def test_unknown_sites_and_labels_are_422_naming_the_parameter(self, viewer, tagged, query, detail) -> None:
        response = as_user(viewer).get(f"/api/v1/endpoints?{query}")
        assert response.status_code == 422
        assert response.json()["detail"] == detail


class TestBulk:
    def test_by_names_it_sets_the_site_and_adds_labels(self, operator, tagged) -> None:
        body = {"endpoints": ["d3", "d4"], "site": tagged["A"].pk, "add_labels": ["New"]}
        response = send(as_user(operator), "POST", "/api/v1/endpoints/bulk", body)
        assert (response.status_code, response.json()) == (200, {"matched": 2, "changed": 2})
        assert Endpoint.objects.filter(site=tagged["A"]).count() == 4
        assert (labels_of("d3"), labels_of("d4")) == (["new"], ["b", "new"])

    def test_by_filter_it_unassigns_and_replaces_labels(self, operator, tagged) -> None:
        body = {"filter": {"site": tagged["A"].pk, "label": "a"}, "site": None, "labels": ["x"]}
        response = send(as_user(operator), "POST", "/api/v1/endpoints/bulk", body)
        assert response.json() == {"matched": 2, "changed": 2}
        assert dict(Endpoint.objects.filter(name__in=["d1", "d2"]).values_list("name", "site")) == {
            "d1": None,
            "d2": None,
        }
        assert (labels_of("d1"), labels_of("d2"), labels_of("d4")) == (["x"], ["x"], ["b"])

    def test_a_change_that_changes_nothing_says_so(self, operator, tagged) -> None:
        body = {"endpoints": ["d1"], "site": tagged["A"].pk, "add_labels": ["a"]}
        assert send(as_user(operator), "POST", "/api/v1/endpoints/bulk", body).json() == {"matched": 1, "changed": 0}

    def test_unknown_names_are_a_422_listing_them_and_nothing_changes(self, operator, tagged) -> None:
        body = {"endpoints": ["d1", *[f"ghost-{i:02}" for i in range(25)]], "labels": ["x"]}
        response = send(as_user(operator), "POST", "/api/v1/endpoints/bulk", body)
        assert response.status_code == 422
        detail = response.json()["detail"]
        assert detail.startswith("endpoints: 25 unknown endpoint name(s): 'ghost-00', 'ghost-01'")
        assert detail.endswith("'ghost-19' and 5 more")
        assert labels_of("d1") == ["a", "b"]
        assert not Label.objects.filter(name="x").exists()

    @pytest.mark.parametrize(
        ("body", "detail"),
        [
            ({"endpoints": ["d1"]}, "say what to change"),
            ({"labels": ["x"]}, "give endpoints (names) or filter"),
            ({"endpoints": ["d1"], "filter": {}, "labels": ["x"]}, "give endpoints (names) or filter"),
            ({"endpoints": ["d1"], "site": 999999}, "site: no site with id 999999"),
            ({"endpoints": ["d1"], "labels": ["Bad Label"]}, "labels: label 'Bad Label' is not"),
            ({"filter": {"label": "nope"}, "labels": ["x"]}, "label: unknown label(s): nope"),
            ({"filter": {"status": "asleep"}, "labels": ["x"]}, "status: status must be one of"),
            ({"endpoints": [f"d{i}" for i in range(10_001)], "labels": ["x"]}, "10000"),
        ],
    )
    def test_bad_bodies_are_422_and_change_nothing(self, operator, tagged, body: dict[str, Any], detail: str) -> None:
        response = send(as_user(operator), "POST", "/api/v1/endpoints/bulk", body)
        assert response.status_code == 422
        assert detail in response.json()["detail"]
        assert not Label.objects.filter(name="x").exists()
        assert Endpoint.objects.filter(site__isnull=True).count() == 1

    def test_viewers_are_refused(self, viewer, tagged) -> None:
        response = send(as_user(viewer), "POST", "/api/v1/endpoints/bulk", {"endpoints": ["d4"], "labels": ["x"]})
        assert (response.status_code, response.json()["detail"]) == (403, "this needs the operator role")
        assert labels_of("d4") == ["b"]

    def test_a_device_named_bulk_is_read_at_its_own_path(self, viewer) -> None:
        make_endpoint(name="bulk")
        response = as_user(viewer).get("/api/v1/endpoints/bulk")
        assert (response.status_code, response.json()["name"]) == (200, "bulk")

    def test_no_device_named_bulk_is_a_404(self, viewer) -> None:
        response = as_user(viewer).get("/api/v1/endpoints/bulk")
        assert response.status_code == 404
        assert "bulk" in response.json()["detail"]
