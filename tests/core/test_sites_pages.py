"""The sites and labels pages: /sites/ and /sites/<id>/ (sites, their rules and the rules' preview), the
device page's site and labels form, the dashboard's site and label filters and its bulk change; each as an
admin, an operator, a viewer (and a site's own admin or operator), and each refusal: its status, its
message where the form is, and nothing stored."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from core.models import Endpoint, EndpointLabel, Label, Site, SiteRole, SiteRule
from core.permissions import SYSTEM
from core.roles import Role
from core.sites import services
from telemetry import announce
from tests.factories import make_endpoint, make_user
from tests.html import element

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def as_user(user: Any, **kwargs: Any) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def text(response: Any) -> str:
    return response.content.decode()


def labels_of(name: str) -> list[str]:
    return sorted(Endpoint.objects.get(name=name).labels.values_list("name", flat=True))


def site_of(name: str) -> str | None:
    site = Endpoint.objects.select_related("site").get(name=name).site
    return site.name if site else None


@pytest.fixture
def north() -> Site:
    return services.site_create(actor=SYSTEM, name="North", description="plant 1")


@pytest.fixture
def south() -> Site:
    return services.site_create(actor=SYSTEM, name="South")


@pytest.fixture
def fleet(north: Site) -> list[Endpoint]:
    """dev-a and dev-b in North (dev-a labelled beta), dev-c in no site."""
    devices = [make_endpoint(name=name) for name in ("dev-a", "dev-b", "dev-c")]
    services.endpoints_change(actor=SYSTEM, endpoints=Endpoint.objects.filter(name__in=["dev-a", "dev-b"]), site=north)
    services.endpoints_change(actor=SYSTEM, endpoints=Endpoint.objects.filter(name="dev-a"), add=["beta"])
    return devices


def site_role(site: Site, role: Role, username: str, global_role: Role | None = None) -> Any:
    user = make_user(global_role, username=username)
    SiteRole.objects.create(user=user, site=site, role=role.value)
    return user


# --- /sites/ ---------------------------------------------------------------------------------------------------


class TestSiteList:
    def test_every_role_sees_the_sites_with_their_device_counts(self, viewer, operator, admin_user, fleet) -> None:
        for user in (viewer, operator, admin_user):
            body = text(as_user(user).get("/sites/"))
            row = element(body, f"site-{Site.objects.get(name='North').pk}")
            assert "North" in row
            assert "plant 1" in row
            assert '<a href="/?site=' in row
            assert ">2</a>" in row
            assert 'href="/sites/"' in body
            assert 'aria-current="page">Sites' in body

    def test_only_global_admins_get_the_create_form(self, viewer, operator, admin_user, north) -> None:
        assert 'action="/sites/"' in text(as_user(admin_user).get("/sites/"))
        for user in (viewer, operator, site_role(north, Role.ADMIN, "sam-site-admin")):
            body = text(as_user(user).get("/sites/"))
            assert 'action="/sites/"' not in body
            assert "Create site" not in body

    def test_an_admin_creates_a_site_and_lands_on_its_page(self, admin_user) -> None:
        response = as_user(admin_user).post("/sites/", {"name": " East ", "description": "the new wing"})
        site = Site.objects.get()
        assert (response.status_code, response["Location"]) == (302, f"/sites/{site.pk}/")
        assert (site.name, site.description) == ("East", "the new wing")

    @pytest.mark.parametrize(
        ("form", "status", "message"),
        [
            ({"name": "north"}, 409, "a site named &#x27;north&#x27; exists already"),
            ({"name": "   "}, 422, "a site needs a name"),
            ({"name": "x" * 101}, 422, "a site name is at most 100 characters"),
            ({"name": "West", "description": "d" * 2001}, 422, "a description is at most 2000 characters"),
        ],
    )
    def test_a_refused_site_is_the_form_again_with_the_reason(
        self, admin_user, north, form: dict[str, str], status: int, message: str
    ) -> None:
        response = as_user(admin_user).post("/sites/", form)
        assert response.status_code == status
        assert message in text(response)
        assert f'value="{form["name"]}"' in text(response)  # what was typed stays
        assert list(Site.objects.values_list("name", flat=True)) == ["North"]

    def test_operators_and_viewers_cannot_create_one(self, viewer, operator, outsider) -> None:
        for user in (viewer, operator, outsider):
            response = as_user(user).post("/sites/", {"name": "Mine"})
            assert response.status_code == 403
            assert "Not allowed" in text(response)
        assert not Site.objects.exists()

    def test_a_site_admin_sees_only_their_own_sites(self, north, south) -> None:
        body = text(as_user(site_role(north, Role.ADMIN, "sam-site-admin")).get("/sites/"))
        assert "North" in body
        assert "South" not in body

    def test_anonymous_visitors_are_sent_to_log_in(self, client) -> None:
        assert client.get("/sites/")["Location"].startswith("/accounts/login/")

    def test_a_post_without_its_csrf_token_is_refused(self, admin_user) -> None:
        response = as_user(admin_user, enforce_csrf_checks=True).post("/sites/", {"name": "Forged"})
        assert response.status_code == 403
        assert not Site.objects.exists()


# --- /sites/<id>/ ------------------------------------------------------------------------------------------------


class TestSitePage:
    def test_viewers_and_operators_read_the_rules_without_any_form(self, viewer, operator, north, fleet) -> None:
        services.site_rule_create(actor=SYSTEM, site=north, kind="prefix", text="dev-", position=5)
        services.site_rule_create(actor=SYSTEM, site=north, kind="pattern", text="*-[ab]", position=1)
        for user in (viewer, operator):
            body = text(as_user(user).get(f"/sites/{north.pk}/"))
            rules = body.split('<table class="rules"')[1].split("</table>")[0]
            assert rules.index("*-[ab]") < rules.index("dev-")  # in the order they are tried
            assert '<td class="count">3</td>' in rules
            assert '<td class="count">2</td>' in rules
            assert f'href="/?site={north.pk}"' in body
            assert 'method="post"' not in body.replace('action="/accounts/logout/"', "").split("<main")[1]

    def test_a_global_admin_gets_every_form(self, admin_user, north) -> None:
        rule = services.site_rule_create(actor=SYSTEM, site=north, kind="prefix", text="dev-")
        body = text(as_user(admin_user).get(f"/sites/{north.pk}/"))
        for action in ("rules/", f"rules/{rule.pk}/delete/", "delete/", ""):
            assert f'action="/sites/{north.pk}/{action}"' in body

    def test_a_site_admin_manages_its_rules_but_not_the_site(self, north) -> None:
        body = text(as_user(site_role(north, Role.ADMIN, "sam-site-admin")).get(f"/sites/{north.pk}/"))
        assert f'action="/sites/{north.pk}/rules/"' in body
        assert f'action="/sites/{north.pk}/delete/"' not in body
        assert f'action="/sites/{north.pk}/"' not in body

    def test_another_sites_admin_does_not_find_it(self, north, south) -> None:
        client = as_user(site_role(south, Role.ADMIN, "sue-south-admin"))
        response = client.get(f"/sites/{north.pk}/")
        assert response.status_code == 404
        assert f"no site with id {north.pk}" in text(response)
        assert client.post(f"/sites/{north.pk}/rules/", {"kind": "prefix", "text": "x"}).status_code == 404
        assert not SiteRule.objects.exists()

    @pytest.mark.parametrize("url", ["/sites/999/", "/sites/99999999999999999999999/", "/sites/x/"])
    def test_a_site_that_does_not_exist_is_the_404_page(self, viewer, url: str) -> None:
        response = as_user(viewer).get(url)
        assert response.status_code == 404
        assert "Not found" in text(response)

    def test_an_admin_renames_and_describes_it(self, admin_user, north) -> None:
        response = as_user(admin_user).post(f"/sites/{north.pk}/", {"name": "Nord", "description": "renamed"})
        assert (response.status_code, response["Location"]) == (302, f"/sites/{north.pk}/")
        assert Site.objects.values_list("name", "description").get() == ("Nord", "renamed")

    def test_a_rename_to_a_taken_name_is_409_beside_the_form(self, admin_user, north, south) -> None:
        response = as_user(admin_user).post(f"/sites/{north.pk}/", {"name": "SOUTH", "description": ""})
        assert response.status_code == 409
        body = text(response)
        assert "Not saved: name: a site named &#x27;SOUTH&#x27; exists already" in body
        assert "<h1>North</h1>" in body
        assert 'value="SOUTH"' in body
        assert set(Site.objects.values_list("name", flat=True)) == {"North", "South"}

    def test_operators_and_site_admins_cannot_rename_or_delete_it(self, operator, north) -> None:
        for user in (operator, site_role(north, Role.ADMIN, "sam-site-admin")):
            client = as_user(user)
            assert client.post(f"/sites/{north.pk}/", {"name": "Mine"}).status_code == 403
            assert client.post(f"/sites/{north.pk}/delete/").status_code == 403
        assert Site.objects.get().name == "North"

    def test_an_admin_deletes_an_empty_site(self, admin_user, north) -> None:
        services.site_rule_create(actor=SYSTEM, site=north, kind="prefix", text="dev-")
        response = as_user(admin_user).post(f"/sites/{north.pk}/delete/")
        assert (response.status_code, response["Location"]) == (302, "/sites/")
        assert not Site.objects.exists()
        assert not SiteRule.objects.exists()

    def test_a_site_with_devices_is_not_deleted_and_says_why(self, admin_user, north, fleet) -> None:
        response = as_user(admin_user).post(f"/sites/{north.pk}/delete/")
        assert response.status_code == 409
        assert "Not deleted: site: site &#x27;North&#x27; still has 2 device(s): move or unassign them first" in text(
            response
        )
        assert Site.objects.filter(pk=north.pk).exists()

    def test_deleting_is_a_post(self, admin_user, north) -> None:
        assert as_user(admin_user).get(f"/sites/{north.pk}/delete/").status_code == 405
        assert Site.objects.exists()


class TestRules:
    def test_an_admin_adds_rules_in_position(self, admin_user, north) -> None:
        client = as_user(admin_user)
        response = client.post(f"/sites/{north.pk}/rules/", {"kind": "pattern", "text": "*-lab-??", "position": "-3"})
        assert (response.status_code, response["Location"]) == (302, f"/sites/{north.pk}/")
        client.post(f"/sites/{north.pk}/rules/", {"kind": "prefix", "text": "urn:imei:35", "position": ""})
        assert list(SiteRule.objects.values_list("kind", "text", "position")) == [
            ("pattern", "*-lab-??", -3),
            ("prefix", "urn:imei:35", 0),
        ]

    def test_a_site_admin_adds_and_deletes_its_rules(self, north) -> None:
        client = as_user(site_role(north, Role.ADMIN, "sam-site-admin"))
        assert client.post(f"/sites/{north.pk}/rules/", {"kind": "prefix", "text": "n-"}).status_code == 302
        rule = SiteRule.objects.get()
        assert client.post(f"/sites/{north.pk}/rules/{rule.pk}/delete/").status_code == 302
        assert not SiteRule.objects.exists()

    @pytest.mark.parametrize(
        ("form", "message"),
        [
            ({"kind": "regex", "text": "dev-.*"}, "kind: kind must be one of prefix, pattern"),
            ({"kind": "prefix", "text": ""}, "text: the text is 1 to 255 characters"),
            ({"kind": "prefix", "text": "x" * 256}, "text: the text is 1 to 255 characters"),
            ({"kind": "prefix", "text": "dev-", "position": "first"}, "position: position must be a whole number"),
            ({"kind": "prefix", "text": "dev-", "position": "1.5"}, "position: position must be a whole number"),
            ({"kind": "prefix", "text": "dev-", "position": "3000000000"}, "position: position must be a 32-bit"),
        ],
    )
    def test_a_bad_rule_is_422_beside_the_form_and_stores_nothing(
        self, admin_user, north, form: dict[str, str], message: str
    ) -> None:
        response = as_user(admin_user).post(f"/sites/{north.pk}/rules/", form)
        assert response.status_code == 422
        assert f"Not added: {message}" in text(response)
        assert not SiteRule.objects.exists()

    def test_operators_and_viewers_cannot_touch_rules(self, viewer, operator, north) -> None:
        rule = services.site_rule_create(actor=SYSTEM, site=north, kind="prefix", text="dev-")
        for user in (viewer, operator, site_role(north, Role.OPERATOR, "olga-site-operator")):
            client = as_user(user)
            assert client.post(f"/sites/{north.pk}/rules/", {"kind": "prefix", "text": "x"}).status_code == 403
            assert client.post(f"/sites/{north.pk}/rules/{rule.pk}/delete/").status_code == 403
        assert list(SiteRule.objects.values_list("text", flat=True)) == ["dev-"]

    def test_a_rule_of_another_site_is_not_found(self, admin_user, north, south) -> None:
        rule = services.site_rule_create(actor=SYSTEM, site=south, kind="prefix", text="s-")
        response = as_user(admin_user).post(f"/sites/{north.pk}/rules/{rule.pk}/delete/")
        assert response.status_code == 404
        assert f"site {north.pk} has no rule with id {rule.pk}" in text(response)
        assert SiteRule.objects.exists()

    @pytest.mark.parametrize(
        ("query", "hint"),
        [
            ("kind=prefix&text=dev-", "Preview: 3 existing devices would match."),
            ("kind=pattern&text=*-[ab]", "Preview: 2 existing devices would match."),
            ("kind=pattern&text=dev-c", "Preview: 1 existing device would match."),
            ("kind=prefix&text=zzz", "Preview: 0 existing devices would match."),
        ],
    )
    def test_the_preview_counts_the_devices_a_rule_matches_now(self, admin_user, north, fleet, query, hint) -> None:
        response = as_user(admin_user).get(f"/sites/{north.pk}/rules/preview/?{query}", **HTMX)
        assert response.status_code == 200
        assert hint in text(response)

    @pytest.mark.parametrize("query", ["kind=regex&text=dev-", "kind=prefix&text=", ""])
    def test_the_preview_says_nothing_for_an_unfinished_rule(self, admin_user, north, fleet, query) -> None:
        response = as_user(admin_user).get(f"/sites/{north.pk}/rules/preview/?{query}")
        assert response.status_code == 200
        assert "Preview" not in text(response)

    def test_the_preview_counts_only_what_the_user_sees(self, north, south, fleet) -> None:
        # dev-a and dev-b are in North: South's admin sees no device at all
        response = as_user(site_role(south, Role.ADMIN, "sue")).get(
            f"/sites/{south.pk}/rules/preview/?kind=prefix&text=dev"
        )
        assert "Preview: 0 existing devices would match." in text(response)

    def test_a_large_fleet_gets_no_preview(self, admin_user, north, fleet, monkeypatch) -> None:
        from core.sites import selectors

        monkeypatch.setattr(selectors, "PREVIEW_MAX_DEVICES", 2)
        body = text(as_user(admin_user).get(f"/sites/{north.pk}/rules/preview/?kind=prefix&text=dev"))
        assert "the fleet is too large to count here" in body


# --- the device page ---------------------------------------------------------------------------------------------


class TestDevicePage:
    def test_operators_get_the_form_and_viewers_read_the_header(self, viewer, operator, fleet) -> None:
        for user in (viewer, operator):
            header = element(text(as_user(user).get("/endpoints/dev-a/")), "endpoint-status")
            assert "North" in header
            assert '<span class="label">beta</span>' in header
        body = text(as_user(operator).get("/endpoints/dev-a/"))
        form = element(body, "endpoint-tags")
        assert '<option value="none">none</option>' in form  # a global operator may take it out of its site
        assert "selected>North</option>" in form
        assert 'aria-label="Remove label beta"' in form
        viewed = text(as_user(viewer).get("/endpoints/dev-a/"))
        assert 'id="endpoint-tags"' not in viewed
        assert "/endpoints/dev-a/tags/" not in viewed

    def test_an_operator_adds_a_label_in_place(self, operator, fleet) -> None:
        response = as_user(operator).post("/endpoints/dev-b/tags/", {"action": "add", "label": " Beta "}, **HTMX)
        assert response.status_code == 200
        body = text(response)
        assert "Label beta added." in body
        assert 'aria-label="Remove label beta"' in element(body, "endpoint-tags")
        assert 'hx-swap-oob="true"' in element(body, "endpoint-status")  # the header, for this user at once
        assert labels_of("dev-b") == ["beta"]

    def test_an_operator_removes_a_label_and_moves_the_device(self, operator, fleet, south) -> None:
        client = as_user(operator)
        assert client.post("/endpoints/dev-a/tags/", {"action": "remove", "label": "beta"}, **HTMX).status_code == 200
        assert labels_of("dev-a") == []
        response = client.post("/endpoints/dev-a/tags/", {"action": "site", "site": str(south.pk)}, **HTMX)
        assert "Moved to site South." in text(response)
        assert site_of("dev-a") == "South"
        assert "Now in no site." in text(
            client.post("/endpoints/dev-a/tags/", {"action": "site", "site": "none"}, **HTMX)
        )
        assert site_of("dev-a") is None

    @pytest.mark.parametrize(
        ("form", "message"),
        [
            ({"action": "add", "label": "Bad Label!"}, "label &#x27;Bad Label!&#x27; is not 1-64 of a-z"),
            ({"action": "add", "label": ""}, "label &#x27;&#x27; is not 1-64 of a-z"),
            ({"action": "site", "site": "999"}, "no site with id 999"),
            ({"action": "site", "site": ""}, "site must be a site id or &#x27;none&#x27;"),
            ({"action": "rename"}, "unknown action: one of site, add, remove"),
        ],
    )
    def test_a_refused_change_is_422_in_the_form_and_changes_nothing(
        self, operator, fleet, form: dict[str, str], message: str
    ) -> None:
        response = as_user(operator).post("/endpoints/dev-a/tags/", form, **HTMX)
        assert response.status_code == 422
        assert f"Not changed: {message}" in element(text(response), "tags-answer")
        assert (labels_of("dev-a"), site_of("dev-a")) == (["beta"], "North")
        assert list(Label.objects.values_list("name", flat=True)) == ["beta"]

    def test_without_javascript_it_posts_and_comes_back(self, operator, fleet) -> None:
        client = as_user(operator)
        response = client.post("/endpoints/dev-c/tags/", {"action": "add", "label": "lab"})
        assert (response.status_code, response["Location"]) == (302, "/endpoints/dev-c/")
        assert "Label lab added." in text(client.get("/endpoints/dev-c/"))
        refused = client.post("/endpoints/dev-c/tags/", {"action": "add", "label": "no way"})
        assert refused.status_code == 422
        assert "<h1>dev-c</h1>" in text(refused)  # the device page, with the reason where the form is
        assert "Not changed: label &#x27;no way&#x27;" in element(text(refused), "tags-answer")
        assert 'value="no way"' in element(text(refused), "endpoint-tags")
        assert labels_of("dev-c") == ["lab"]

    def test_viewers_change_nothing(self, viewer, fleet) -> None:
        client = as_user(viewer)
        for form in ({"action": "add", "label": "x"}, {"action": "site", "site": "none"}):
            response = client.post("/endpoints/dev-a/tags/", form, **HTMX)
            assert response.status_code == 403
        assert client.get("/endpoints/dev-a/tags/").status_code == 403
        assert (labels_of("dev-a"), site_of("dev-a")) == (["beta"], "North")

    def test_posts_without_their_csrf_token_are_refused(self, operator, fleet) -> None:
        client = as_user(operator, enforce_csrf_checks=True)
        assert client.post("/endpoints/dev-a/tags/", {"action": "add", "label": "x"}, **HTMX).status_code == 403
        assert client.post("/bulk/", {"q": "dev", "add": "x", "confirm": "3"}, **HTMX).status_code == 403
        assert not Label.objects.filter(name="x").exists()

    def test_an_unknown_device_is_404(self, operator) -> None:
        response = as_user(operator).post("/endpoints/nobody/tags/", {"action": "add", "label": "x"})
        assert response.status_code == 404
        assert "no endpoint named &#x27;nobody&#x27;" in text(response)
        assert not Label.objects.exists()

    def test_a_site_operator_tags_its_devices_but_moves_them_only_among_its_sites(self, north, south, fleet) -> None:
        # (a global viewer too: the device page's other reads are not converted to site roles yet)
        olga = site_role(north, Role.OPERATOR, "olga-site-operator", global_role=Role.VIEWER)
        client = as_user(olga)
        form = element(text(client.get("/endpoints/dev-a/")), "endpoint-tags")
        assert "South" not in form
        assert 'value="none"' not in form
        assert client.post("/endpoints/dev-a/tags/", {"action": "add", "label": "hers"}).status_code == 302
        assert labels_of("dev-a") == ["beta", "hers"]
        moved = client.post("/endpoints/dev-a/tags/", {"action": "site", "site": str(south.pk)})
        assert moved.status_code == 403
        assert "moving devices to site &#x27;South&#x27; needs the operator role there" in text(moved)
        assert client.post("/endpoints/dev-a/tags/", {"action": "site", "site": "none"}).status_code == 403
        assert client.post("/endpoints/dev-c/tags/", {"action": "add", "label": "x"}).status_code == 403  # no site
        assert 'id="endpoint-tags"' not in text(client.get("/endpoints/dev-c/"))
        assert site_of("dev-a") == "North"
        assert labels_of("dev-c") == []

    def test_the_form_loads_itself_as_it_is_now(self, operator, fleet) -> None:
        response = as_user(operator).get("/endpoints/dev-a/tags/", **HTMX)
        assert response.status_code == 200
        assert 'aria-label="Remove label beta"' in element(text(response), "endpoint-tags")

    def test_a_change_pushes_the_row_the_header_and_the_form_after_the_commit(
        self, operator, fleet, monkeypatch, django_capture_on_commit_callbacks
    ) -> None:
        pushed: list[tuple[str, str]] = []
        monkeypatch.setattr(announce, "publish", lambda group, event: pushed.append((group, event.key)))
        device = Endpoint.objects.get(name="dev-c")
        with django_capture_on_commit_callbacks(execute=True):
            response = as_user(operator).post("/endpoints/dev-c/tags/", {"action": "add", "label": "live"}, **HTMX)
        assert pushed == [
            ("dashboard", f"endpoint-row-{device.pk}"),
            (f"endpoint.{device.pk}", "endpoint-status"),
            (f"endpoint.{device.pk}", "endpoint-tags"),
        ]
        body = text(response)
        assert 'id="endpoint-tags-refresh" data-state="' in body  # the state this user's form now shows
        pushed.clear()
        with django_capture_on_commit_callbacks(execute=True):  # nothing changed: nothing pushed
            as_user(operator).post("/endpoints/dev-c/tags/", {"action": "add", "label": "live"}, **HTMX)
        assert pushed == []

    def test_the_pushed_fragments_are_the_pages_own(self, operator, fleet) -> None:
        from telemetry import partials

        device = Endpoint.objects.get(name="dev-a")
        row = partials.render_endpoint_row(device.pk)
        assert "North" in row
        assert '<span class="label">beta</span>' in row
        refresh = partials.render_endpoint_tags_refresh(device.pk)
        state = element(text(as_user(operator).get("/endpoints/dev-a/")), "endpoint-tags-refresh")
        (shown,) = re.findall(r'data-state="([0-9a-f]{16})"', state)
        # only a page whose form shows another state takes it, and loads its own form again
        assert f"hx-swap-oob=\"outerHTML:#endpoint-tags-refresh:not([data-state='{shown}'])\"" in refresh
        assert 'hx-get="/endpoints/dev-a/tags/"' in refresh
        assert 'hx-trigger="load"' in refresh
        assert "<form" not in refresh
        assert partials.render_endpoint_tags_refresh(999_999) == ""


# --- the dashboard ------------------------------------------------------------------------------------------------


def table_names(body: str) -> list[str]:
    rows = element(body, "endpoint-rows")
    return [part.split('">')[1].split("<")[0] for part in rows.split('<a href="/endpoints/')[1:]]


class TestDashboardFilters:
    def test_it_filters_by_site_and_by_label(self, viewer, north, fleet) -> None:
        client = as_user(viewer)
        assert sorted(table_names(text(client.get(f"/?site={north.pk}")))) == ["dev-a", "dev-b"]
        assert table_names(text(client.get("/?site=none"))) == ["dev-c"]
        assert table_names(text(client.get("/?label=BETA"))) == ["dev-a"]
        assert table_names(text(client.get(f"/?site={north.pk}&label=beta&q=dev"))) == ["dev-a"]

    def test_the_filter_form_shows_the_filter_and_the_links_keep_it(self, viewer, north, fleet) -> None:
        body = text(as_user(viewer).get(f"/?site={north.pk}&label=beta"))
        assert f'<option value="{north.pk}" selected>North</option>' in body
        assert 'id="find-label" name="label" type="search" value="beta"' in body
        assert f'href="/?site={north.pk}&amp;label=beta&amp;sort=name"' in body  # the sort links
        assert '<tbody id="endpoint-rows">' in body  # filtered: pushed new devices do not land here

    def test_the_rows_show_site_and_labels(self, viewer, north, fleet) -> None:
        row = element(text(as_user(viewer).get("/")), f"endpoint-row-{Endpoint.objects.get(name='dev-a').pk}")
        assert f'<a class="site-tag" href="/?site={north.pk}"' in row
        assert '<span class="label">beta</span>' in row

    @pytest.mark.parametrize(
        ("query", "message"),
        [
            ("label=nosuch", "label: unknown label(s): nosuch"),
            ("site=999", "site: no site with id 999"),
            ("site=north", "site: site must be a site id or &#x27;none&#x27;"),
        ],
    )
    def test_a_filter_that_names_nothing_is_422_in_the_table(self, viewer, fleet, query: str, message: str) -> None:
        client = as_user(viewer)
        response = client.get(f"/?{query}")
        assert response.status_code == 422
        table = element(text(response), "device-table")
        assert message in table
        assert "No device matches." in table
        assert table_names(text(response)) == []
        htmx = client.get(f"/?{query}", HTTP_HX_TARGET="device-table", **HTMX)  # the table alone, with its reason
        assert htmx.status_code == 422
        assert message in text(htmx)
        assert "<html" not in text(htmx)


class TestBulkChange:
    def test_operators_are_offered_it_for_what_the_filter_shows(self, viewer, operator, north, fleet) -> None:
        body = text(as_user(operator).get(f"/?site={north.pk}"))
        assert "Set site / labels for the 2 devices shown by this filter" in body
        assert f'<input type="hidden" name="site" value="{north.pk}">' in element(body, "device-table")
        assert "Set site / labels" not in text(as_user(viewer).get("/"))

    def test_it_offers_only_the_sites_the_operator_may_move_devices_to(self, north, south, fleet) -> None:
        olga = site_role(north, Role.OPERATOR, "olga", global_role=Role.VIEWER)
        body = text(as_user(olga).get(f"/?site={north.pk}"))
        bulk = body.split('id="bulk-site"')[1].split("</select>")[0]
        assert "North" in bulk
        assert "South" not in bulk
        assert 'value="none"' not in bulk  # taking devices out of every site needs the global role
        assert '<option value="none"' in body.split('id="find-site"')[1].split("</select>")[0]  # she sees them

    def test_it_counts_first_and_changes_once_confirmed(self, operator, north, south, fleet) -> None:
        client = as_user(operator)
        form = {"site": str(north.pk), "to_site": str(south.pk), "add": "wave-1, hw-b", "remove": "beta"}
        asked = client.post("/bulk/", form, **HTMX)
        assert asked.status_code == 200
        assert "This changes <strong>2 devices</strong>" in text(asked)
        assert '<input type="hidden" name="confirm" value="2">' in text(asked)
        assert (site_of("dev-a"), labels_of("dev-a")) == ("North", ["beta"])  # nothing yet
        done = client.post("/bulk/", {**form, "confirm": "2"}, **HTMX)
        assert (done.status_code, done["HX-Redirect"]) == (200, f"/?site={north.pk}")
        for name in ("dev-a", "dev-b"):
            assert (site_of(name), labels_of(name)) == ("South", ["hw-b", "wave-1"])
        assert (site_of("dev-c"), labels_of("dev-c")) == (None, [])
        assert "Changed 2 of the 2 devices the filter showed." in text(client.get(f"/?site={north.pk}"))

    def test_a_count_that_changed_meanwhile_is_asked_again(self, operator, north, fleet) -> None:
        response = as_user(operator).post("/bulk/", {"q": "dev", "add": "x", "confirm": "2"}, **HTMX)
        assert response.status_code == 200
        assert "The filter now shows a different number of devices." in text(response)
        assert "This changes <strong>3 devices</strong>" in text(response)
        assert not Label.objects.filter(name="x").exists()

    def test_without_javascript_the_question_is_a_page_and_the_change_comes_back(self, operator, fleet) -> None:
        client = as_user(operator)
        asked = client.post("/bulk/", {"site": "none", "add": "spare"})
        assert asked.status_code == 200
        assert "<h1>Change many devices</h1>" in text(asked)
        done = client.post("/bulk/", {"site": "none", "add": "spare", "confirm": "1"})
        assert (done.status_code, done["Location"]) == (302, "/?site=none")
        assert labels_of("dev-c") == ["spare"]

    @pytest.mark.parametrize(
        ("form", "message"),
        [
            ({"q": "dev"}, "say what to change: a site, labels to add or labels to remove"),
            ({"q": "dev", "add": "fine b@d"}, "label &#x27;b@d&#x27; is not 1-64"),
            ({"q": "dev", "add": "ok!"}, "label &#x27;ok!&#x27; is not 1-64"),
            ({"q": "dev", "to_site": "999"}, "no site with id 999"),
            ({"label": "nosuch", "add": "x"}, "unknown label(s): nosuch"),
            ({"status": "asleep", "add": "x"}, "status must be one of online, sleeping, offline"),
            ({"q": "dev", "add": "x", "remove": "x"}, "a label cannot be added and removed at once"),
        ],
    )
    def test_a_bad_change_is_422_and_changes_nothing(self, operator, fleet, form: dict[str, str], message: str) -> None:
        for confirm in ("", "3"):
            response = as_user(operator).post("/bulk/", {**form, "confirm": confirm}, **HTMX)
            assert response.status_code == 422
            assert f"Not changed: {message}" in text(response)
        assert set(Label.objects.values_list("name", flat=True)) == {"beta"}
        assert EndpointLabel.objects.count() == 1
        assert Endpoint.objects.filter(site__isnull=True).count() == 1

    def test_a_filter_showing_nothing_changes_nothing(self, operator, fleet) -> None:
        response = as_user(operator).post("/bulk/", {"q": "nobody", "add": "x", "confirm": "0"}, **HTMX)
        assert response.status_code == 200
        assert "The filter shows no device: nothing to change." in text(response)
        assert not Label.objects.filter(name="x").exists()

    def test_viewers_and_outsiders_are_refused(self, viewer, outsider, fleet) -> None:
        for user in (viewer, outsider):
            assert as_user(user).post("/bulk/", {"add": "x", "confirm": "3"}).status_code == 403
        assert not Label.objects.filter(name="x").exists()

    def test_a_site_operator_cannot_change_devices_beyond_their_sites(self, north, fleet) -> None:
        olga = site_role(north, Role.OPERATOR, "olga", global_role=Role.VIEWER)  # sees all, operates North
        client = as_user(olga)
        response = client.post("/bulk/", {"q": "dev", "add": "x", "confirm": "3"})
        assert response.status_code == 403
        assert "1 of the 3 devices are not on a site you operate" in text(response)
        assert client.post("/bulk/", {"site": str(north.pk), "add": "x", "confirm": "2"}).status_code == 302
        assert labels_of("dev-b") == ["x"]
        assert labels_of("dev-c") == []
