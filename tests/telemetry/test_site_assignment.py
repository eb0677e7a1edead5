"""Assignment rules on a device's first appearance: a device created by a bridge post (on either store path:
PostgreSQL's one statement, or the ORM's; the suite runs on whichever database it is given) or by a Leshan
registration gets the site of the first rule its name matches; a device Fieldhub knows is never moved, and
its posts read no rules."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from core.models import Endpoint, Site, SiteRule
from core.permissions import SYSTEM
from core.sites import services
from telemetry.ingest import store
from telemetry.lifecycle.services import endpoint_registration
from tests.factories import make_endpoint
from tests.telemetry.bridge_client import post, single

pytestmark = pytest.mark.django_db

IMEI = "urn:imei:350000000000001"


@pytest.fixture
def sites() -> dict[str, Site]:
    """Rules: position 0 "urn:imei:35" → North, position 1 pattern "*-lab-?" → Lab, and (tried after the
    prefix: same position, later id) the pattern "urn:imei:3*" → South."""
    north, south, lab = (Site.objects.create(name=n) for n in ("North", "South", "Lab"))
    services.site_rule_create(actor=SYSTEM, site=lab, kind="pattern", text="*-lab-?", position=1)
    services.site_rule_create(actor=SYSTEM, site=north, kind="prefix", text="urn:imei:35", position=0)
    services.site_rule_create(actor=SYSTEM, site=south, kind="pattern", text="urn:imei:3*", position=0)
    return {"North": north, "South": south, "Lab": lab}


def site_of(name: str) -> str | None:
    site = Endpoint.objects.select_related("site").get(name=name).site
    return site.name if site else None


def temperature(client: Client, name: str, value: float = 21.5) -> None:
    assert post(client, "single", single(name, "/3303/0/5700", "FLOAT", value)).status_code == 201


def composite(client: Client, name: str) -> None:
    body = {"ep": name, "val": {"/3303/0/5700": {"kind": "singleResource", "id": 5700, "type": "FLOAT", "value": 1}}}
    assert post(client, "composite", body).status_code == 201


class TestFirstAppearance:
    def test_a_device_the_bridge_creates_gets_the_first_matching_rules_site(self, client: Client, sites) -> None:
        temperature(client, IMEI)  # both prefix (North) and pattern (South) at position 0: the older rule
        temperature(client, "urn:imei:360000000000001")
        composite(client, "plant-lab-7")
        temperature(client, "plant-lab-77")
        assert [site_of(n) for n in (IMEI, "urn:imei:360000000000001", "plant-lab-7", "plant-lab-77")] == [
            "North",
            "South",
            "Lab",
            None,
        ]

    def test_it_is_assigned_on_the_one_statement_path_and_on_the_other(self, client: Client, sites) -> None:
        # A known resource type is the one-statement path on PostgreSQL; a new type (registered in the same
        # transaction) takes the other, on every database.
        temperature(client, "urn:imei:351")
        unknown = {"kind": "singleResource", "id": 7, "type": "INTEGER", "value": 1}
        assert post(client, "single", {"ep": "urn:imei:352", "obj_id": 33999, "val": unknown}).status_code == 201
        assert (site_of("urn:imei:351"), site_of("urn:imei:352")) == ("North", "North")

    def test_a_leshan_registration_assigns_too(self, sites) -> None:
        endpoint_registration(event="REGISTRATION", registration={"endpoint": "x-lab-1", "lifetime": 300})
        assert site_of("x-lab-1") == "Lab"

    def test_a_device_without_a_match_stays_in_no_site(self, client: Client, sites) -> None:
        temperature(client, "elsewhere")
        assert site_of("elsewhere") is None


class TestKnownDevices:
    def test_a_known_device_is_never_moved_by_a_rule(self, client: Client, sites) -> None:
        make_endpoint(name="urn:imei:35-early")  # known before the rules would have placed it
        temperature(client, "urn:imei:35-early")
        temperature(client, IMEI)
        services.endpoints_site_set(actor=SYSTEM, endpoints=Endpoint.objects.filter(name=IMEI), site=sites["Lab"])
        temperature(client, IMEI)
        endpoint_registration(event="REGISTRATION", registration={"endpoint": IMEI, "lifetime": 300})
        assert (site_of("urn:imei:35-early"), site_of(IMEI)) == (None, "Lab")

    def test_a_post_for_a_known_device_reads_no_rules_and_costs_no_more(self, client: Client, sites) -> None:
        temperature(client, IMEI, 1.0)
        temperature(client, "other", 1.0)
        rules = SiteRule._meta.db_table
        with CaptureQueriesContext(connection) as with_rules:
            temperature(client, IMEI, 2.0)
        SiteRule.objects.all().delete()
        with CaptureQueriesContext(connection) as without_rules:
            temperature(client, "other", 2.0)
        assert not [q for q in with_rules.captured_queries if rules in q["sql"]]
        assert len(with_rules) == len(without_rules)
        if store.is_one_statement():
            assert len(with_rules) == 1  # PostgreSQL: the post is one statement
