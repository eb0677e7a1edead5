"""Site-scoped sockets (realtime.groups, realtime.access): a site's user hears about that site's devices
only, never another site's nor a device in no site; a global role hears about all. A device socket for a
device the user may not see is 4404; losing a site role closes the sockets it allowed (4403), a fleet page
whose sites changed is closed to reload (4409). Each test runs on the in-memory layer and on Redis (the
``layer`` fixture); test_sites_daphne.py does the same through a real server."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from channels.db import database_sync_to_async

from core import services as core_services
from core.lwm2m.nodes import Path, Reading
from core.lwm2m.types import DataType
from core.models import Endpoint, Site, SiteRole
from core.roles import Role
from core.sites import services as site_services
from firmware import services as firmware_services
from realtime.groups import CLOSE_FORBIDDEN, CLOSE_NOT_FOUND, CLOSE_SCOPE_CHANGED
from telemetry.downlink.queue import operation_enqueue
from telemetry.ingest import ingest
from tests.factories import make_endpoint, make_firmware, make_user
from tests.realtime.live import connect, receive_all
from tests.realtime.test_access import close_code, stays_open

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class Fleet:
    a: Site
    b: Site
    in_a: Endpoint
    in_b: Endpoint
    loose: Endpoint  # in no site
    alice: Any  # viewer on site A only
    bob: Any  # viewer on A and on B
    globe: Any  # a global viewer
    admin: Any


def build() -> Fleet:
    a, b = Site.objects.create(name="Alpha"), Site.objects.create(name="Beta")
    alice, bob = make_user(username="alice"), make_user(username="bob")
    SiteRole.objects.create(user=alice, site=a, role="viewer")
    SiteRole.objects.create(user=bob, site=a, role="viewer")
    SiteRole.objects.create(user=bob, site=b, role="operator")
    return Fleet(
        a=a,
        b=b,
        in_a=make_endpoint(name="dev-in-alpha", site=a, online=False),
        in_b=make_endpoint(name="dev-in-beta", site=b, online=False),
        loose=make_endpoint(name="dev-in-no-site", online=False),
        alice=alice,
        bob=bob,
        globe=make_user(Role.VIEWER, username="globe"),
        admin=make_user(Role.ADMIN, username="boss"),
    )


@pytest.fixture
async def fleet(layer: str) -> Fleet:
    return await database_sync_to_async(build)()


def report(name: str, value: float = 21.5) -> list[Reading]:
    """Two values: a post that also makes an event (on the dashboard's and the events page's lists)."""
    return [Reading(Path(3303, 0, 5700), DataType.FLOAT, value), Reading(Path(3, 0, 9), DataType.INTEGER, 77)]


async def post(name: str, value: float = 21.5) -> None:
    await database_sync_to_async(ingest)(endpoint_name=name, readings=report(name, value))


async def opened(path: str, user: Any) -> Any:
    socket = await connect(path, user)
    assert (await socket.connect())[0]
    assert await socket.receive_nothing(timeout=0.1)  # open, not refused
    return socket


async def refused(path: str, user: Any) -> int:
    socket = await connect(path, user)
    assert (await socket.connect())[0]
    message = await socket.receive_output(timeout=5)
    assert message["type"] == "websocket.close"
    return int(message["code"])


def counts(pushed: str, element_id: str) -> dict[str, int]:
    """The numbers of the last counts section ``element_id`` pushed (each push is the state when it was sent)."""
    sections = re.findall(rf'<section id="{element_id}".*?</section>', pushed, re.S)
    assert sections, f"no {element_id} in {pushed[:300]}"
    return {kind: int(n) for n, kind in re.findall(r'<span class="number">(\d+)</span> (\w+)', sections[-1])}


class TestFleetPages:
    async def test_a_site_viewers_dashboard_hears_its_sites_devices_only(self, fleet: Fleet) -> None:
        alice = await opened("/ws/dashboard/", fleet.alice)
        globe = await opened("/ws/dashboard/", fleet.globe)
        for device in (fleet.in_b, fleet.loose, fleet.in_a):  # each comes online: rows, events and counts
            await post(device.name)
        to_alice, to_globe = await receive_all(alice), await receive_all(globe)

        assert f'id="endpoint-row-{fleet.in_a.pk}"' in to_alice
        assert "dev-in-alpha" in to_alice
        for foreign in (fleet.in_b, fleet.loose):
            assert f"endpoint-row-{foreign.pk}" not in to_alice
            assert foreign.name not in to_alice  # nor in an event
        for device in (fleet.in_a, fleet.in_b, fleet.loose):
            assert f'id="endpoint-row-{device.pk}"' in to_globe
        assert to_alice.count('hx-swap-oob="afterbegin:#events"') == 1
        assert to_globe.count('hx-swap-oob="afterbegin:#events"') == 3

        # The counts: site A's own to alice (never the fleet's), the fleet's to the global viewer.
        assert 'id="fleet-counts"' not in to_alice
        mine = {"devices": 1, "online": 1, "sleeping": 0, "offline": 0, "updating": 0}
        assert counts(to_alice, f"fleet-counts-site-{fleet.a.pk}") == mine
        assert "fleet-counts-site-" not in to_globe
        assert counts(to_globe, "fleet-counts")["devices"] == 3
        assert counts(to_globe, "fleet-counts")["online"] == 3

    async def test_a_user_of_two_sites_hears_both_and_each_sites_counts_apart(self, fleet: Fleet) -> None:
        bob = await opened("/ws/dashboard/", fleet.bob)
        for device in (fleet.in_a, fleet.in_b, fleet.loose):
            await post(device.name)
        to_bob = await receive_all(bob)
        assert f'id="endpoint-row-{fleet.in_a.pk}"' in to_bob
        assert f'id="endpoint-row-{fleet.in_b.pk}"' in to_bob
        assert fleet.loose.name not in to_bob
        assert counts(to_bob, f"fleet-counts-site-{fleet.a.pk}")["devices"] == 1
        assert counts(to_bob, f"fleet-counts-site-{fleet.b.pk}")["devices"] == 1
        assert 'id="fleet-counts"' not in to_bob

    async def test_a_new_device_is_announced_to_the_site_its_rules_give_it(self, fleet: Fleet) -> None:
        await database_sync_to_async(site_services.site_rule_create)(
            actor=fleet.admin, site=fleet.a, kind="prefix", text="alpha-"
        )
        alice = await opened("/ws/dashboard/", fleet.alice)
        await post("alpha-new-1")
        await post("zulu-new-1")  # no rule: in no site
        to_alice = await receive_all(alice)
        assert "alpha-new-1" in to_alice
        assert 'hx-swap-oob="afterbegin:#endpoint-rows[data-new-rows]"' in to_alice
        assert "zulu-new-1" not in to_alice
        assert counts(to_alice, f"fleet-counts-site-{fleet.a.pk}")["devices"] == 2

    async def test_the_events_page_hears_its_sites_events_only(self, fleet: Fleet) -> None:
        alice = await opened("/ws/events/", fleet.alice)
        globe = await opened("/ws/events/", fleet.globe)
        for device in (fleet.in_b, fleet.loose, fleet.in_a):
            await post(device.name)
        to_alice, to_globe = await receive_all(alice), await receive_all(globe)
        assert "dev-in-alpha" in to_alice
        assert "dev-in-beta" not in to_alice
        assert "dev-in-no-site" not in to_alice
        assert all(device.name in to_globe for device in (fleet.in_a, fleet.in_b, fleet.loose))

    async def test_the_operations_page_hears_its_sites_operations_only(self, fleet: Fleet) -> None:
        alice = await opened("/ws/operations/", fleet.alice)
        globe = await opened("/ws/operations/", fleet.globe)

        def enqueue() -> list[int]:
            return [
                operation_enqueue(actor=fleet.admin, endpoint=device, kind="READ", path="/3/0/0").pk
                for device in (fleet.in_b, fleet.loose, fleet.in_a)
            ]

        in_b, loose, in_a = await database_sync_to_async(enqueue)()
        to_alice, to_globe = await receive_all(alice), await receive_all(globe)
        assert f'id="operation-{in_a}"' in to_alice
        assert f'id="operation-{in_b}"' not in to_alice
        assert f'id="operation-{loose}"' not in to_alice
        assert all(f'id="operation-{pk}"' in to_globe for pk in (in_a, in_b, loose))

    async def test_a_bulk_enqueue_reaches_each_sites_operations_page_with_its_rows_only(self, fleet: Fleet) -> None:
        alice = await opened("/ws/operations/", fleet.alice)
        globe = await opened("/ws/operations/", fleet.globe)

        def enqueue_many() -> dict[str, int]:
            from telemetry.downlink.queue import operation_request, operations_enqueue_many

            request = operation_request(kind="READ", path="/3/0/0")
            devices = [fleet.in_a, fleet.in_b, fleet.loose]
            queued = operations_enqueue_many(actor=fleet.admin, endpoints=devices, request=request)
            return {device.name: made.pk for device, made in zip(devices, queued, strict=True)}

        made = await database_sync_to_async(enqueue_many)()
        to_alice, to_globe = await receive_all(alice), await receive_all(globe)
        assert f'id="operation-{made["dev-in-alpha"]}"' in to_alice
        assert f'id="operation-{made["dev-in-beta"]}"' not in to_alice
        assert f'id="operation-{made["dev-in-no-site"]}"' not in to_alice
        assert all(f'id="operation-{pk}"' in to_globe for pk in made.values())
        await alice.disconnect()
        await globe.disconnect()

    async def test_the_firmware_page_hears_its_sites_updates_only(self, fleet: Fleet) -> None:
        alice = await opened("/ws/firmware/", fleet.alice)
        globe = await opened("/ws/firmware/", fleet.globe)

        def start() -> list[int]:
            image = make_firmware(version="9.9.9")
            return [
                firmware_services.firmware_update_start(actor=fleet.admin, endpoint=device, firmware=image).pk
                for device in (fleet.in_b, fleet.loose, fleet.in_a)
            ]

        in_b, loose, in_a = await database_sync_to_async(start)()
        to_alice, to_globe = await receive_all(alice), await receive_all(globe)
        assert f'id="update-{in_a}"' in to_alice
        assert f'id="update-{in_b}"' not in to_alice
        assert "dev-in-beta" not in to_alice
        assert "dev-in-no-site" not in to_alice
        assert all(f'id="update-{pk}"' in to_globe for pk in (in_a, in_b, loose))

    async def test_a_campaign_reaches_the_sites_of_its_devices_with_their_devices_only(self, fleet: Fleet) -> None:
        alice = await opened("/ws/firmware/", fleet.alice)
        globe = await opened("/ws/firmware/", fleet.globe)

        def create() -> int:
            image = make_firmware(version="9.9.8")
            devices = [fleet.in_a, fleet.in_b, fleet.loose]
            campaign = firmware_services.campaign_create(
                actor=fleet.admin, name="everywhere", firmware=image, endpoints=devices, waves=[34, 100]
            )
            firmware_services.campaign_pause(actor=fleet.admin, campaign=campaign)
            return campaign.pk

        campaign = await database_sync_to_async(create)()
        to_alice, to_globe = await receive_all(alice), await receive_all(globe)
        assert f'id="campaign-row-{campaign}"' in to_alice  # the campaign as a whole: it has a device in A
        assert f'id="campaign-row-{campaign}"' in to_globe
        for name in ("dev-in-beta", "dev-in-no-site"):
            assert name not in to_alice
        # Wave 0 is dev-in-alpha alone (by name): its update's row goes to site A's page; the two others wait,
        # and the rows of waiting devices (sent again on the pause) go to the global page, not to site A's.
        assert "dev-in-alpha" in to_alice
        assert "dev-in-beta" in to_globe
        assert "dev-in-no-site" in to_globe

    async def test_a_campaign_without_devices_of_a_site_is_not_sent_there(self, fleet: Fleet) -> None:
        alice = await opened("/ws/firmware/", fleet.alice)

        def create() -> int:
            image = make_firmware(version="9.9.7")
            return firmware_services.campaign_create(
                actor=fleet.admin, name="beta-only", firmware=image, endpoints=[fleet.in_b], waves=[100]
            ).pk

        campaign = await database_sync_to_async(create)()
        to_alice = await receive_all(alice)
        assert f"campaign-row-{campaign}" not in to_alice
        assert "beta-only" not in to_alice


class TestRolloutPages:
    async def test_a_rollout_reaches_the_sites_of_its_devices_with_their_rows_only(self, fleet: Fleet) -> None:
        alice = await opened("/ws/rollouts/", fleet.alice)
        globe = await opened("/ws/rollouts/", fleet.globe)

        def create() -> int:
            from telemetry.rollouts import services as rollouts
            from telemetry.rollouts.selectors import Selection

            rollout = rollouts.rollout_create(
                actor=fleet.admin,
                name="time zone everywhere",
                kind="WRITE",
                path="/3/0/14",
                value="+02",
                selection=Selection(endpoints=[fleet.in_a.name, fleet.in_b.name, fleet.loose.name]),
                waves=[100],
            )
            rollouts.rollout_pause(actor=fleet.admin, rollout=rollout)
            return rollout.pk

        rollout = await database_sync_to_async(create)()
        to_alice, to_globe = await receive_all(alice), await receive_all(globe)
        assert f'id="rollout-head-{rollout}"' in to_alice  # the rollout as a whole: it has a device in A
        assert f'id="rollout-head-{rollout}"' in to_globe
        for name in ("dev-in-beta", "dev-in-no-site"):
            assert name not in to_alice
        await alice.disconnect()
        await globe.disconnect()

    async def test_a_rollout_without_devices_of_a_site_is_not_sent_there(self, fleet: Fleet) -> None:
        alice = await opened("/ws/rollouts/", fleet.alice)

        def create() -> int:
            from telemetry.rollouts import services as rollouts
            from telemetry.rollouts.selectors import Selection

            return rollouts.rollout_create(
                actor=fleet.admin,
                name="beta only",
                kind="WRITE",
                path="/3/0/14",
                value="+02",
                selection=Selection(endpoints=[fleet.in_b.name]),
                waves=[100],
            ).pk

        rollout = await database_sync_to_async(create)()
        to_alice = await receive_all(alice)
        assert f"rollout-{rollout}" not in to_alice
        assert "beta only" not in to_alice
        await alice.disconnect()


class TestDeviceSockets:
    async def test_a_device_the_user_may_not_see_is_4404_as_one_that_does_not_exist(self, fleet: Fleet) -> None:
        assert await refused("/ws/endpoints/dev-in-beta/", fleet.alice) == CLOSE_NOT_FOUND
        assert await refused("/ws/endpoints/dev-in-no-site/", fleet.alice) == CLOSE_NOT_FOUND
        assert await refused("/ws/endpoints/no-such-device/", fleet.alice) == CLOSE_NOT_FOUND
        own = await opened("/ws/endpoints/dev-in-alpha/", fleet.alice)
        await post("dev-in-alpha")
        assert '<div id="latest-values" hx-swap-oob="true">' in await receive_all(own)

    async def test_a_global_viewer_opens_any_device(self, fleet: Fleet) -> None:
        for device in (fleet.in_a, fleet.in_b, fleet.loose):
            await opened(f"/ws/endpoints/{device.name}/", fleet.globe)

    @pytest.mark.parametrize("path", ["/ws/dashboard/", "/ws/events/", "/ws/endpoints/dev-in-alpha/"])
    async def test_a_user_with_no_role_anywhere_is_4403(self, fleet: Fleet, path: str) -> None:
        nobody = await database_sync_to_async(make_user)(username="nobody")
        assert await refused(path, nobody) == CLOSE_FORBIDDEN


def set_role(fleet: Fleet, user: Any, site: Site, role: str | None) -> None:
    core_services.user_set_site_role(actor=fleet.admin, user=user, site=site, role=role)


class TestRolesChangedWhileOpen:
    async def test_removing_the_only_site_role_closes_the_sockets_at_once(self, fleet: Fleet, told_only) -> None:
        dashboard = await opened("/ws/dashboard/", fleet.alice)
        device = await opened("/ws/endpoints/dev-in-alpha/", fleet.alice)
        bystander = await opened("/ws/dashboard/", fleet.bob)
        await database_sync_to_async(set_role)(fleet, fleet.alice, fleet.a, None)
        assert await close_code(dashboard) == CLOSE_FORBIDDEN
        assert await close_code(device) == CLOSE_FORBIDDEN
        assert await stays_open(bystander)

    async def test_losing_one_of_two_sites_reloads_the_fleet_pages_and_closes_that_sites_devices(
        self, fleet: Fleet, told_only
    ) -> None:
        dashboard = await opened("/ws/dashboard/", fleet.bob)
        in_a = await opened("/ws/endpoints/dev-in-alpha/", fleet.bob)
        in_b = await opened("/ws/endpoints/dev-in-beta/", fleet.bob)
        await database_sync_to_async(set_role)(fleet, fleet.bob, fleet.b, None)
        assert await close_code(dashboard) == CLOSE_SCOPE_CHANGED
        assert await close_code(in_b) == CLOSE_FORBIDDEN
        assert await stays_open(in_a)

    async def test_a_role_lowered_but_still_a_viewer_keeps_the_sockets(self, fleet: Fleet, told_only) -> None:
        dashboard = await opened("/ws/dashboard/", fleet.bob)
        device = await opened("/ws/endpoints/dev-in-beta/", fleet.bob)
        await database_sync_to_async(set_role)(fleet, fleet.bob, fleet.b, "viewer")  # operator → viewer
        assert await stays_open(dashboard)
        assert await stays_open(device)

    async def test_a_new_site_reloads_the_fleet_pages(self, fleet: Fleet, told_only) -> None:
        dashboard = await opened("/ws/dashboard/", fleet.alice)
        await database_sync_to_async(set_role)(fleet, fleet.alice, fleet.b, "viewer")
        assert await close_code(dashboard) == CLOSE_SCOPE_CHANGED

    async def test_a_site_role_removed_elsewhere_is_found_by_the_periodic_check(
        self, fleet: Fleet, checked_often
    ) -> None:
        dashboard = await opened("/ws/dashboard/", fleet.alice)
        assert await stays_open(dashboard)  # checked several times meanwhile, still allowed
        await database_sync_to_async(lambda: SiteRole.objects.filter(user=fleet.alice).delete())()
        assert await close_code(dashboard) == CLOSE_FORBIDDEN

    async def test_a_device_moved_to_another_site_leaves_the_sites_pages(self, fleet: Fleet, checked_often) -> None:
        dashboard = await opened("/ws/dashboard/", fleet.alice)
        device = await opened("/ws/endpoints/dev-in-alpha/", fleet.alice)
        await database_sync_to_async(lambda: Endpoint.objects.filter(pk=fleet.in_a.pk).update(site=fleet.b))()
        assert await close_code(device) == CLOSE_FORBIDDEN
        await post("dev-in-alpha")  # announced for site B now: nothing of it reaches site A's page
        assert "dev-in-alpha" not in await receive_all(dashboard)
        assert await stays_open(dashboard)

    async def test_a_moved_device_leaves_the_old_sites_dashboards_and_joins_the_new_sites(self, fleet: Fleet) -> None:
        alice = await opened("/ws/dashboard/", fleet.alice)  # site A
        bob = await opened("/ws/dashboard/", fleet.bob)  # sites A and B
        globe = await opened("/ws/dashboard/", fleet.globe)

        def move() -> None:
            chosen = Endpoint.objects.filter(pk=fleet.in_a.pk)
            site_services.endpoints_site_set(actor=fleet.admin, endpoints=chosen, site=fleet.b)

        await database_sync_to_async(move)()
        row = f"endpoint-row-{fleet.in_a.pk}"
        removed = f"delete:#{row}[data-site='{fleet.a.pk}']"
        to_alice, to_bob, to_globe = await receive_all(alice), await receive_all(bob), await receive_all(globe)
        assert removed in to_alice
        assert "afterbegin:#endpoint-rows" not in to_alice
        assert removed in to_bob
        assert f'data-site="{fleet.b.pk}"' in to_bob  # B's group: on top, as one of B's
        assert 'hx-swap-oob="afterbegin:#endpoint-rows[data-new-rows]"' in to_bob
        assert removed not in to_globe
        assert f'<tr id="{row}" data-site="{fleet.b.pk}" hx-swap-oob="true"' in to_globe
        for socket in (alice, bob, globe):
            await socket.disconnect()


class TestTheCheckStaysCheap:
    def test_checking_many_sockets_of_site_users_is_a_constant_number_of_queries(
        self, db: None, django_assert_num_queries
    ) -> None:
        """The sessions, the users, their groups, their site roles, the device sockets' devices: five queries
        for any number of sockets."""
        from django.test import Client

        from realtime.access import SocketAccess, sockets_refused

        def sockets_of(n: int) -> list[SocketAccess]:
            made = []
            for _ in range(n):
                site = Site.objects.create(name=f"site-{Site.objects.count()}")
                user = make_user()
                SiteRole.objects.create(user=user, site=site, role="viewer")
                device = make_endpoint(site=site)
                client = Client()
                client.force_login(user)
                key = client.session.session_key
                made.append(SocketAccess(key, user.pk, Role.VIEWER, sites=frozenset({site.pk})))
                made.append(SocketAccess(key, user.pk, Role.VIEWER, endpoint_id=device.pk))
            return made

        few, many = sockets_of(1), sockets_of(8)
        with django_assert_num_queries(5):
            assert sockets_refused(sockets=few) == {}
        with django_assert_num_queries(5):
            assert sockets_refused(sockets=few + many) == {}
