"""The authorization matrix for users whose role is on one site only: every route of
``test_authorization_matrix.EXPECTED``, tried as each site persona.

A site persona gets what the global persona of the same role gets (``LIKE``) on the devices of its site,
except where ``DIFFERENT`` decides otherwise: what only global roles may do (firmware images, resource
types, sites, the Django admin), what is in no site or in another site (404: a foreign device or site is
not disclosed), and what a site admin may do on their site. The objects are the matrix's own, with its
devices, update, operation and campaign in the site ``home``; its spare site (``o.site``) is in no persona's
reach.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from core.models import Endpoint, SiteRole
from core.roles import Role
from core.sites.services import site_create
from telemetry.models import Rollout
from tests.factories import make_user
from tests.security.test_authorization_matrix import (
    EXPECTED,
    METRICS_TOKEN,
    PERSONAS,
    UNTRUSTED_ADDRESS,
    Objects,
    objects,  # noqa: F401 (the fixture)
    observe,
    request_body,
)

# persona -> (the global persona it is like, the site it holds its role on, the role)
SITE_PERSONAS: dict[str, tuple[str, str, Role]] = {
    "home-viewer": ("viewer", "home", Role.VIEWER),
    "home-operator": ("operator", "home", Role.OPERATOR),
    "home-admin": ("admin", "home", Role.ADMIN),
    "elsewhere-operator": ("operator", "elsewhere", Role.OPERATOR),
}
LIKE = {name: like for name, (like, _site, _role) in SITE_PERSONAS.items()}

# What only a global admin may do (firmware images, sites, global users, the Django admin, the bridge API's
# documentation): a site admin gets what an operator gets.
GLOBAL_ADMIN_ONLY = (
    "admin/",
    "leshan_api/docs",
    "leshan_api/openapi.json",
    "api/v1/firmware",
    "firmware/",
    "firmware/<int:pk>/delete/",
    "api/v1/sites",
    "sites/",
    "users/",  # the matrix's body creates a user with a global role
)


def _global_admin_only(method: str, route: str) -> bool:
    if route.startswith(("admin/", "leshan_api/docs", "leshan_api/openapi.json")):
        return True
    if route == "api/v1/firmware/<version>":
        return method == "DELETE"
    return route in GLOBAL_ADMIN_ONLY and method != "GET"


EVERY_SITE_PERSONA = tuple(SITE_PERSONAS)

# (method, route) -> {persona: status}: where a site persona's answer differs from the rule above.
DIFFERENT: dict[tuple[str, str], dict[str, int]] = {
    # The matrix's site is none of theirs: not disclosed, whatever the role.
    **{
        (method, route): dict.fromkeys(EVERY_SITE_PERSONA, 404)
        for method, route in (
            ("GET", "api/v1/sites/<site_id>"),
            ("PATCH", "api/v1/sites/<site_id>"),
            ("DELETE", "api/v1/sites/<site_id>"),
            ("GET", "api/v1/sites/<site_id>/rules"),
            ("POST", "api/v1/sites/<site_id>/rules"),
            ("DELETE", "api/v1/sites/<site_id>/rules/<rule_id>"),
            ("GET", "api/v1/sites/<site_id>/users"),
            ("PUT", "api/v1/sites/<site_id>/users/<username>"),
            ("DELETE", "api/v1/sites/<site_id>/users/<username>"),
            ("GET", "sites/<int:pk>/"),
            ("POST", "sites/<int:pk>/"),
            ("POST", "sites/<int:pk>/delete/"),
            ("GET", "sites/<int:pk>/rules/preview/"),
            ("POST", "sites/<int:pk>/rules/"),
            ("POST", "sites/<int:pk>/rules/<int:rule_pk>/delete/"),
        )
    },
    # The matrix's notification channel is of every site: a site admin neither sees it (404) nor makes one
    # of every site (403; one of their own site they may).
    **{
        (method, route): {"home-admin": 404}
        for method, route in (
            ("GET", "api/v1/notification-channels/<channel_id>"),
            ("PATCH", "api/v1/notification-channels/<channel_id>"),
            ("DELETE", "api/v1/notification-channels/<channel_id>"),
            ("POST", "api/v1/notification-channels/<channel_id>/test"),
            ("GET", "api/v1/notification-channels/<channel_id>/deliveries"),
            ("GET", "notifications/<int:pk>/"),
            ("POST", "notifications/<int:pk>/"),
            ("POST", "notifications/<int:pk>/test/"),
            ("POST", "notifications/<int:pk>/delete/"),
        )
    },
    ("POST", "api/v1/notification-channels"): {"home-admin": 403},
    ("POST", "notifications/new/"): {"home-admin": 403},
    # The matrix's alarm rule watches every device, and the body of its POST makes another such rule: only
    # global operators manage rules of no site (README "Alarms").
    **{
        (method, route): dict.fromkeys(EVERY_SITE_PERSONA, 403)
        for method, route in (
            ("POST", "api/v1/alarm-rules"),
            ("PATCH", "api/v1/alarm-rules/<rule_id>"),
            ("DELETE", "api/v1/alarm-rules/<rule_id>"),
        )
    },
    # Someone else's token: only a global admin revokes it.
    ("POST", "tokens/<int:pk>/revoke/"): {"home-admin": 404},
    # An operator of another site: the devices of home, their operations, update and campaign do not exist
    # for them (404), the bulk change names an endpoint they cannot see (422 "unknown endpoint name").
    **{
        (method, route): {"elsewhere-operator": 404}
        for method, route in (
            ("GET", "api/v1/endpoints/<endpoint>"),
            ("GET", "api/v1/endpoints/<endpoint>/export.csv"),
            ("GET", "api/v1/endpoints/<endpoint>/readings"),
            ("GET", "api/v1/endpoints/<endpoint>/series"),
            ("POST", "api/v1/endpoints/<endpoint>/operations"),
            ("GET", "api/v1/operations/<operation_id>"),
            ("POST", "api/v1/operations/<operation_id>/cancel"),
            ("POST", "api/v1/operations/<operation_id>/retry"),
            ("POST", "api/v1/firmware-updates"),
            ("POST", "api/v1/firmware-updates/<update_id>/cancel"),
            ("POST", "api/v1/campaigns"),
            ("GET", "api/v1/campaigns/<campaign_id>"),
            ("POST", "api/v1/campaigns/<campaign_id>/pause"),
            ("POST", "api/v1/campaigns/<campaign_id>/resume"),
            ("POST", "api/v1/campaigns/<campaign_id>/abort"),
            ("GET", "endpoints/<str:name>/"),
            ("POST", "endpoints/<str:name>/commands/"),
            ("GET", "endpoints/<str:name>/firmware/"),
            ("POST", "endpoints/<str:name>/firmware/update/"),
            ("POST", "operations/<int:pk>/cancel/"),
            ("POST", "operations/<int:pk>/retry/"),
            ("POST", "firmware/updates/<int:pk>/cancel/"),
            ("GET", "firmware/campaigns/<int:pk>/"),
            ("POST", "firmware/campaigns/<int:pk>/<str:action>/"),
            ("POST", "firmware/campaigns/new/"),
            ("GET", "endpoints/<str:name>/tags/"),
            ("POST", "endpoints/<str:name>/tags/"),
            ("GET", "api/v1/rollouts/<rollout_id>"),
            ("GET", "api/v1/rollouts/<rollout_id>/devices"),
            ("POST", "api/v1/rollouts/<rollout_id>/pause"),
            ("POST", "api/v1/rollouts/<rollout_id>/resume"),
            ("POST", "api/v1/rollouts/<rollout_id>/abort"),
            ("GET", "rollouts/<str:rollout_id>/"),
            ("POST", "rollouts/<str:rollout_id>/<str:action>/"),
            ("GET", "alarms/<int:pk>/"),
            ("POST", "alarms/<int:pk>/<str:action>/"),
            ("GET", "api/v1/endpoints/<endpoint>/credentials"),
            ("PUT", "api/v1/endpoints/<endpoint>/credentials"),
            ("DELETE", "api/v1/endpoints/<endpoint>/credentials"),
            ("GET", "api/v1/provisioning/imports/<batch_id>"),
            ("POST", "api/v1/provisioning/imports/<batch_id>/export"),
            ("GET", "provisioning/imports/<int:pk>/"),
            ("POST", "provisioning/imports/<int:pk>/export/"),
            ("GET", "provisioning/devices/<str:name>/"),
            ("POST", "provisioning/devices/<str:name>/"),
            ("GET", "api/v1/alarms/<alarm_id>"),
            ("POST", "api/v1/alarms/<alarm_id>/acknowledge"),
            ("POST", "api/v1/alarms/<alarm_id>/clear"),
        )
    },
    # A site admin imports new devices into a site of theirs only: the matrix's file names none (422, by line).
    ("POST", "api/v1/provisioning/import"): {"home-admin": 422},
    ("POST", "provisioning/import/"): {"home-admin": 422},
    # ... and a rollout or bulk change naming home's devices names devices unknown to them.
    **{
        (method, route): {"elsewhere-operator": 422}
        for method, route in (
            ("POST", "api/v1/endpoints/bulk"),
            ("POST", "api/v1/rollouts"),
            ("POST", "api/v1/rollouts/preview"),
            ("POST", "rollouts/new/"),
        )
    },
}


@pytest.fixture
def home(objects: Objects) -> Objects:  # noqa: F811 (the fixture above)
    """The matrix's objects with its devices (and so its update, operation and campaign) in site ``home``."""
    home_site = site_create(actor=_system(), name="home")
    site_create(actor=_system(), name="elsewhere")
    Endpoint.objects.update(site=home_site)
    Rollout.objects.filter(pk=objects.campaign.pk).update(site=home_site, sites=[home_site.pk])
    return objects


