"""The alarms API: rules CRUD with 422s naming the field, who may manage which rule, alarms listed,
acknowledged and cleared per role and site."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from core.models import Endpoint, SiteRole
from core.permissions import SYSTEM
from core.sites.services import site_create
from telemetry.alarms.models import Alarm, AlarmRule
from tests.factories import make_user
from tests.telemetry.alarms_helpers import EP, rule, states, temp

pytestmark = pytest.mark.django_db

RULES = "/api/v1/alarm-rules"


def as_user(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def send(client: Client, method: str, url: str, body: Any = None) -> Any:
    data = json.dumps(body) if body is not None else ""
    return client.generic(method, url, data, content_type="application/json")


HOT = {"name": "hot", "kind": "above", "path": "/3303/*/5700", "threshold": 30, "severity": "critical"}


@pytest.fixture
def sites() -> dict[str, Any]:
    """Two sites with a device each; a viewer and an operator of the first."""
    north, south = site_create(actor=SYSTEM, name="North"), site_create(actor=SYSTEM, name="South")
    Endpoint.objects.create(name=EP, site=north)
    Endpoint.objects.create(name="urn:dev:south", site=south)
    north_viewer, north_operator = make_user(username="nv"), make_user(username="no")
    SiteRole.objects.create(user=north_viewer, site=north, role="viewer")
    SiteRole.objects.create(user=north_operator, site=north, role="operator")
    return {"north": north, "south": south, "viewer": north_viewer, "operator": north_operator}


class TestRuleValidation:
    @pytest.mark.parametrize(
        ("changes", "path", "text"),
        [
            ({"name": " "}, "name", "a rule needs a name"),
            ({"kind": "hotter"}, "kind", "kind must be one of above"),
            ({"severity": "doom"}, "severity", "severity must be one of critical"),
            ({"path": "/3303/x/5700"}, "path", "is not a resource path like /3303/*/5700"),
            ({"path": "/3303"}, "path", "is not a resource path"),
            ({"path": "/9999/*/1"}, "path", "/9999/*/1 is not a resource the registry knows"),
            ({"path": "", "resource": "warmth"}, "resource", "'warmth' is not a resource name the registry knows"),
            ({"resource": "temperature"}, "resource", "give path or resource, not both"),
            ({"path": "", "kind": "above"}, "path", "give path (/3303/*/5700) or resource"),
            ({"path": "/3/0/0"}, "threshold", "a threshold needs a numeric resource; /3/0/0 (manufacturer) is STRING"),
            ({"threshold": None}, "threshold", "an above rule needs a threshold"),
            ({"clear_threshold": 35}, "clear_threshold", "an above rule clears at or below its threshold"),
            ({"kind": "below", "clear_threshold": 25}, "clear_threshold", "a below rule clears at or above"),
            ({"kind": "outside"}, "threshold_high", "an outside rule needs threshold_high"),
            ({"kind": "outside", "threshold_high": 10}, "threshold_high", "threshold_high must be above threshold"),
            (
                {"kind": "outside", "threshold_high": 40, "clear_threshold": 20},
                "clear_threshold",
                "the clear range lies inside the range",
            ),
            ({"threshold_high": 40}, "threshold_high", "an above rule has one threshold"),
            ({"value": 3}, "value", "compares with thresholds, not a value"),
            ({"kind": "equal", "threshold": None}, "value", "an equal rule needs the value"),
            ({"kind": "equal", "threshold": None, "value": "warm"}, "value", "the value does not fit"),
            ({"kind": "equal", "value": 3}, "threshold", "an equal rule has no threshold"),
            ({"kind": "changed", "threshold": None, "readings": 3}, "readings", "raised by one change"),
            ({"readings": 0}, "readings", "readings is 1 .. 10000"),
            ({"duration_seconds": -1}, "duration_seconds", "duration_seconds is 0 .."),
            ({"kind": "no_data", "path": "", "threshold": None}, "minutes", "a no_data rule needs minutes"),
            ({"kind": "offline", "path": "", "threshold": None, "minutes": 0}, "minutes", "minutes is 1 .."),
            ({"kind": "no_data", "threshold": None, "minutes": 5}, "path", "a no_data rule watches no resource"),
            ({"kind": "battery", "path": "", "threshold": 150}, "threshold", "a battery threshold is a percent"),
            ({"kind": "battery", "threshold": 20}, "path", "a battery rule watches /3/0/9"),
            (
                {"kind": "command_failed", "path": "", "threshold": None, "minutes": 5},
                "duration_seconds",
                "no duration",
            ),
            ({"endpoint": "urn:dev:ghost"}, "endpoint", "no endpoint named 'urn:dev:ghost'"),
            ({"site": 99999}, "site", "no site 99999"),
            ({"endpoint": EP, "labels": ["eu"]}, "endpoint", "not both"),
            ({"labels": [""]}, "labels", "labels is a list of label names"),
        ],
    )
    def test_it_refuses_a_bad_rule_naming_the_field(
        self, operator: Any, changes: dict[str, Any], path: str, text: str
    ) -> None:
        Endpoint.objects.create(name=EP)
        response = send(as_user(operator), "POST", RULES, {**HOT, **changes})
        assert response.status_code == 422, response.json()
        assert response.json()["path"] == path
        assert text in response.json()["detail"]
        assert not AlarmRule.objects.exists()

    def test_it_refuses_unknown_fields_and_wrong_types(self, operator: Any) -> None:
        client = as_user(operator)
        assert send(client, "POST", RULES, {**HOT, "colour": "red"}).status_code == 422
        assert send(client, "POST", RULES, {**HOT, "threshold": "hot"}).status_code == 422
        assert not AlarmRule.objects.exists()


class TestRuleCrud:
    def test_an_operator_creates_reads_changes_and_deletes_a_rule(self, operator: Any) -> None:
        client = as_user(operator)
        created = send(client, "POST", RULES, {**HOT, "clear_threshold": 28, "readings": 2})
        assert created.status_code == 201, created.json()
        body = created.json()
        assert body["path"] == "/3303/*/5700"
        assert body["threshold"] == 30
        assert body["clear_threshold"] == 28
        assert (body["endpoint"], body["site"], body["labels"], body["readings"]) == (None, None, [], 2)
        url = f"{RULES}/{body['id']}"
        assert client.get(url).json()["name"] == "hot"
        assert client.get(RULES).json()["count"] == 1
        changed = send(client, "PATCH", url, {"threshold": 35, "enabled": False})
        assert changed.status_code == 200, changed.json()
        assert (changed.json()["threshold"], changed.json()["enabled"], changed.json()["clear_threshold"]) == (
            35,
            False,
            28,
        )
        refused = send(client, "PATCH", url, {"clear_threshold": 40})
        assert refused.status_code == 422
        assert refused.json()["path"] == "clear_threshold"
        assert AlarmRule.objects.get().clear_threshold == 28
        assert send(client, "DELETE", url).status_code == 204
        assert not AlarmRule.objects.exists()
        assert client.get(url).status_code == 404

    def test_minutes_for_the_fleet_kinds(self, operator: Any) -> None:
        body = {"name": "quiet", "kind": "no_data", "minutes": 15}
        response = send(as_user(operator), "POST", RULES, body)
        assert response.status_code == 201, response.json()
        assert response.json()["duration_seconds"] == 900

    def test_a_viewer_reads_rules_but_may_not_make_them(self, viewer: Any) -> None:
        rule()
        client = as_user(viewer)
        assert client.get(RULES).json()["count"] == 1
        response = send(client, "POST", RULES, HOT)
        assert response.status_code == 403
        assert AlarmRule.objects.count() == 1

    def test_the_api_needs_authentication(self) -> None:
        assert Client().get(RULES).status_code == 401


class TestRuleScopesPerRole:
    def test_a_site_operator_manages_the_rules_of_their_site_and_its_devices(self, sites: dict[str, Any]) -> None:
        client = as_user(sites["operator"])
        assert send(client, "POST", RULES, {**HOT, "site": sites["north"].pk}).status_code == 201
        assert send(client, "POST", RULES, {**HOT, "endpoint": EP}).status_code == 201

    def test_a_site_operator_may_not_make_global_or_foreign_rules(self, sites: dict[str, Any]) -> None:
        client = as_user(sites["operator"])
        everywhere = send(client, "POST", RULES, HOT)
        assert everywhere.status_code == 403
        assert "this rule needs the operator role globally" in everywhere.json()["detail"]
        foreign = send(client, "POST", RULES, {**HOT, "site": sites["south"].pk})
        assert foreign.status_code == 422
        assert foreign.json()["path"] == "site"
        device = send(client, "POST", RULES, {**HOT, "endpoint": "urn:dev:south"})
        assert device.status_code == 422
        assert device.json()["path"] == "endpoint"
        assert not AlarmRule.objects.exists()

    def test_a_site_operator_may_not_move_their_rule_to_another_site(self, sites: dict[str, Any]) -> None:
        mine = rule(site=sites["north"].pk)
        south_operator = make_user(username="so")
        SiteRole.objects.create(user=south_operator, site=sites["south"], role="operator")
        response = send(as_user(sites["operator"]), "PATCH", f"{RULES}/{mine.pk}", {"site": sites["south"].pk})
        assert response.status_code == 422
        assert AlarmRule.objects.get().site == sites["north"]

    def test_a_site_viewer_reads_the_rules_that_apply_to_their_devices(self, sites: dict[str, Any]) -> None:
        everywhere, north = rule(name="everywhere"), rule(name="north", site=sites["north"].pk)
        device = rule(name="device", endpoint=EP)
        south = rule(name="south", site=sites["south"].pk)
        client = as_user(sites["viewer"])
        listed = {item["id"] for item in client.get(RULES).json()["items"]}
        assert listed == {everywhere.pk, north.pk, device.pk}
        assert client.get(f"{RULES}/{south.pk}").status_code == 404

    def test_a_site_operator_may_not_change_a_global_rule(self, sites: dict[str, Any]) -> None:
        everywhere = rule()
        response = send(as_user(sites["operator"]), "PATCH", f"{RULES}/{everywhere.pk}", {"threshold": 50})
        assert response.status_code == 403
        assert send(as_user(sites["operator"]), "DELETE", f"{RULES}/{everywhere.pk}").status_code == 403
        assert AlarmRule.objects.get().threshold == 30


class TestAlarms:
    def raised(self) -> tuple[Alarm, Alarm]:
        rule(threshold=30, severity="critical")
        temp(40, 0)
        temp(40, 0, ep="urn:dev:south")
        return Alarm.objects.get(endpoint__name=EP), Alarm.objects.get(endpoint__name="urn:dev:south")

    def test_list_filters_and_pages(self, sites: dict[str, Any], operator: Any) -> None:
        north_alarm, south_alarm = self.raised()
        client = as_user(operator)
        body = client.get("/api/v1/alarms").json()
        assert (body["count"], body["limit"], body["offset"]) == (2, 50, 0)
        first = client.get(f"/api/v1/alarms?device={EP}").json()["items"]
        assert [a["id"] for a in first] == [north_alarm.pk]
        assert first[0]["endpoint"] == EP
        assert first[0]["rule_name"] == "hot"
        assert first[0]["severity"] == "critical"
        assert client.get(f"/api/v1/alarms?site={sites['south'].pk}").json()["items"][0]["id"] == south_alarm.pk
        assert client.get("/api/v1/alarms?state=open&severity=critical").json()["count"] == 2
        assert client.get("/api/v1/alarms?state=cleared").json()["count"] == 0
        assert client.get(f"/api/v1/alarms?rule={north_alarm.rule_id}&limit=1").json()["count"] == 2
        assert len(client.get("/api/v1/alarms?limit=1&offset=1").json()["items"]) == 1

    def test_bad_filters_are_422s_naming_them(self, operator: Any) -> None:
        client = as_user(operator)
        for query, path in (("state=gone", "state"), ("severity=doom", "severity")):
            response = client.get(f"/api/v1/alarms?{query}")
            assert response.status_code == 422
            assert response.json()["path"] == path
        assert client.get("/api/v1/alarms?limit=0").status_code == 422

    def test_acknowledge_with_a_note_then_clear_by_hand_with_the_history(self, sites: dict[str, Any]) -> None:
        alarm, _ = self.raised()
        client = as_user(sites["operator"])
        acked = send(client, "POST", f"/api/v1/alarms/{alarm.pk}/acknowledge", {"note": "on my way"})
        assert acked.status_code == 200, acked.json()
        assert (acked.json()["state"], acked.json()["note"], acked.json()["acknowledged_by"]) == (
            "acknowledged",
            "on my way",
            "no",
        )
        again = send(client, "POST", f"/api/v1/alarms/{alarm.pk}/acknowledge", {"note": ""})
        assert again.status_code == 409
        assert again.json()["path"] == "state"
        cleared = send(client, "POST", f"/api/v1/alarms/{alarm.pk}/clear", {})
        assert cleared.status_code == 200
        assert (cleared.json()["state"], cleared.json()["cleared_by"]) == ("cleared", "no")
        history = client.get(f"/api/v1/alarms/{alarm.pk}").json()["history"]
        assert [(h["state"], h["user"], h["note"]) for h in history] == [
            ("active", None, ""),
            ("acknowledged", "no", "on my way"),
            ("cleared", "no", ""),
        ]
        assert send(client, "POST", f"/api/v1/alarms/{alarm.pk}/clear", {}).status_code == 409

    def test_an_acknowledged_alarm_that_clears_and_comes_back_is_a_new_alarm(self, sites: dict[str, Any]) -> None:
        alarm, _ = self.raised()
        send(as_user(sites["operator"]), "POST", f"/api/v1/alarms/{alarm.pk}/acknowledge", {"note": "seen"})
        temp(20, 10)
        temp(41, 20)
        assert states() == ["cleared", "active"]
        assert Alarm.objects.get(pk=alarm.pk).cleared_by is None

    def test_a_site_viewer_sees_their_sites_alarms_only_and_may_not_act(self, sites: dict[str, Any]) -> None:
        north_alarm, south_alarm = self.raised()
        client = as_user(sites["viewer"])
        assert [a["id"] for a in client.get("/api/v1/alarms").json()["items"]] == [north_alarm.pk]
        assert client.get(f"/api/v1/alarms/{south_alarm.pk}").status_code == 404
        foreign = send(client, "POST", f"/api/v1/alarms/{south_alarm.pk}/acknowledge", {"note": ""})
        assert foreign.status_code == 404
        own = send(client, "POST", f"/api/v1/alarms/{north_alarm.pk}/acknowledge", {"note": ""})
        assert own.status_code == 403
        assert send(client, "POST", f"/api/v1/alarms/{north_alarm.pk}/clear", {}).status_code == 403
        assert Alarm.objects.get(pk=north_alarm.pk).state == "active"

    def test_a_site_operator_may_not_touch_another_sites_alarm(self, sites: dict[str, Any]) -> None:
        _, south_alarm = self.raised()
        response = send(as_user(sites["operator"]), "POST", f"/api/v1/alarms/{south_alarm.pk}/clear", {})
        assert response.status_code == 404
        assert Alarm.objects.get(pk=south_alarm.pk).state == "active"

    def test_a_note_too_long_is_a_422(self, operator: Any) -> None:
        rule(threshold=30)
        temp(40, 0)
        alarm = Alarm.objects.get()
        response = send(as_user(operator), "POST", f"/api/v1/alarms/{alarm.pk}/acknowledge", {"note": "x" * 1001})
        assert response.status_code == 422
        assert response.json()["path"] == "note"
        assert Alarm.objects.get().state == "active"
