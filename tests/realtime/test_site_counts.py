"""The dashboard's fleet counts for site roles: the page shows each of the user's sites apart (never the
fleet's), each the same markup the site's group is pushed (telemetry.partials.render_fleet_counts), and
counts in a constant number of queries however many sites."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from core.models import Site, SiteRole
from core.permissions import SYSTEM
from core.roles import Role
from telemetry import partials, presenters, selectors
from tests.factories import make_endpoint, make_firmware, make_firmware_update, make_user
from tests.html import element
from tests.realtime.test_push_is_the_page import assert_same

pytestmark = pytest.mark.django_db


@pytest.fixture
def sites() -> tuple[Site, Site]:
    a, b = Site.objects.create(name="Beta"), Site.objects.create(name="Alpha")  # shown by name: Alpha first
    make_endpoint(name="a-1", site=a, online=True)
    make_endpoint(name="a-2", site=a, online=False)
    make_endpoint(name="b-1", site=b, online=True, sleeping=True)
    make_endpoint(name="loose", online=True)
    make_firmware_update(endpoint=make_endpoint(name="b-2", site=b), firmware=make_firmware(version="2.0"))
    return a, b


@pytest.fixture
def dashboard(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The dashboard page with ``user``'s counts. (Loaded by a global viewer: the page's other reads, the
    device table and the events, are being scoped to site roles apart from these counts; the counts, what
    this file is about, are ``user``'s own, as the page asks for them.)"""

    def load(user: Any) -> str:
        shown = selectors.fleet_counts_shown(user=user)
        monkeypatch.setattr(presenters.selectors, "fleet_counts_shown", lambda *, user: shown)
        client = Client()
        client.force_login(make_user(Role.VIEWER))
        response = client.get("/")
        assert response.status_code == 200
        return response.content.decode()

    return load


def numbers(html: str) -> dict[str, int]:
    return {kind: int(n) for n, kind in re.findall(r'<span class="number">(\d+)</span> (\w+)', html)}


def test_a_site_viewer_sees_their_sites_counts_only(sites, dashboard) -> None:
    a, _ = sites
    user = make_user()
    SiteRole.objects.create(user=user, site=a, role="viewer")
    page = dashboard(user)
    assert 'id="fleet-counts"' not in page
    section = element(page, f"fleet-counts-site-{a.pk}")
    assert numbers(section) == {"devices": 2, "online": 1, "sleeping": 0, "offline": 1, "updating": 0}
    assert 'aria-label="Devices by state on Beta"' in section
    assert_same(partials.render_fleet_counts(site_id=a.pk), page, f"fleet-counts-site-{a.pk}")


def test_a_user_of_two_sites_sees_each_apart_by_name(sites, dashboard) -> None:
    a, b = sites
    user = make_user()
    SiteRole.objects.create(user=user, site=a, role="viewer")
    SiteRole.objects.create(user=user, site=b, role="operator")
    page = dashboard(user)
    assert page.index(f'id="fleet-counts-site-{b.pk}"') < page.index(f'id="fleet-counts-site-{a.pk}"')
    assert numbers(element(page, f"fleet-counts-site-{b.pk}")) == {
        "devices": 2,
        "online": 0,
        "sleeping": 1,
        "offline": 1,
        "updating": 1,
    }
    assert_same(partials.render_fleet_counts(site_id=b.pk), page, f"fleet-counts-site-{b.pk}")


def test_a_site_without_devices_is_counted_as_zero(sites) -> None:
    empty = Site.objects.create(name="Empty")
    user = make_user()
    SiteRole.objects.create(user=user, site=empty, role="viewer")
    (counts,) = selectors.fleet_counts_shown(user=user)
    assert (counts.site_id, counts.site_name, counts.total, counts.extra) == (empty.pk, "Empty", 0, {"updating": 0})


def test_a_global_viewer_sees_the_fleets_counts(sites, viewer, dashboard) -> None:
    page = dashboard(viewer)
    assert "fleet-counts-site-" not in page
    assert numbers(element(page, "fleet-counts")) == {
        "devices": 5,
        "online": 2,
        "sleeping": 1,
        "offline": 2,
        "updating": 1,
    }
    assert_same(partials.render_fleet_counts(), page, "fleet-counts")


def test_the_counts_of_one_site_pushed_to_its_group_are_that_sites(sites) -> None:
    a, b = sites
    assert selectors.fleet_counts(user=SYSTEM, site_id=a.pk).total == 2
    assert selectors.fleet_counts(user=SYSTEM, site_id=b.pk).extra == {"updating": 1}
    assert selectors.fleet_counts(user=SYSTEM).total == 5


def test_counting_for_site_roles_is_a_constant_number_of_queries(sites, django_assert_num_queries) -> None:
    user = make_user()
    for n in range(6):
        SiteRole.objects.create(user=user, site=Site.objects.create(name=f"more-{n}"), role="viewer")
    selectors.fleet_counts_shown(user=user)  # the user's roles looked up once
    with django_assert_num_queries(3):  # the devices by site and state, the updating ones by site, the sites
        assert len(selectors.fleet_counts_shown(user=user)) == 6
    viewer = make_user(Role.VIEWER)
    selectors.fleet_counts_shown(user=viewer)
    with django_assert_num_queries(2):  # the devices by state, the updating ones
        selectors.fleet_counts_shown(user=viewer)