def _system() -> Any:
    from core.permissions import SYSTEM

    return SYSTEM


def persona_client(name: str) -> Client:
    from core.models import Site

    _like, site_name, role = SITE_PERSONAS[name]
    user = make_user(None, username=f"p-{name}")
    SiteRole.objects.create(user=user, site=Site.objects.get(name=site_name), role=role.value)
    client = Client(REMOTE_ADDR=UNTRUSTED_ADDRESS, raise_request_exception=False)
    client.force_login(user)
    return client


def decided(persona: str, method: str, route: str) -> int:
    if persona in DIFFERENT.get((method, route), {}):
        return DIFFERENT[method, route][persona]
    like = LIKE[persona]
    if like == "admin" and _global_admin_only(method, route):
        like = "operator"
    return EXPECTED[method, route][1][PERSONAS.index(like)]


def test_every_difference_is_about_a_route_the_matrix_decides() -> None:
    assert set(DIFFERENT) <= set(EXPECTED)
    assert all(set(row) <= set(SITE_PERSONAS) for row in DIFFERENT.values())


@pytest.mark.parametrize("persona", list(SITE_PERSONAS))
def test_each_site_persona_gets_the_decided_answer(persona: str, home: Objects, settings: Any) -> None:
    settings.METRICS_TOKEN = METRICS_TOKEN  # as the matrix decides /metrics: no persona reads it
    client = persona_client(persona)
    wrong = []
    for (method, route), (template, _statuses) in sorted(EXPECTED.items()):
        url = home.fill(template)
        status = observe(client, method, url, request_body(method, route, home))
        if status != decided(persona, method, route):
            wrong.append(
                f'    ("{method}", "{route}"): {{"{persona}": {status}}},  # decided {decided(persona, method, route)}'
            )
    assert not wrong, f"{persona} got answers the tables do not decide:\n" + "\n".join(wrong)
