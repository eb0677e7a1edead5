"""Behind a proxy: the client address (for the bridge's trusted networks and the login throttle) comes from
X-Forwarded-For only when the request comes from one of TRUSTED_PROXIES, and only its right-most part."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from django.test import Client, RequestFactory

from core.http import client_address
from core.roles import Role
from tests.factories import make_user
from tests.security.test_login_throttle import PASSWORD, log_in
from tests.telemetry.bridge_client import post, reference_payload

PROXY = "10.0.0.5"


@pytest.fixture
def behind_proxy(settings: Any) -> None:
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/29")]


def address(remote: str, forwarded: str | None = None) -> str | None:
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    ip = client_address(RequestFactory().get("/", REMOTE_ADDR=remote, **extra))
    return None if ip is None else str(ip)


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        ("192.0.2.1", None, "192.0.2.1"),  # no proxy
        ("192.0.2.1", "198.51.100.9", "192.0.2.1"),  # a client's own header is never believed
        ("::ffff:192.0.2.1", None, "192.0.2.1"),  # IPv4-mapped IPv6 is the IPv4 address
        ("not an address", None, None),
    ],
)
def test_without_trusted_proxies_it_is_remote_addr(remote: str, forwarded: str | None, expected: str | None) -> None:
    assert address(remote, forwarded) == expected


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        ("198.51.100.9", "198.51.100.9"),
        ("127.0.0.1, 198.51.100.9", "198.51.100.9"),  # the client wrote the left part: ignored
        ("198.51.100.9, 10.0.0.6", "198.51.100.9"),  # a second trusted proxy in the chain is skipped
        ("2001:db8::7", "2001:db8::7"),
        ("198.51.100.9, garbage", None),  # what the nearest proxy passed on is not an address: no address
        ("", PROXY),  # the proxy sent no header: the proxy itself
        ("10.0.0.6", PROXY),  # only proxies: the nearest one
    ],
)
def test_from_a_trusted_proxy_it_is_the_right_most_untrusted_hop(
    behind_proxy: None, forwarded: str, expected: str | None
) -> None:
    assert address(PROXY, forwarded) == expected


@pytest.mark.django_db
class TestBehindAProxy:
    def test_an_outside_client_is_not_trusted_by_the_bridge_because_the_proxy_is_local(self, settings: Any) -> None:
        """The proxy on the same machine (127.0.0.1) must not make every bridge post 'from a trusted network'."""
        settings.TRUSTED_PROXIES = [ipaddress.ip_network("127.0.0.1/32")]
        outside = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.9")
        response = post(outside, "single", reference_payload("single.json"))
        assert response.status_code == 401
        local = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="127.0.0.1")
        assert post(local, "single", reference_payload("single.json")).status_code == 201

    def test_a_forged_header_does_not_earn_trust_without_a_trusted_proxy(self) -> None:
        forged = Client(REMOTE_ADDR="192.0.2.10", HTTP_X_FORWARDED_FOR="127.0.0.1")
        assert post(forged, "single", reference_payload("single.json")).status_code == 401

    def test_the_login_throttle_counts_each_client_not_the_proxy(self, settings: Any, behind_proxy: None) -> None:
        settings.LOGIN_ADDRESS_FAILURE_LIMIT = 3
        user = make_user(Role.VIEWER)
        attacker = Client(HTTP_X_FORWARDED_FOR="198.51.100.66")
        statuses = [log_in(attacker, name, "x", address=PROXY).status_code for name in ("a", "b", "c")]
        assert statuses == [200, 200, 429]
        # Another client behind the same proxy logs in; the attacker's address stays locked.
        assert (
            log_in(Client(HTTP_X_FORWARDED_FOR="198.51.100.7"), user.username, PASSWORD, address=PROXY).status_code
            == 302
        )
        assert log_in(attacker, user.username, PASSWORD, address=PROXY).status_code == 429
