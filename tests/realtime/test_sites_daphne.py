"""Site-scoped sockets through a real daphne process (tests/servers.py): devices arrive from the bridge and
land in their sites by the assignment rules; a site viewer's dashboard hears that site's devices and
counts only, a global viewer's all; a foreign device's socket is 4404; removing the site role closes the
socket (the server's periodic check, or at once over Redis where the test's signal reaches it)."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import aiohttp
import pytest
from django.db import connection
from django.test import Client

from core import services as core_services
from core.models import Site, SiteRole
from core.roles import Role
from core.sites import services as site_services
from realtime.groups import CLOSE_FORBIDDEN, CLOSE_NOT_FOUND
from tests.factories import make_user
from tests.servers import daphne

pytestmark = pytest.mark.django_db(transaction=True)

BOUND = 20.0  # seconds any one step may take at most (a bound, not a timed assertion)


def cookie(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def body(name: str, value: float) -> str:
    return json.dumps(
        {
            "ep": name,
            "obj_id": 3303,
            "val": {"kind": "singleResource", "id": 5700, "type": "FLOAT", "value": str(value)},
        }
    )


async def until(socket: aiohttp.ClientWebSocketResponse, seen: list[str], done: Any) -> None:
    """Read text messages into ``seen`` until ``done("".join(seen))``."""
    while not done("".join(seen)):
        message = await asyncio.wait_for(socket.receive(), timeout=BOUND)
        assert message.type == aiohttp.WSMsgType.TEXT, message
        seen.append(message.data)


async def close_code(socket: aiohttp.ClientWebSocketResponse) -> int:
    """The code the server closes with (text messages before it skipped)."""
    while True:
        message = await asyncio.wait_for(socket.receive(), timeout=BOUND)
        if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
            return int(message.data or socket.close_code or 0)


def remove_role(admin: Any, user: Any, site: Site) -> None:
    """In a thread of its own, whose database connection is closed afterwards (the test database is dropped
    at the end of the run)."""
    try:
        core_services.user_set_site_role(actor=admin, user=user, site=site, role=None)
    finally:
        connection.close()


def counted(pushed: str, element_id: str) -> int | None:
    """The devices the last counts section ``element_id`` pushed counts, None before the first."""
    return last_counts(pushed, element_id)["devices"] if f'<section id="{element_id}"' in pushed else None


def last_counts(pushed: str, element_id: str) -> dict[str, int]:
    sections = re.findall(rf'<section id="{element_id}".*?</section>', pushed, re.S)
    assert sections, f"no {element_id} pushed"
    return {kind: int(n) for n, kind in re.findall(r'<span class="number">(\d+)</span> (\w+)', sections[-1])}


def test_a_site_viewer_hears_their_site_only_through_a_real_server() -> None:
    a, b = Site.objects.create(name="Alpha"), Site.objects.create(name="Beta")
    admin = make_user(Role.ADMIN, username="boss")
    site_services.site_rule_create(actor=admin, site=a, kind="prefix", text="alpha-")
    site_services.site_rule_create(actor=admin, site=b, kind="prefix", text="beta-")
    alice, globe = make_user(username="alice"), make_user(Role.VIEWER, username="globe")
    SiteRole.objects.create(user=alice, site=a, role="viewer")
    alice_cookie, globe_cookie = cookie(alice), cookie(globe)
    site_a = f"fleet-counts-site-{a.pk}"

    with daphne() as url:

        async def scenario() -> tuple[str, str, int, int]:
            async with aiohttp.ClientSession() as session:

                async def socket(path: str, who: str) -> aiohttp.ClientWebSocketResponse:
                    return await session.ws_connect(f"{url}{path}", headers={"Origin": url, "Cookie": who})

                async def post(name: str, value: float) -> None:
                    headers = {"Content-Type": "application/json"}
                    async with session.post(
                        f"{url}/leshan_api/resource/single", data=body(name, value), headers=headers
                    ) as r:
                        assert r.status == 201

                to_alice, to_globe = (
                    await socket("/ws/dashboard/", alice_cookie),
                    await socket("/ws/dashboard/", globe_cookie),
                )
                for name in ("beta-1", "loose-1", "alpha-1"):  # new devices: the rules give them their sites
                    await post(name, 1.0)
                await post("beta-1", 2.0)  # known devices: announced to the site they are in
                await post("alpha-1", 2.0)
                seen_alice: list[str] = []
                seen_globe: list[str] = []
                # Until every row came and the last counts pushed count every device: each push is rendered when
                # sent, so one may count devices whose rows come in a later one.
                names = ("beta-1", "loose-1", "alpha-1")

                def globe_done(text: str) -> bool:
                    return counted(text, "fleet-counts") == 3 and all(name in text for name in names)

                await until(to_globe, seen_globe, globe_done)
                await until(to_alice, seen_alice, lambda text: "alpha-1" in text and counted(text, site_a) == 1)

                foreign = await socket("/ws/endpoints/beta-1/", alice_cookie)
                refused = await close_code(foreign)
                own = await socket("/ws/endpoints/alpha-1/", alice_cookie)
                await asyncio.to_thread(remove_role, admin, alice, a)
                closed = await close_code(to_alice)
                assert await close_code(own) == CLOSE_FORBIDDEN
                await to_globe.close()
                return "".join(seen_alice), "".join(seen_globe), refused, closed

        pushed_alice, pushed_globe, refused, closed = asyncio.run(scenario())

    assert "beta-1" not in pushed_alice
    assert "loose-1" not in pushed_alice
    assert 'id="fleet-counts"' not in pushed_alice
    assert last_counts(pushed_alice, site_a)["online"] == 1
    assert "fleet-counts-site-" not in pushed_globe
    assert refused == CLOSE_NOT_FOUND
    assert closed == CLOSE_FORBIDDEN
