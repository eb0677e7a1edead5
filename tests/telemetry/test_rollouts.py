"""Rollouts: checked before anything is stored, frozen selections in waves, who may do what, the API."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client

from core.errors import Conflict, FieldhubError, PermissionDenied
from core.models import Endpoint, SiteRole
from core.roles import Role
from core.sites.services import endpoints_labels_add, site_create
from telemetry.models import EndpointOperation, Rollout, RolloutDevice
from telemetry.rollouts import selectors, services
from telemetry.rollouts.selectors import Selection
from tests.factories import make_endpoint, make_user

Op = EndpointOperation.Status


def fleet(count: int, prefix: str = "dev", **fields: Any) -> list[Endpoint]:
    return [make_endpoint(name=f"{prefix}-{n:02d}", online=True, **fields) for n in range(count)]


def create(actor: Any, **overrides: Any) -> Rollout:
    fields: dict[str, Any] = {
        "name": "time zone",
        "kind": "WRITE",
        "path": "/3/0/14",
        "value": "+02",
        "selection": Selection(),
        "waves": [100],
    }
    fields.update(overrides)
    return services.rollout_create(actor=actor, **fields)


def api(client: Client, method: str, url: str, body: Any = None) -> Any:
    if method == "GET":
        return client.get(url)
    return client.post(url, data=json.dumps(body or {}), content_type="application/json")


def nothing_stored() -> bool:
    return (
        not Rollout.objects.exists() and not RolloutDevice.objects.exists() and not EndpointOperation.objects.exists()
    )


# --- checked once, before anything is stored ----------------------------------------------------------------


@pytest.mark.django_db
class TestValidation:
    @pytest.mark.parametrize(
        ("overrides", "path", "text"),
        [
            ({"name": " "}, "name", "a rollout needs a name"),
            ({"name": "x" * 101}, "name", "at most 100 characters"),
            ({"kind": "REBOOT"}, "kind", "kind must be one of write, execute"),
            ({"path": "/3/x/14"}, "path", ""),
            ({"path": "/9999/0/1"}, "path", "is not a resource the registry knows"),
            ({"path": "/3/0/0"}, "path", "is not writable"),
            ({"value": None}, "value", "a value is needed"),
            ({"path": "/1/0/1", "value": "soon"}, "value", "/1/0/1"),
            ({"kind": "EXECUTE", "path": "/3/0/14", "value": None}, "path", "is not executable"),
            ({"kind": "EXECUTE", "path": "/3/0/4", "value": None, "arguments": "\x01"}, "arguments", "printable"),
            ({"waves": [10, 5]}, "waves", "must rise"),
            ({"waves": [5, 0], "unit": "devices"}, "waves", "the rollout has"),
            ({"waves": [50, 100], "unit": "weeks"}, "unit", 'unit is "percent" or "devices"'),
            ({"max_failure_rate": 1.5}, "max_failure_rate", "between 0 and 1"),
            ({"selection": Selection(status="dozing")}, "status", "status must be one of"),
            ({"selection": Selection(site="12345")}, "site", ""),
            ({"selection": Selection(endpoints=["dev-00", "ghost"])}, "endpoints", "unknown endpoint name(s): 'ghost'"),
            ({"selection": Selection(endpoints=["dev-00"], status="online")}, "selection.endpoints", "not both"),
            ({"selection": Selection(name="nothing-like-this")}, "selection", "reaches no device"),
        ],
    )
    def test_it_rejects_a_bad_field_and_stores_nothing(
        self, operator: Any, overrides: dict[str, Any], path: str, text: str
    ) -> None:
        fleet(3)
        with pytest.raises(FieldhubError) as caught:
            create(operator, **overrides)
        assert caught.value.path == path
        assert text in str(caught.value)
        assert nothing_stored()

    def test_the_api_answers_422_naming_the_field(self, operator: Any) -> None:
        fleet(2)
        client = Client()
        client.force_login(operator)
        body = {"name": "tz", "kind": "write", "path": "/3/0/14", "value": "+01", "selection": {}, "waves": [100]}
        for change, path in (
            ({"path": "/3/0/0"}, "path"),
            ({"kind": "dance"}, "kind"),
            ({"waves": [100, 50]}, "waves"),
            ({"selection": {"labels": ["no-such-label"]}}, None),
            ({"max_failure_rate": -1}, "max_failure_rate"),
        ):
            response = api(client, "POST", "/api/v1/rollouts", {**body, **change})
            assert response.status_code == 422, (change, response.content)
            if path:
                assert response.json()["path"] == path
        response = api(client, "POST", "/api/v1/rollouts", {**body, "selection": {"colour": "red"}})
        assert response.status_code == 422
        assert "colour" in response.json()["detail"]
        assert nothing_stored()


# --- the selection, frozen in waves ------------------------------------------------------------------------


@pytest.mark.django_db
class TestCreate:
    def test_it_freezes_the_selection_in_waves_and_queues_the_first(self, operator: Any) -> None:
        devices = fleet(10)
        rollout = create(operator, waves=[20, 100])
        assert rollout.waves == [2, 8]
        members = list(RolloutDevice.objects.filter(rollout=rollout).order_by("endpoint__name"))
        assert [m.wave for m in members] == [0, 0] + [1] * 8
        first = EndpointOperation.objects.filter(rollout_device__rollout=rollout)
        assert sorted(first.values_list("endpoint__name", flat=True)) == ["dev-00", "dev-01"]
        assert set(first.values_list("kind", "path", "status")) == {("WRITE", "/3/0/14", Op.QUEUED)}
        assert first.first().payload == {"node": {"id": 14, "kind": "singleResource", "type": "STRING", "value": "+02"}}
        assert all(op.created_by == operator for op in first)
        make_endpoint(name="dev-late", online=True)  # arrives after: not in the rollout
        assert RolloutDevice.objects.filter(rollout=rollout).count() == len(devices)

    def test_a_later_waves_device_no_longer_in_the_state_selected_is_skipped(self, operator: Any) -> None:
        fleet(3)
        rollout = create(operator, selection=Selection(status="online"), waves=[1, 0], unit="devices")
        Endpoint.objects.filter(name="dev-02").update(online=False)
        EndpointOperation.objects.update(status=Op.CONFIRMED)  # wave 1 delivered
        services.rollouts_advance(rollout_id=rollout.pk)
        skipped = RolloutDevice.objects.get(endpoint__name="dev-02")
        assert (skipped.wave, skipped.operation, skipped.skipped) == (1, None, "no longer online when wave 2 started")
        queued = EndpointOperation.objects.filter(status=Op.QUEUED).values_list("endpoint__name", flat=True)
        assert list(queued) == ["dev-01"]
        EndpointOperation.objects.update(status=Op.CONFIRMED)
        services.rollouts_advance(rollout_id=rollout.pk)
        done = Rollout.objects.get()
        assert done.status == Rollout.Status.COMPLETED
        assert done.reason == "all 2 waves done: 2 of 3 devices confirmed, 1 skipped"

    def test_a_filter_selects_by_state_labels_and_firmware(self, operator: Any, admin_user: Any) -> None:
        from core.lwm2m.nodes import Path, Reading
        from core.lwm2m.types import DataType
        from telemetry import ingest

        fleet(4)
        Endpoint.objects.filter(name="dev-03").update(online=False)
        for name, version in (("dev-00", "1.0.0"), ("dev-01", "1.1.0"), ("dev-02", "1.1.0")):
            ingest.ingest(endpoint_name=name, readings=[Reading(Path(3, 0, 3), DataType.STRING, version)])
        endpoints_labels_add(
            actor=admin_user, endpoints=Endpoint.objects.filter(name__in=["dev-01", "dev-03"]), labels=["beta"]
        )

        def names(selection: Selection) -> list[str]:
            return [e.name for e in selectors.selection_resolve(user=operator, selection=selection).devices]

        assert names(Selection(firmware="1.1.0")) == ["dev-01", "dev-02"]
        assert names(Selection(labels=["beta"])) == ["dev-01", "dev-03"]
        assert names(Selection(labels=["beta"], status="online")) == ["dev-01"]
        assert names(Selection(status="offline")) == ["dev-03"]
        assert names(Selection(name="-0")) == ["dev-00", "dev-01", "dev-02", "dev-03"]
        assert selectors.selection_count(user=operator, selection=Selection(firmware="1.1.0")) == (2, 0)

    def test_a_site_operator_reaches_only_their_sites_devices(self, admin_user: Any) -> None:
        north, south = site_create(actor=admin_user, name="north"), site_create(actor=admin_user, name="south")
        fleet(3, prefix="north", site=north)
        fleet(2, prefix="south", site=south)
        fleet(2, prefix="nowhere")
        otto = make_user(None, username="otto")
        SiteRole.objects.create(user=otto, site=north, role=Role.OPERATOR.value)
        SiteRole.objects.create(user=otto, site=south, role=Role.VIEWER.value)
        rollout = create(otto)
        reached = RolloutDevice.objects.filter(rollout=rollout).values_list("endpoint__name", flat=True)
        assert sorted(reached) == ["north-00", "north-01", "north-02"]
        # Named: a device otto only views is skipped with the reason; one of no site of his is unknown to him.
        named = create(otto, selection=Selection(endpoints=["north-00", "south-00"]))
        skipped = RolloutDevice.objects.get(rollout=named, endpoint__name="south-00")
        assert (skipped.wave, skipped.skipped) == (None, selectors.NOT_OPERABLE)
        assert EndpointOperation.objects.filter(rollout_device__rollout=named).count() == 1
        with pytest.raises(FieldhubError, match="unknown endpoint name"):
            create(otto, selection=Selection(endpoints=["nowhere-00"]))
        with pytest.raises(Conflict, match="none of the 1 device listed is yours to operate"):
            create(otto, selection=Selection(endpoints=["south-01"]))
        with pytest.raises(PermissionDenied):  # no role anywhere
            create(make_user(None))
        # He lists the rollouts that reach his sites; their devices, his sites' only.
        assert list(selectors.rollout_list(user=otto)) == [named, rollout]
        visible = selectors.rollout_devices(user=otto, rollout=named)
        assert sorted(m.endpoint.name for m in visible) == ["north-00", "south-00"]

    def test_a_viewer_may_not_start_pause_resume_or_abort(self, viewer: Any, operator: Any) -> None:
        fleet(2)
        with pytest.raises(PermissionDenied):
            create(viewer)
        rollout = create(operator)
        for action in (services.rollout_pause, services.rollout_resume, services.rollout_abort):
            with pytest.raises(PermissionDenied):
                action(actor=viewer, rollout=rollout)
        client = Client()
        client.force_login(viewer)
        assert (
            api(
                client, "POST", "/api/v1/rollouts", {"name": "x", "kind": "read", "path": "/3/0/0", "selection": {}}
            ).status_code
            == 403
        )
        for action in ("pause", "resume", "abort"):
            assert api(client, "POST", f"/api/v1/rollouts/{rollout.pk}/{action}").status_code == 403
        assert api(client, "GET", f"/api/v1/rollouts/{rollout.pk}").status_code == 200
        assert client.post(f"/rollouts/{rollout.pk}/abort/").status_code == 403
        assert Rollout.objects.get().status == Rollout.Status.RUNNING


# --- the API ------------------------------------------------------------------------------------------------


@pytest.mark.django_db
class TestApi:
    def test_create_list_get_devices_and_controls(self, operator: Any) -> None:
        fleet(5)
        client = Client()
        client.force_login(operator)
        body = {
            "name": "lifetime",
            "kind": "write",
            "path": "/1/0/1",
            "value": 600,
            "selection": {"status": "online"},
            "waves": [2, 0],
            "unit": "devices",
            "max_failure_rate": 0.2,
        }
        response = api(client, "POST", "/api/v1/rollouts", body)
        assert response.status_code == 201, response.content
        created = response.json()
        rid = created["id"]
        assert (created["kind"], created["status"], created["total"], created["waves"]) == (
            "command",
            "running",
            5,
            [2, 3],
        )
        assert [(w["wave"], w["total"], w["queued"], w["waiting"]) for w in created["wave_counts"]] == [
            (1, 2, 2, 0),
            (2, 3, 0, 3),
        ]
        listed = api(client, "GET", "/api/v1/rollouts?limit=10").json()
        assert listed["count"] == 1
        assert listed["items"][0]["id"] == rid
        devices = api(client, "GET", f"/api/v1/rollouts/{rid}/devices?status=queued").json()
        assert devices["count"] == 2
        assert {d["status"] for d in devices["items"]} == {"queued"}
        assert all(d["operation"] for d in devices["items"])
        assert api(client, "GET", f"/api/v1/rollouts/{rid}/devices?status=lost").status_code == 422
        assert api(client, "POST", f"/api/v1/rollouts/{rid}/pause").json()["status"] == "paused"
        assert api(client, "POST", f"/api/v1/rollouts/{rid}/pause").status_code == 409
        assert api(client, "POST", f"/api/v1/rollouts/{rid}/resume").json()["status"] == "running"
        aborted = api(client, "POST", f"/api/v1/rollouts/{rid}/abort").json()
        assert aborted["status"] == "aborted"
        assert aborted["cancelled"] == 2
        assert "2 queued operations cancelled" in aborted["reason"]
        assert set(EndpointOperation.objects.values_list("status", flat=True)) == {Op.CANCELLED}
        assert api(client, "POST", f"/api/v1/rollouts/{rid}/abort").status_code == 409
        for bad in ("nope", "xx-1", "fw-", "-1", "1" * 30):
            assert api(client, "GET", f"/api/v1/rollouts/{bad}").status_code == 404, bad
        assert api(client, "GET", "/api/v1/rollouts/999").status_code == 404
        too_far = api(client, "GET", "/api/v1/rollouts?offset=100001")
        assert too_far.status_code == 422
        assert too_far.json()["path"] == "offset"

    def test_preview_counts_what_a_selection_reaches(self, operator: Any) -> None:
        fleet(3)
        Endpoint.objects.filter(name="dev-02").update(online=False)
        client = Client()
        client.force_login(operator)
        assert api(client, "POST", "/api/v1/rollouts/preview", {"status": "online"}).json() == {
            "devices": 2,
            "skipped": 0,
        }
        assert api(client, "POST", "/api/v1/rollouts/preview", {"status": "sideways"}).status_code == 422
        page = client.get("/rollouts/preview/", {"select": "filter", "status": "offline"})
        assert b"data-preview-count>1<" in page.content
        page = client.get("/rollouts/preview/", {"select": "filter", "status": "sideways"})
        assert b"status must be one of" in page.content

    def test_firmware_campaigns_are_rollouts_of_kind_firmware(self, operator: Any) -> None:
        from firmware.services import campaign_create
        from tests.factories import make_firmware

        devices = fleet(2)
        campaign = campaign_create(
            actor=operator, name="spring", firmware=make_firmware(version="2.0.0"), endpoints=devices, waves=[100]
        )
        create(operator)
        client = Client()
        client.force_login(operator)
        items = api(client, "GET", "/api/v1/rollouts").json()["items"]
        assert sorted(i["kind"] for i in items) == ["command", "firmware"]
        fw = next(i for i in items if i["kind"] == "firmware")
        assert (fw["operation"], fw["api_url"], fw["total"]) == (
            "firmware 2.0.0",
            f"/api/v1/campaigns/{campaign.number}",
            2,
        )
        assert api(client, "GET", f"/api/v1/rollouts/fw-{campaign.number}").json()["name"] == "spring"
        assert api(client, "POST", f"/api/v1/rollouts/fw-{campaign.number}/pause").json()["status"] == "paused"
        campaign.refresh_from_db()
        assert campaign.status == "PAUSED"
        assert api(client, "POST", f"/api/v1/rollouts/fw-{campaign.number}/abort").json()["status"] == "aborted"
        # one model: a firmware rollout's devices are listed as a command rollout's, with their updates
        devices_page = api(client, "GET", f"/api/v1/rollouts/fw-{campaign.number}/devices").json()
        assert sorted((d["status"], d["update"] is not None) for d in devices_page["items"]) == [
            ("cancelled", True),
            ("cancelled", True),
        ]
        assert client.get(f"/rollouts/fw-{campaign.number}/")["Location"] == f"/firmware/campaigns/{campaign.number}/"
        assert client.get(f"/firmware/campaigns/{campaign.number}/").status_code == 200


# --- pages ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
class TestPages:
    def test_the_rollout_page_runs_a_constant_number_of_queries(
        self, operator: Any, django_assert_max_num_queries: Any, django_assert_num_queries: Any
    ) -> None:
        client = Client()
        client.force_login(operator)
        fleet(3)
        small = create(operator, waves=[50, 100])
        client.get(f"/rollouts/{small.pk}/")  # warm: the session, the registry
        with django_assert_max_num_queries(20) as few:
            assert client.get(f"/rollouts/{small.pk}/").status_code == 200
        fleet(120, prefix="more")
        large = create(operator, name="large", waves=[10, 50, 100])
        with django_assert_num_queries(len(few.captured_queries)):
            response = client.get(f"/rollouts/{large.pk}/?page=2")
        assert response.status_code == 200
        assert b"page 2 of 3" in response.content

    def test_pages_and_the_form(self, operator: Any, viewer: Any) -> None:
        fleet(3)
        client = Client()
        client.force_login(operator)
        assert b"/rollouts/" in client.get("/operations/").content
        form = client.get("/rollouts/new/?q=dev&status=online&label=beta&label=b2")
        assert form.status_code == 200
        assert b'value="dev"' in form.content
        assert b'value="beta, b2"' in form.content
        bad = client.post(
            "/rollouts/new/", {"name": "r", "kind": "WRITE", "path": "/3/0/0", "value": "x", "waves": "100"}
        )
        assert bad.status_code == 422
        assert b"is not writable" in bad.content
        assert nothing_stored()
        made = client.post(
            "/rollouts/new/",
            {"name": "r", "kind": "WRITE", "path": "/3/0/14", "value": "+01", "select": "filter", "waves": "50, 100"},
        )
        rollout = Rollout.objects.get()
        assert made["Location"] == f"/rollouts/{rollout.pk}/"
        page = client.get(made["Location"])
        assert b"Pause" in page.content
        assert b"dev-00" in page.content
        assert b"r" in client.get("/rollouts/").content
        assert client.post(f"/rollouts/{rollout.pk}/pause/").status_code == 302
        rollout.refresh_from_db()
        assert rollout.status == Rollout.Status.PAUSED
        assert client.post(f"/rollouts/{rollout.pk}/dance/").status_code == 404
        viewing = Client()
        viewing.force_login(viewer)
        assert viewing.get("/rollouts/new/").status_code == 403
        assert viewing.get(f"/rollouts/{rollout.pk}/").status_code == 200
        assert viewing.get("/rollouts/zz/").status_code == 404

    def test_the_rollout_list_runs_a_constant_number_of_queries(
        self, operator: Any, django_assert_max_num_queries: Any, django_assert_num_queries: Any
    ) -> None:
        from firmware.services import campaign_create
        from tests.factories import make_firmware

        client = Client()
        client.force_login(operator)
        devices = fleet(4)
        create(operator)
        campaign_create(actor=operator, name="fw", firmware=make_firmware(), endpoints=devices[:1], waves=[100])
        client.get("/rollouts/")
        with django_assert_max_num_queries(20) as few:
            assert client.get("/rollouts/").status_code == 200
        for n in range(3):
            create(operator, name=f"more {n}")
            campaign_create(
                actor=operator, name=f"fw {n}", firmware=make_firmware(), endpoints=[devices[1 + n]], waves=[100]
            )
        with django_assert_num_queries(len(few.captured_queries)):
            page = client.get("/rollouts/")
        assert page.content.count(b'class="rollout-row"') == 8

    def test_send_to_many_carries_the_dashboards_filter(self, operator: Any, viewer: Any) -> None:
        fleet(2)
        client = Client()
        client.force_login(operator)
        page = client.get("/?q=dev&status=online")
        assert b'href="/rollouts/new/?q=dev&amp;status=online" data-send-to-many' in page.content
        table = client.get("/?q=dev", headers={"HX-Request": "true", "HX-Target": "device-table"})
        assert b'href="/rollouts/new/?q=dev" data-send-to-many' in table.content


class TestSiteUsersSteering:
    """A rollout that reaches devices of several sites is steered by global operators only; an operator of
    every site it reaches steers it; its pages are live for global roles only."""

    @pytest.fixture
    def two_sites(self, operator) -> tuple[Any, Any, Rollout]:
        north, south = (
            site_create(actor=operator_admin(), name="North"),
            site_create(actor=operator_admin(), name="South"),
        )
        fleet(2, prefix="n", site=north)
        fleet(2, prefix="s", site=south)
        return north, south, create(operator)

    def test_an_operator_of_one_of_its_sites_cannot_pause_or_abort_it(self, two_sites) -> None:
        north, _south, rollout = two_sites
        olga = make_user(username="olga")
        SiteRole.objects.create(user=olga, site=north, role=Role.OPERATOR.value)
        assert not selectors.may_steer(user=olga, rollout=rollout)
        for steer in (services.rollout_pause, services.rollout_abort):
            with pytest.raises(PermissionDenied, match="reaches devices of sites you do not operate"):
                steer(actor=olga, rollout=rollout)
        rollout.refresh_from_db()
        assert rollout.status == Rollout.Status.RUNNING
        page = as_client(olga).get(f"/rollouts/{rollout.pk}/").content.decode()
        assert not re.search(r"<body[^>]*data-can-operate", page)  # its controls are not offered

    def test_an_operator_of_every_site_it_reaches_steers_it(self, two_sites) -> None:
        north, south, rollout = two_sites
        olga = make_user(username="olga")
        for site in (north, south):
            SiteRole.objects.create(user=olga, site=site, role=Role.OPERATOR.value)
        services.rollout_pause(actor=olga, rollout=rollout)
        rollout.refresh_from_db()
        assert rollout.status == Rollout.Status.PAUSED


def operator_admin() -> Any:
    from core.permissions import SYSTEM

    return SYSTEM


def as_client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client
