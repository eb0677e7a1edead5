"""Who may reach what: every URL pattern (pages, admin, both ninja APIs) and every websocket route, tried as
each persona, against an explicit table of expected answers.

A route that the table does not know fails the test: decide who may use it and add it to ``EXPECTED``
(pages, APIs) or ``WS_EXPECTED`` (websockets). Each request runs in a savepoint that is rolled back, so every
request meets the same objects.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from http.cookies import SimpleCookie
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import URLPattern, URLResolver, get_resolver

from core.lwm2m.nodes import Path, Reading
from core.lwm2m.types import DataType
from core.models import Endpoint, ResourceType
from core.roles import Role
from core.services import token_create, user_set_site_role
from core.sites.services import site_create, site_rule_create
from firmware.services import campaign_create, firmware_update_start
from realtime.routing import websocket_urlpatterns
from telemetry.alarms.services import alarm_raise, alarm_rule_create
from telemetry.downlink.queue import operation_enqueue
from telemetry.ingest import ingest
from telemetry.models import Event, EventResource, Resource
from telemetry.notifications.models import NotificationChannel
from telemetry.provisioning.imports import fleet_import
from telemetry.rollouts.selectors import Selection
from telemetry.rollouts.services import rollout_create
from tests.factories import make_endpoint, make_firmware, make_user

PERSONAS = ("anonymous", "outsider", "viewer", "operator", "admin", "superuser", "bridge")
BRIDGE_TOKEN = "bridge-token-for-the-authorization-matrix"
METRICS_TOKEN = "metrics-token-for-the-authorization-matrix"
UNTRUSTED_ADDRESS = "192.0.2.10"  # outside BRIDGE_TRUSTED_NETWORKS: the bridge needs its token
PASSWORD = "correct horse battery staple"


# --- the decisions -------------------------------------------------------------------------------------------
# (method, route) -> (url template, statuses in PERSONAS order). Routes as Django's resolver spells them;
# templates are filled from Objects (below). GET and POST are decided for every page; each ninja operation
# for its methods.

Row = tuple[str, tuple[int, ...]]
EXPECTED: dict[tuple[str, str], Row] = {
    # Pages: login needed (302 to the login page), a role (403 without), the operator or admin role to act.
    # The bridge's token is no login: it gets what an anonymous visitor gets. APIs answer 401 instead.
    ("GET", ""): ("/", (302, 403, 200, 200, 200, 200, 302)),
    ("POST", ""): ("/", (302, 405, 405, 405, 405, 405, 302)),
    ("GET", "endpoints/<str:name>/"): ("/endpoints/{o.endpoint.name}/", (302, 403, 200, 200, 200, 200, 302)),
    ("POST", "endpoints/<str:name>/"): ("/endpoints/{o.endpoint.name}/", (302, 405, 405, 405, 405, 405, 302)),
    ("GET", "endpoints/<str:name>/commands/"): (
        "/endpoints/{o.endpoint.name}/commands/",
        (302, 405, 405, 405, 405, 405, 302),
    ),
    ("POST", "endpoints/<str:name>/commands/"): (
        "/endpoints/{o.endpoint.name}/commands/",
        (302, 403, 403, 302, 302, 302, 302),
    ),
    ("GET", "events/"): ("/events/", (302, 403, 200, 200, 200, 200, 302)),
    ("POST", "events/"): ("/events/", (302, 405, 405, 405, 405, 405, 302)),
    ("GET", "operations/"): ("/operations/", (302, 403, 200, 200, 200, 200, 302)),
    ("POST", "operations/"): ("/operations/", (302, 405, 405, 405, 405, 405, 302)),
    ("GET", "operations/<int:pk>/cancel/"): (
        "/operations/{o.operation.pk}/cancel/",
        (302, 405, 405, 405, 405, 405, 302),
    ),
    ("POST", "operations/<int:pk>/cancel/"): (
        "/operations/{o.operation.pk}/cancel/",
        (302, 403, 403, 302, 302, 302, 302),
    ),
    ("GET", "operations/<int:pk>/retry/"): ("/operations/{o.operation.pk}/retry/", (302, 405, 405, 405, 405, 405, 302)),
    ("POST", "operations/<int:pk>/retry/"): (
        "/operations/{o.operation.pk}/retry/",
        (302, 403, 403, 409, 409, 409, 302),
    ),
    ("GET", "firmware/"): ("/firmware/", (302, 403, 200, 200, 200, 200, 302)),
    ("POST", "firmware/"): ("/firmware/", (302, 403, 403, 403, 302, 302, 302)),
    ("GET", "firmware/<int:pk>/delete/"): ("/firmware/{o.firmware.pk}/delete/", (302, 405, 405, 405, 405, 405, 302)),
    ("POST", "firmware/<int:pk>/delete/"): ("/firmware/{o.firmware.pk}/delete/", (302, 403, 403, 403, 409, 409, 302)),
    ("GET", "firmware/package/<str:token>/<str:filename>"): (
        "/firmware/package/{o.firmware.download_token}/{o.firmware.filename}",
        (200, 200, 200, 200, 200, 200, 200),
    ),
    ("HEAD", "firmware/package/<str:token>/<str:filename>"): (
        "/firmware/package/{o.firmware.download_token}/{o.firmware.filename}",
        (200, 200, 200, 200, 200, 200, 200),
    ),
    ("POST", "firmware/package/<str:token>/<str:filename>"): (
        "/firmware/package/{o.firmware.download_token}/{o.firmware.filename}",
        (405, 405, 405, 405, 405, 405, 405),
    ),
    ("GET", "firmware/updates/<int:pk>/cancel/"): (
        "/firmware/updates/{o.update.pk}/cancel/",
        (302, 405, 405, 405, 405, 405, 302),
    ),
    ("POST", "firmware/updates/<int:pk>/cancel/"): (
        "/firmware/updates/{o.update.pk}/cancel/",
        (302, 403, 403, 302, 302, 302, 302),
    ),
    ("GET", "firmware/campaigns/new/"): ("/firmware/campaigns/new/", (302, 403, 403, 200, 200, 200, 302)),
    ("POST", "firmware/campaigns/new/"): ("/firmware/campaigns/new/", (302, 403, 403, 302, 302, 302, 302)),
    ("GET", "firmware/campaigns/<int:pk>/"): (
        "/firmware/campaigns/{o.campaign.number}/",
        (302, 403, 200, 200, 200, 200, 302),
    ),
    ("POST", "firmware/campaigns/<int:pk>/"): (
        "/firmware/campaigns/{o.campaign.number}/",
        (302, 405, 405, 405, 405, 405, 302),
    ),
    ("GET", "firmware/campaigns/<int:pk>/<str:action>/"): (
        "/firmware/campaigns/{o.campaign.number}/pause/",
        (302, 405, 405, 405, 405, 405, 302),
    ),
    ("POST", "firmware/campaigns/<int:pk>/<str:action>/"): (
        "/firmware/campaigns/{o.campaign.number}/pause/",
        (302, 403, 403, 302, 302, 302, 302),
    ),
    ("GET", "endpoints/<str:name>/firmware/"): (
        "/endpoints/{o.endpoint.name}/firmware/",
        (302, 403, 200, 200, 200, 200, 302),
    ),
    ("POST", "endpoints/<str:name>/firmware/"): (
        "/endpoints/{o.endpoint.name}/firmware/",
        (302, 405, 405, 405, 405, 405, 302),
    ),
    ("GET", "endpoints/<str:name>/firmware/update/"): (
        "/endpoints/{o.endpoint.name}/firmware/update/",
        (302, 405, 405, 405, 405, 405, 302),
    ),
    ("POST", "endpoints/<str:name>/firmware/update/"): (
        "/endpoints/{o.endpoint.name}/firmware/update/",
        (302, 403, 403, 302, 302, 302, 302),
    ),
    # A device's site and labels (its page's form; GET: the form, for operators of its site), the dashboard's
    # bulk change (its first post counts the devices and asks to confirm: 200).
    ("GET", "endpoints/<str:name>/tags/"): ("/endpoints/{o.endpoint.name}/tags/", (302, 403, 403, 200, 200, 200, 302)),
    ("POST", "endpoints/<str:name>/tags/"): (
        "/endpoints/{o.endpoint.name}/tags/",
        (302, 403, 403, 302, 302, 302, 302),
    ),
    ("GET", "bulk/"): ("/bulk/", (302, 405, 405, 405, 405, 405, 302)),
    ("POST", "bulk/"): ("/bulk/", (302, 403, 403, 200, 200, 200, 302)),
    # The sites pages: viewers read; global admins create, change and delete sites; admins (global or of the
    # site) its rules.
    ("GET", "sites/"): ("/sites/", (302, 403, 200, 200, 200, 200, 302)),
    ("POST", "sites/"): ("/sites/", (302, 403, 403, 403, 302, 302, 302)),
    ("GET", "sites/<int:pk>/"): ("/sites/{o.site.pk}/", (302, 403, 200, 200, 200, 200, 302)),
    ("POST", "sites/<int:pk>/"): ("/sites/{o.site.pk}/", (302, 403, 403, 403, 302, 302, 302)),
    ("GET", "sites/<int:pk>/delete/"): ("/sites/{o.site.pk}/delete/", (302, 405, 405, 405, 405, 405, 302)),
    ("POST", "sites/<int:pk>/delete/"): ("/sites/{o.site.pk}/delete/", (302, 403, 403, 403, 302, 302, 302)),
    ("GET", "sites/<int:pk>/rules/"): ("/sites/{o.site.pk}/rules/", (302, 405, 405, 405, 405, 405, 302)),
    ("POST", "sites/<int:pk>/rules/"): ("/sites/{o.site.pk}/rules/", (302, 403, 403, 403, 302, 302, 302)),
    ("GET", "sites/<int:pk>/rules/preview/"): (
        "/sites/{o.site.pk}/rules/preview/?kind=prefix&text=urn",
        (302, 403, 200, 200, 200, 200, 302),
    ),
    ("POST", "sites/<int:pk>/rules/preview/"): (
        "/sites/{o.site.pk}/rules/preview/",
        (302, 405, 405, 405, 405, 405, 302),
    ),
    ("GET", "sites/<int:pk>/rules/<int:rule_pk>/delete/"): (
        "/sites/{o.site.pk}/rules/{o.rule.pk}/delete/",
        (302, 405, 405, 405, 405, 405, 302),
    ),
    ("POST", "sites/<int:pk>/rules/<int:rule_pk>/delete/"): (
        "/sites/{o.site.pk}/rules/{o.rule.pk}/delete/",
        (302, 403, 403, 403, 302, 302, 302),
    ),
    # Rollouts: viewers read, operators start and steer them (a site operator on their sites' devices).
    ("GET", "rollouts/"): ("/rollouts/", (302, 403, 200, 200, 200, 200, 302)),
    ("POST", "rollouts/"): ("/rollouts/", (302, 405, 405, 405, 405, 405, 302)),
    ("GET", "rollouts/new/"): ("/rollouts/new/", (302, 403, 403, 200, 200, 200, 302)),
    ("POST", "rollouts/new/"): ("/rollouts/new/", (302, 403, 403, 302, 302, 302, 302)),
    ("GET", "rollouts/preview/"): ("/rollouts/preview/", (302, 403, 403, 200, 200, 200, 302)),
    ("POST", "rollouts/preview/"): ("/rollouts/preview/", (302, 405, 405, 405, 405, 405, 302)),
    ("GET", "rollouts/<str:rollout_id>/"): ("/rollouts/{o.rollout.pk}/", (302, 403, 200, 200, 200, 200, 302)),
    ("POST", "rollouts/<str:rollout_id>/"): ("/rollouts/{o.rollout.pk}/", (302, 405, 405, 405, 405, 405, 302)),
    ("GET", "rollouts/<str:rollout_id>/<str:action>/"): (
        "/rollouts/{o.rollout.pk}/pause/",
        (302, 405, 405, 405, 405, 405, 302),
    ),
    ("POST", "rollouts/<str:rollout_id>/<str:action>/"): (
        "/rollouts/{o.rollout.pk}/pause/",
        (302, 403, 403, 302, 302, 302, 302),
    ),
    # Alarms: viewers read them, operators (of the device's site) acknowledge and clear them.
    ("GET", "alarms/"): ("/alarms/", (302, 403, 200, 200, 200, 200, 302)),
    ("POST", "alarms/"): ("/alarms/", (302, 405, 405, 405, 405, 405, 302)),
    ("GET", "alarms/<int:pk>/"): ("/alarms/{o.alarm.pk}/", (302, 403, 200, 200, 200, 200, 302)),
    ("POST", "alarms/<int:pk>/"): ("/alarms/{o.alarm.pk}/", (302, 405, 405, 405, 405, 405, 302)),
    ("GET", "alarms/<int:pk>/<str:action>/"): (
        "/alarms/{o.alarm.pk}/acknowledge/",
        (302, 405, 405, 405, 405, 405, 302),
    ),
    ("POST", "alarms/<int:pk>/<str:action>/"): (
        "/alarms/{o.alarm.pk}/acknowledge/",
        (302, 403, 403, 302, 302, 302, 302),
    ),
    # Provisioning: operators see modes and push states, admins (global or of the device's site) manage
    # credentials, import, export and sync.
    ("GET", "provisioning/"): ("/provisioning/", (302, 403, 403, 200, 200, 200, 302)),
    ("POST", "provisioning/"): ("/provisioning/", (302, 405, 405, 405, 405, 405, 302)),
    ("GET", "provisioning/sync/"): ("/provisioning/sync/", (302, 405, 405, 405, 405, 405, 302)),
    ("POST", "provisioning/sync/"): ("/provisioning/sync/", (302, 403, 403, 403, 302, 302, 302)),
    ("GET", "provisioning/import/"): ("/provisioning/import/", (302, 405, 405, 405, 405, 405, 302)),
    ("POST", "provisioning/import/"): ("/provisioning/import/", (302, 403, 403, 403, 302, 302, 302)),
    ("GET", "provisioning/imports/<int:pk>/"): (
        "/provisioning/imports/{o.batch.pk}/",
        (302, 403, 403, 200, 200, 200, 302),
    ),
    ("POST", "provisioning/imports/<int:pk>/"): (
        "/provisioning/imports/{o.batch.pk}/",
        (302, 405, 405, 405, 405, 405, 302),
    ),
    ("GET", "provisioning/imports/<int:pk>/export/"): (
        "/provisioning/imports/{o.batch.pk}/export/",
        (302, 405, 405, 405, 405, 405, 302),
    ),
    ("POST", "provisioning/imports/<int:pk>/export/"): (
        "/provisioning/imports/{o.batch.pk}/export/",
        (302, 403, 403, 403, 200, 200, 302),
    ),
    ("GET", "provisioning/devices/<str:name>/"): (
        "/provisioning/devices/{o.endpoint.name}/",
        (302, 403, 403, 200, 200, 200, 302),
    ),
    ("POST", "provisioning/devices/<str:name>/"): (
        "/provisioning/devices/{o.endpoint.name}/",
        (302, 403, 403, 403, 200, 200, 302),
    ),
    ("GET", "users/"): ("/users/", (302, 403, 403, 403, 200, 200, 302)),
    ("POST", "users/"): ("/users/", (302, 403, 403, 403, 201, 201, 302)),
    ("GET", "tokens/"): ("/tokens/", (302, 403, 200, 200, 200, 200, 302)),
    ("POST", "tokens/"): ("/tokens/", (302, 403, 201, 201, 201, 201, 302)),
    ("GET", "tokens/<int:pk>/revoke/"): ("/tokens/{o.token.pk}/revoke/", (302, 405, 405, 405, 405, 405, 302)),
    ("POST", "tokens/<int:pk>/revoke/"): ("/tokens/{o.token.pk}/revoke/", (302, 403, 404, 404, 302, 302, 302)),
    ("GET", "accounts/login/"): ("/accounts/login/", (200, 200, 200, 200, 200, 200, 200)),
    ("POST", "accounts/login/"): ("/accounts/login/", (200, 200, 200, 200, 200, 200, 200)),
    ("GET", "accounts/logout/"): ("/accounts/logout/", (405, 405, 405, 405, 405, 405, 405)),
    ("POST", "accounts/logout/"): ("/accounts/logout/", (302, 302, 302, 302, 302, 302, 302)),
    ("GET", "accounts/password_change/"): ("/accounts/password_change/", (302, 200, 200, 200, 200, 200, 302)),
    ("POST", "accounts/password_change/"): ("/accounts/password_change/", (302, 200, 200, 200, 200, 200, 302)),
    ("GET", "accounts/password_change/done/"): ("/accounts/password_change/done/", (302, 200, 200, 200, 200, 200, 302)),
    ("POST", "accounts/password_change/done/"): (
        "/accounts/password_change/done/",
        (302, 405, 405, 405, 405, 405, 302),
    ),
    ("GET", "healthz"): ("/healthz", (200, 200, 200, 200, 200, 200, 200)),
    ("POST", "healthz"): ("/healthz", (405, 405, 405, 405, 405, 405, 405)),
    # Readiness is for the load balancer, as /healthz. /metrics wants METRICS_TOKEN (set here) or an address of
    # METRICS_ALLOW: no login, session or bridge token is enough.
    ("GET", "readyz"): ("/readyz", (200, 200, 200, 200, 200, 200, 200)),
    ("POST", "readyz"): ("/readyz", (405, 405, 405, 405, 405, 405, 405)),
    ("GET", "metrics"): ("/metrics", (403, 403, 403, 403, 403, 403, 403)),
    ("POST", "metrics"): ("/metrics", (405, 405, 405, 405, 405, 405, 405)),
    ("GET", "favicon.ico"): ("/favicon.ico", (301, 301, 301, 301, 301, 301, 301)),
    ("POST", "favicon.ico"): ("/favicon.ico", (405, 405, 405, 405, 405, 405, 405)),
    ("GET", "admin/"): ("/admin/", (302, 302, 302, 302, 200, 200, 302)),
    ("POST", "admin/"): ("/admin/", (302, 302, 302, 302, 200, 200, 302)),
    ("GET", "admin/login/"): ("/admin/login/", (200, 200, 200, 200, 302, 302, 200)),
    ("POST", "admin/login/"): ("/admin/login/", (200, 200, 200, 200, 200, 200, 200)),
    ("GET", "admin/logout/"): ("/admin/logout/", (302, 302, 302, 302, 405, 405, 302)),
    ("POST", "admin/logout/"): ("/admin/logout/", (302, 302, 302, 302, 302, 302, 302)),
    ("GET", "admin/password_change/"): ("/admin/password_change/", (302, 302, 302, 302, 200, 200, 302)),
    ("POST", "admin/password_change/"): ("/admin/password_change/", (302, 302, 302, 302, 200, 200, 302)),
    ("GET", "admin/password_change/done/"): ("/admin/password_change/done/", (302, 302, 302, 302, 200, 200, 302)),
    ("POST", "admin/password_change/done/"): ("/admin/password_change/done/", (302, 302, 302, 302, 405, 405, 302)),
    ("GET", "admin/autocomplete/"): ("/admin/autocomplete/", (302, 302, 302, 302, 403, 403, 302)),
    ("POST", "admin/autocomplete/"): ("/admin/autocomplete/", (302, 302, 302, 302, 405, 405, 302)),
    ("GET", "admin/jsi18n/"): ("/admin/jsi18n/", (302, 302, 302, 302, 200, 200, 302)),
    ("POST", "admin/jsi18n/"): ("/admin/jsi18n/", (302, 302, 302, 302, 405, 405, 302)),
    ("GET", "leshan_api/openapi.json"): ("/leshan_api/openapi.json", (302, 302, 302, 302, 200, 200, 302)),
    ("POST", "leshan_api/openapi.json"): ("/leshan_api/openapi.json", (302, 302, 302, 302, 200, 200, 302)),
    ("GET", "leshan_api/docs"): ("/leshan_api/docs", (302, 302, 302, 302, 200, 200, 302)),
    ("POST", "leshan_api/docs"): ("/leshan_api/docs", (302, 302, 302, 302, 200, 200, 302)),
    ("POST", "leshan_api/resource/single"): ("/leshan_api/resource/single", (401, 401, 401, 401, 401, 401, 201)),
    ("POST", "leshan_api/resource/composite"): ("/leshan_api/resource/composite", (401, 401, 401, 401, 401, 401, 201)),
    ("POST", "leshan_api/resource/timestamped"): (
        "/leshan_api/resource/timestamped",
        (401, 401, 401, 401, 401, 401, 201),
    ),
    ("GET", "leshan_api/data/<resource_name>/"): ("/leshan_api/data/temperature/", (401, 403, 200, 200, 200, 200, 401)),
    ("GET", "leshan_api/"): ("/leshan_api/", (404, 404, 404, 404, 404, 404, 404)),
    ("POST", "leshan_api/"): ("/leshan_api/", (404, 404, 404, 404, 404, 404, 404)),
    ("GET", "api/v1/openapi.json"): ("/api/v1/openapi.json", (302, 200, 200, 200, 200, 200, 302)),
    ("POST", "api/v1/openapi.json"): ("/api/v1/openapi.json", (302, 200, 200, 200, 200, 200, 302)),
    ("GET", "api/v1/docs"): ("/api/v1/docs", (302, 200, 200, 200, 200, 200, 302)),
    ("POST", "api/v1/docs"): ("/api/v1/docs", (302, 200, 200, 200, 200, 200, 302)),
    ("GET", "api/v1/endpoints"): ("/api/v1/endpoints", (401, 403, 200, 200, 200, 200, 401)),
    ("GET", "api/v1/endpoints/<endpoint>"): (
        "/api/v1/endpoints/{o.endpoint.name}",
        (401, 403, 200, 200, 200, 200, 401),
    ),
    ("GET", "api/v1/endpoints/<endpoint>/series"): (
        "/api/v1/endpoints/{o.endpoint.name}/series",
        (401, 403, 422, 422, 422, 422, 401),
    ),
    ("GET", "api/v1/endpoints/<endpoint>/readings"): (
        "/api/v1/endpoints/{o.endpoint.name}/readings",
        (401, 403, 422, 422, 422, 422, 401),
    ),
    ("GET", "api/v1/endpoints/<endpoint>/export.csv"): (
        "/api/v1/endpoints/{o.endpoint.name}/export.csv",
        (401, 403, 200, 200, 200, 200, 401),
    ),
    ("GET", "api/v1/events"): ("/api/v1/events", (401, 403, 200, 200, 200, 200, 401)),
    ("POST", "api/v1/endpoints/<endpoint>/operations"): (
        "/api/v1/endpoints/{o.endpoint.name}/operations",
        (401, 403, 403, 201, 201, 201, 401),
    ),
    ("GET", "api/v1/operations"): ("/api/v1/operations", (401, 403, 200, 200, 200, 200, 401)),
    ("GET", "api/v1/operations/<operation_id>"): (
        "/api/v1/operations/{o.operation.pk}",
        (401, 403, 200, 200, 200, 200, 401),
    ),
    ("POST", "api/v1/operations/<operation_id>/cancel"): (
        "/api/v1/operations/{o.operation.pk}/cancel",
        (401, 403, 403, 200, 200, 200, 401),
    ),
    ("POST", "api/v1/operations/<operation_id>/retry"): (
        "/api/v1/operations/{o.operation.pk}/retry",
        (401, 403, 403, 409, 409, 409, 401),
    ),
    ("GET", "api/v1/firmware"): ("/api/v1/firmware", (401, 403, 200, 200, 200, 200, 401)),
    ("POST", "api/v1/firmware"): ("/api/v1/firmware", (401, 403, 403, 403, 201, 201, 401)),
    ("DELETE", "api/v1/firmware/<version>"): (
        "/api/v1/firmware/{o.firmware.version}",
        (401, 403, 403, 403, 409, 409, 401),
    ),
    ("GET", "api/v1/firmware-updates"): ("/api/v1/firmware-updates", (401, 403, 200, 200, 200, 200, 401)),
    ("POST", "api/v1/firmware-updates"): ("/api/v1/firmware-updates", (401, 403, 403, 201, 201, 201, 401)),
    ("POST", "api/v1/firmware-updates/<update_id>/cancel"): (
        "/api/v1/firmware-updates/{o.update.pk}/cancel",
        (401, 403, 403, 200, 200, 200, 401),
    ),
    ("GET", "api/v1/campaigns"): ("/api/v1/campaigns", (401, 403, 200, 200, 200, 200, 401)),
    ("POST", "api/v1/campaigns"): ("/api/v1/campaigns", (401, 403, 403, 201, 201, 201, 401)),
    ("GET", "api/v1/campaigns/<campaign_id>"): (
        "/api/v1/campaigns/{o.campaign.number}",
        (401, 403, 200, 200, 200, 200, 401),
    ),
    ("POST", "api/v1/campaigns/<campaign_id>/pause"): (
        "/api/v1/campaigns/{o.campaign.number}/pause",
        (401, 403, 403, 200, 200, 200, 401),
    ),
    ("POST", "api/v1/campaigns/<campaign_id>/resume"): (
        "/api/v1/campaigns/{o.campaign.number}/resume",
        (401, 403, 403, 409, 409, 409, 401),
    ),
    ("POST", "api/v1/campaigns/<campaign_id>/abort"): (
        "/api/v1/campaigns/{o.campaign.number}/abort",
        (401, 403, 403, 200, 200, 200, 401),
    ),
    ("GET", "api/v1/rollouts"): ("/api/v1/rollouts", (401, 403, 200, 200, 200, 200, 401)),
    ("POST", "api/v1/rollouts"): ("/api/v1/rollouts", (401, 403, 403, 201, 201, 201, 401)),
    ("POST", "api/v1/rollouts/preview"): ("/api/v1/rollouts/preview", (401, 403, 403, 200, 200, 200, 401)),
    ("GET", "api/v1/rollouts/<rollout_id>"): ("/api/v1/rollouts/{o.rollout.pk}", (401, 403, 200, 200, 200, 200, 401)),
    ("GET", "api/v1/rollouts/<rollout_id>/devices"): (
        "/api/v1/rollouts/{o.rollout.pk}/devices",
        (401, 403, 200, 200, 200, 200, 401),
    ),
    ("POST", "api/v1/rollouts/<rollout_id>/pause"): (
        "/api/v1/rollouts/{o.rollout.pk}/pause",
        (401, 403, 403, 200, 200, 200, 401),
    ),
    ("POST", "api/v1/rollouts/<rollout_id>/resume"): (
        "/api/v1/rollouts/{o.rollout.pk}/resume",
        (401, 403, 403, 409, 409, 409, 401),
    ),
    ("POST", "api/v1/rollouts/<rollout_id>/abort"): (
        "/api/v1/rollouts/{o.rollout.pk}/abort",
        (401, 403, 403, 200, 200, 200, 401),
    ),
    # Notification channels: admins only (global admins for a channel of every site, as this one).
    ("GET", "notifications/"): ("/notifications/", (302, 403, 403, 403, 200, 200, 302)),
    ("POST", "notifications/"): ("/notifications/", (302, 405, 405, 405, 405, 405, 302)),
    ("GET", "notifications/new/"): ("/notifications/new/", (302, 403, 403, 403, 200, 200, 302)),
    ("POST", "notifications/new/"): ("/notifications/new/", (302, 403, 403, 403, 302, 302, 302)),
    ("GET", "notifications/<int:pk>/"): ("/notifications/{o.channel.pk}/", (302, 403, 403, 403, 200, 200, 302)),
    ("POST", "notifications/<int:pk>/"): ("/notifications/{o.channel.pk}/", (302, 403, 403, 403, 302, 302, 302)),
    ("GET", "notifications/<int:pk>/test/"): (
        "/notifications/{o.channel.pk}/test/",
        (302, 405, 405, 405, 405, 405, 302),
    ),
    ("POST", "notifications/<int:pk>/test/"): (
        "/notifications/{o.channel.pk}/test/",
        (302, 403, 403, 403, 302, 302, 302),
    ),
    ("GET", "notifications/<int:pk>/delete/"): (
        "/notifications/{o.channel.pk}/delete/",
        (302, 405, 405, 405, 405, 405, 302),
    ),
    ("POST", "notifications/<int:pk>/delete/"): (
        "/notifications/{o.channel.pk}/delete/",
        (302, 403, 403, 403, 302, 302, 302),
    ),
    ("GET", "api/v1/notification-channels"): (
        "/api/v1/notification-channels",
        (401, 403, 403, 403, 200, 200, 401),
    ),
    ("POST", "api/v1/notification-channels"): (
        "/api/v1/notification-channels",
        (401, 403, 403, 403, 201, 201, 401),
    ),
    ("GET", "api/v1/notification-channels/<channel_id>"): (
        "/api/v1/notification-channels/{o.channel.pk}",
        (401, 403, 403, 403, 200, 200, 401),
    ),
    ("PATCH", "api/v1/notification-channels/<channel_id>"): (
        "/api/v1/notification-channels/{o.channel.pk}",
        (401, 403, 403, 403, 200, 200, 401),
    ),
    ("DELETE", "api/v1/notification-channels/<channel_id>"): (
        "/api/v1/notification-channels/{o.channel.pk}",
        (401, 403, 403, 403, 204, 204, 401),
    ),
    ("POST", "api/v1/notification-channels/<channel_id>/test"): (
        "/api/v1/notification-channels/{o.channel.pk}/test",
        (401, 403, 403, 403, 202, 202, 401),
    ),
    ("GET", "api/v1/notification-channels/<channel_id>/deliveries"): (
        "/api/v1/notification-channels/{o.channel.pk}/deliveries",
        (401, 403, 403, 403, 200, 200, 401),
    ),
    ("GET", "api/v1/endpoints/<endpoint>/credentials"): (
        "/api/v1/endpoints/{o.endpoint.name}/credentials",
        (401, 403, 403, 200, 200, 200, 401),
    ),
    ("PUT", "api/v1/endpoints/<endpoint>/credentials"): (
        "/api/v1/endpoints/{o.endpoint.name}/credentials",
        (401, 403, 403, 403, 200, 200, 401),
    ),
    ("DELETE", "api/v1/endpoints/<endpoint>/credentials"): (
        "/api/v1/endpoints/{o.endpoint.name}/credentials",
        (401, 403, 403, 403, 200, 200, 401),
    ),
    ("POST", "api/v1/provisioning/import"): ("/api/v1/provisioning/import", (401, 403, 403, 403, 201, 201, 401)),
    ("GET", "api/v1/provisioning/imports/<batch_id>"): (
        "/api/v1/provisioning/imports/{o.batch.pk}",
        (401, 403, 403, 200, 200, 200, 401),
    ),
    ("POST", "api/v1/provisioning/imports/<batch_id>/export"): (
        "/api/v1/provisioning/imports/{o.batch.pk}/export",
        (401, 403, 403, 403, 200, 200, 401),
    ),
    ("POST", "api/v1/provisioning/sync"): ("/api/v1/provisioning/sync", (401, 403, 403, 403, 200, 200, 401)),
    # Alarms: viewers read rules and alarms; operators manage rules, acknowledge and clear alarms.
    ("GET", "api/v1/alarm-rules"): ("/api/v1/alarm-rules", (401, 403, 200, 200, 200, 200, 401)),
    ("POST", "api/v1/alarm-rules"): ("/api/v1/alarm-rules", (401, 403, 403, 201, 201, 201, 401)),
    ("GET", "api/v1/alarm-rules/<rule_id>"): (
        "/api/v1/alarm-rules/{o.alarm_rule.pk}",
        (401, 403, 200, 200, 200, 200, 401),
    ),
    ("PATCH", "api/v1/alarm-rules/<rule_id>"): (
        "/api/v1/alarm-rules/{o.alarm_rule.pk}",
        (401, 403, 403, 200, 200, 200, 401),
    ),
    ("DELETE", "api/v1/alarm-rules/<rule_id>"): (
        "/api/v1/alarm-rules/{o.alarm_rule.pk}",
        (401, 403, 403, 204, 204, 204, 401),
    ),
    ("GET", "api/v1/alarms"): ("/api/v1/alarms", (401, 403, 200, 200, 200, 200, 401)),
    ("GET", "api/v1/alarms/<alarm_id>"): ("/api/v1/alarms/{o.alarm.pk}", (401, 403, 200, 200, 200, 200, 401)),
    ("POST", "api/v1/alarms/<alarm_id>/acknowledge"): (
        "/api/v1/alarms/{o.alarm.pk}/acknowledge",
        (401, 403, 403, 200, 200, 200, 401),
    ),
    ("POST", "api/v1/alarms/<alarm_id>/clear"): (
        "/api/v1/alarms/{o.alarm.pk}/clear",
        (401, 403, 403, 200, 200, 200, 401),
    ),
    # Sites: viewers read, admins manage; the site and labels of devices: operators.
    ("POST", "api/v1/endpoints/bulk"): ("/api/v1/endpoints/bulk", (401, 403, 403, 200, 200, 200, 401)),
    # The same path read: the device named "bulk" (there is none in this fleet).
    ("GET", "api/v1/endpoints/bulk"): ("/api/v1/endpoints/bulk", (401, 403, 404, 404, 404, 404, 401)),
    ("GET", "api/v1/sites"): ("/api/v1/sites", (401, 403, 200, 200, 200, 200, 401)),
    ("POST", "api/v1/sites"): ("/api/v1/sites", (401, 403, 403, 403, 201, 201, 401)),
    ("GET", "api/v1/sites/<site_id>"): ("/api/v1/sites/{o.site.pk}", (401, 403, 200, 200, 200, 200, 401)),
    ("PATCH", "api/v1/sites/<site_id>"): ("/api/v1/sites/{o.site.pk}", (401, 403, 403, 403, 200, 200, 401)),
    ("DELETE", "api/v1/sites/<site_id>"): ("/api/v1/sites/{o.site.pk}", (401, 403, 403, 403, 204, 204, 401)),
    ("GET", "api/v1/sites/<site_id>/rules"): (
        "/api/v1/sites/{o.site.pk}/rules",
        (401, 403, 200, 200, 200, 200, 401),
    ),
    ("POST", "api/v1/sites/<site_id>/rules"): (
        "/api/v1/sites/{o.site.pk}/rules",
        (401, 403, 403, 403, 201, 201, 401),
    ),
    ("DELETE", "api/v1/sites/<site_id>/rules/<rule_id>"): (
        "/api/v1/sites/{o.site.pk}/rules/{o.rule.pk}",
        (401, 403, 403, 403, 204, 204, 401),
    ),
    # Who holds a role on a site: its admins (here: global ones) manage them.
    ("GET", "api/v1/sites/<site_id>/users"): ("/api/v1/sites/{o.site.pk}/users", (401, 403, 403, 403, 200, 200, 401)),
    ("PUT", "api/v1/sites/<site_id>/users/<username>"): (
        "/api/v1/sites/{o.site.pk}/users/{o.user.username}",
        (401, 403, 403, 403, 200, 200, 401),
    ),
    ("DELETE", "api/v1/sites/<site_id>/users/<username>"): (
        "/api/v1/sites/{o.site.pk}/users/{o.user.username}",
        (401, 403, 403, 403, 204, 204, 401),
    ),
    ("GET", "api/v1/"): ("/api/v1/", (404, 404, 404, 404, 404, 404, 404)),
    ("POST", "api/v1/"): ("/api/v1/", (404, 404, 404, 404, 404, 404, 404)),
    # The Django admin: staff only (others are sent to its login page); model pages need model permissions,
    # which only superusers hold (an admin-role user made staff by the users page gets 403); rows written
    # by services cannot be added or changed there.
    ("GET", "admin/r/<path:content_type_id>/<path:object_id>/"): (
        "/admin/r/1/{o.user.pk}/",
        (302, 302, 302, 302, 404, 404, 302),
    ),
    ("POST", "admin/r/<path:content_type_id>/<path:object_id>/"): (
        "/admin/r/1/{o.user.pk}/",
        (302, 302, 302, 302, 404, 404, 302),
    ),
    ("GET", "admin/auth/group/"): ("/admin/auth/group/", (302, 302, 302, 302, 403, 200, 302)),
    ("POST", "admin/auth/group/"): ("/admin/auth/group/", (302, 302, 302, 302, 403, 200, 302)),
    ("GET", "admin/auth/group/add/"): ("/admin/auth/group/add/", (302, 302, 302, 302, 403, 200, 302)),
    ("POST", "admin/auth/group/add/"): ("/admin/auth/group/add/", (302, 302, 302, 302, 403, 200, 302)),
    ("GET", "admin/auth/group/<path:object_id>/history/"): (
        "/admin/auth/group/{o.group.pk}/history/",
        (302, 302, 302, 302, 403, 200, 302),
    ),
    ("POST", "admin/auth/group/<path:object_id>/history/"): (
        "/admin/auth/group/{o.group.pk}/history/",
        (302, 302, 302, 302, 403, 200, 302),
    ),
    ("GET", "admin/auth/group/<path:object_id>/delete/"): (
        "/admin/auth/group/{o.group.pk}/delete/",
        (302, 302, 302, 302, 403, 200, 302),
    ),
    ("POST", "admin/auth/group/<path:object_id>/delete/"): (
        "/admin/auth/group/{o.group.pk}/delete/",
        (302, 302, 302, 302, 403, 200, 302),
    ),
    ("GET", "admin/auth/group/<path:object_id>/change/"): (
        "/admin/auth/group/{o.group.pk}/change/",
        (302, 302, 302, 302, 403, 200, 302),
    ),
    ("POST", "admin/auth/group/<path:object_id>/change/"): (
        "/admin/auth/group/{o.group.pk}/change/",
        (302, 302, 302, 302, 403, 200, 302),
    ),
    ("GET", "admin/auth/group/<path:object_id>/"): (
        "/admin/auth/group/{o.group.pk}/",
        (302, 302, 302, 302, 302, 302, 302),
    ),
    ("POST", "admin/auth/group/<path:object_id>/"): (
        "/admin/auth/group/{o.group.pk}/",
        (302, 302, 302, 302, 302, 302, 302),
    ),
    ("GET", "admin/auth/user/<id>/password/"): (
        "/admin/auth/user/{o.user.pk}/password/",
        (302, 302, 302, 302, 403, 200, 302),
    ),
    ("POST", "admin/auth/user/<id>/password/"): (
        "/admin/auth/user/{o.user.pk}/password/",
        (302, 302, 302, 302, 403, 200, 302),
    ),
    ("GET", "admin/auth/user/"): ("/admin/auth/user/", (302, 302, 302, 302, 403, 200, 302)),
    ("POST", "admin/auth/user/"): ("/admin/auth/user/", (302, 302, 302, 302, 403, 200, 302)),
    ("GET", "admin/auth/user/add/"): ("/admin/auth/user/add/", (302, 302, 302, 302, 403, 200, 302)),
    ("POST", "admin/auth/user/add/"): ("/admin/auth/user/add/", (302, 302, 302, 302, 403, 200, 302)),
    ("GET", "admin/auth/user/<path:object_id>/history/"): (
        "/admin/auth/user/{o.user.pk}/history/",
        (302, 302, 302, 302, 403, 200, 302),
    ),
    ("POST", "admin/auth/user/<path:object_id>/history/"): (
        "/admin/auth/user/{o.user.pk}/history/",
        (302, 302, 302, 302, 403, 200, 302),
    ),
    ("GET", "admin/auth/user/<path:object_id>/delete/"): (
        "/admin/auth/user/{o.user.pk}/delete/",
        (302, 302, 302, 302, 403, 200, 302),
    ),
    ("POST", "admin/auth/user/<path:object_id>/delete/"): (
        "/admin/auth/user/{o.user.pk}/delete/",
        (302, 302, 302, 302, 403, 200, 302),
    ),
    ("GET", "admin/auth/user/<path:object_id>/change/"): (
        "/admin/auth/user/{o.user.pk}/change/",
        (302, 302, 302, 302, 403, 200, 302),
    ),
    ("POST", "admin/auth/user/<path:object_id>/change/"): (
        "/admin/auth/user/{o.user.pk}/change/",
        (302, 302, 302, 302, 403, 200, 302),
    ),
    ("GET", "admin/auth/user/<path:object_id>/"): (
        "/admin/auth/user/{o.user.pk}/",
        (302, 302, 302, 302, 302, 302, 302),
    ),
    ("POST", "admin/auth/user/<path:object_id>/"): (
        "/admin/auth/user/{o.user.pk}/",
        (302, 302, 302, 302, 302, 302, 302),
    ),
    ("GET", "admin/core/endpoint/"): ("/admin/core/endpoint/", (302, 302, 302, 302, 200, 200, 302)),
    ("POST", "admin/core/endpoint/"): ("/admin/core/endpoint/", (302, 302, 302, 302, 200, 200, 302)),
    ("GET", "admin/core/endpoint/add/"): ("/admin/core/endpoint/add/", (302, 302, 302, 302, 403, 403, 302)),
    ("POST", "admin/core/endpoint/add/"): ("/admin/core/endpoint/add/", (302, 302, 302, 302, 403, 403, 302)),
    ("GET", "admin/core/endpoint/<path:object_id>/history/"): (
        "/admin/core/endpoint/{o.endpoint.pk}/history/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("POST", "admin/core/endpoint/<path:object_id>/history/"): (
        "/admin/core/endpoint/{o.endpoint.pk}/history/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("GET", "admin/core/endpoint/<path:object_id>/delete/"): (
        "/admin/core/endpoint/{o.endpoint.pk}/delete/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("POST", "admin/core/endpoint/<path:object_id>/delete/"): (
        "/admin/core/endpoint/{o.endpoint.pk}/delete/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("GET", "admin/core/endpoint/<path:object_id>/change/"): (
        "/admin/core/endpoint/{o.endpoint.pk}/change/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("POST", "admin/core/endpoint/<path:object_id>/change/"): (
        "/admin/core/endpoint/{o.endpoint.pk}/change/",
        (302, 302, 302, 302, 403, 403, 302),
    ),
    ("GET", "admin/core/endpoint/<path:object_id>/"): (
        "/admin/core/endpoint/{o.endpoint.pk}/",
        (302, 302, 302, 302, 302, 302, 302),
    ),
    ("POST", "admin/core/endpoint/<path:object_id>/"): (
        "/admin/core/endpoint/{o.endpoint.pk}/",
        (302, 302, 302, 302, 302, 302, 302),
    ),
    ("GET", "admin/core/resourcetype/"): ("/admin/core/resourcetype/", (302, 302, 302, 302, 200, 200, 302)),
    ("POST", "admin/core/resourcetype/"): ("/admin/core/resourcetype/", (302, 302, 302, 302, 200, 200, 302)),
    ("GET", "admin/core/resourcetype/add/"): ("/admin/core/resourcetype/add/", (302, 302, 302, 302, 403, 403, 302)),
    ("POST", "admin/core/resourcetype/add/"): ("/admin/core/resourcetype/add/", (302, 302, 302, 302, 403, 403, 302)),
    ("GET", "admin/core/resourcetype/<path:object_id>/history/"): (
        "/admin/core/resourcetype/{o.resource_type.pk}/history/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("POST", "admin/core/resourcetype/<path:object_id>/history/"): (
        "/admin/core/resourcetype/{o.resource_type.pk}/history/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("GET", "admin/core/resourcetype/<path:object_id>/delete/"): (
        "/admin/core/resourcetype/{o.resource_type.pk}/delete/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("POST", "admin/core/resourcetype/<path:object_id>/delete/"): (
        "/admin/core/resourcetype/{o.resource_type.pk}/delete/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("GET", "admin/core/resourcetype/<path:object_id>/change/"): (
        "/admin/core/resourcetype/{o.resource_type.pk}/change/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("POST", "admin/core/resourcetype/<path:object_id>/change/"): (
        "/admin/core/resourcetype/{o.resource_type.pk}/change/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("GET", "admin/core/resourcetype/<path:object_id>/"): (
        "/admin/core/resourcetype/{o.resource_type.pk}/",
        (302, 302, 302, 302, 302, 302, 302),
    ),
    ("POST", "admin/core/resourcetype/<path:object_id>/"): (
        "/admin/core/resourcetype/{o.resource_type.pk}/",
        (302, 302, 302, 302, 302, 302, 302),
    ),
    ("GET", "admin/core/apitoken/"): ("/admin/core/apitoken/", (302, 302, 302, 302, 200, 200, 302)),
    ("POST", "admin/core/apitoken/"): ("/admin/core/apitoken/", (302, 302, 302, 302, 200, 200, 302)),
    ("GET", "admin/core/apitoken/add/"): ("/admin/core/apitoken/add/", (302, 302, 302, 302, 200, 200, 302)),
    ("POST", "admin/core/apitoken/add/"): ("/admin/core/apitoken/add/", (302, 302, 302, 302, 200, 200, 302)),
    ("GET", "admin/core/apitoken/<path:object_id>/history/"): (
        "/admin/core/apitoken/{o.token.pk}/history/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("POST", "admin/core/apitoken/<path:object_id>/history/"): (
        "/admin/core/apitoken/{o.token.pk}/history/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("GET", "admin/core/apitoken/<path:object_id>/delete/"): (
        "/admin/core/apitoken/{o.token.pk}/delete/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("POST", "admin/core/apitoken/<path:object_id>/delete/"): (
        "/admin/core/apitoken/{o.token.pk}/delete/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("GET", "admin/core/apitoken/<path:object_id>/change/"): (
        "/admin/core/apitoken/{o.token.pk}/change/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("POST", "admin/core/apitoken/<path:object_id>/change/"): (
        "/admin/core/apitoken/{o.token.pk}/change/",
        (302, 302, 302, 302, 403, 403, 302),
    ),
    ("GET", "admin/core/apitoken/<path:object_id>/"): (
        "/admin/core/apitoken/{o.token.pk}/",
        (302, 302, 302, 302, 302, 302, 302),
    ),
    ("POST", "admin/core/apitoken/<path:object_id>/"): (
        "/admin/core/apitoken/{o.token.pk}/",
        (302, 302, 302, 302, 302, 302, 302),
    ),
    ("GET", "admin/telemetry/resource/"): ("/admin/telemetry/resource/", (302, 302, 302, 302, 200, 200, 302)),
    ("POST", "admin/telemetry/resource/"): ("/admin/telemetry/resource/", (302, 302, 302, 302, 200, 200, 302)),
    ("GET", "admin/telemetry/resource/add/"): ("/admin/telemetry/resource/add/", (302, 302, 302, 302, 403, 403, 302)),
    ("POST", "admin/telemetry/resource/add/"): ("/admin/telemetry/resource/add/", (302, 302, 302, 302, 403, 403, 302)),
    ("GET", "admin/telemetry/resource/<path:object_id>/history/"): (
        "/admin/telemetry/resource/{o.resource.pk}/history/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("POST", "admin/telemetry/resource/<path:object_id>/history/"): (
        "/admin/telemetry/resource/{o.resource.pk}/history/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("GET", "admin/telemetry/resource/<path:object_id>/delete/"): (
        "/admin/telemetry/resource/{o.resource.pk}/delete/",
        (302, 302, 302, 302, 403, 403, 302),
    ),
    ("POST", "admin/telemetry/resource/<path:object_id>/delete/"): (
        "/admin/telemetry/resource/{o.resource.pk}/delete/",
        (302, 302, 302, 302, 403, 403, 302),
    ),
    ("GET", "admin/telemetry/resource/<path:object_id>/change/"): (
        "/admin/telemetry/resource/{o.resource.pk}/change/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("POST", "admin/telemetry/resource/<path:object_id>/change/"): (
        "/admin/telemetry/resource/{o.resource.pk}/change/",
        (302, 302, 302, 302, 403, 403, 302),
    ),
    ("GET", "admin/telemetry/resource/<path:object_id>/"): (
        "/admin/telemetry/resource/{o.resource.pk}/",
        (302, 302, 302, 302, 302, 302, 302),
    ),
    ("POST", "admin/telemetry/resource/<path:object_id>/"): (
        "/admin/telemetry/resource/{o.resource.pk}/",
        (302, 302, 302, 302, 302, 302, 302),
    ),
    ("GET", "admin/telemetry/event/"): ("/admin/telemetry/event/", (302, 302, 302, 302, 200, 200, 302)),
    ("POST", "admin/telemetry/event/"): ("/admin/telemetry/event/", (302, 302, 302, 302, 200, 200, 302)),
    ("GET", "admin/telemetry/event/add/"): ("/admin/telemetry/event/add/", (302, 302, 302, 302, 403, 403, 302)),
    ("POST", "admin/telemetry/event/add/"): ("/admin/telemetry/event/add/", (302, 302, 302, 302, 403, 403, 302)),
    ("GET", "admin/telemetry/event/<path:object_id>/history/"): (
        "/admin/telemetry/event/{o.event.pk}/history/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("POST", "admin/telemetry/event/<path:object_id>/history/"): (
        "/admin/telemetry/event/{o.event.pk}/history/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("GET", "admin/telemetry/event/<path:object_id>/delete/"): (
        "/admin/telemetry/event/{o.event.pk}/delete/",
        (302, 302, 302, 302, 403, 403, 302),
    ),
    ("POST", "admin/telemetry/event/<path:object_id>/delete/"): (
        "/admin/telemetry/event/{o.event.pk}/delete/",
        (302, 302, 302, 302, 403, 403, 302),
    ),
    ("GET", "admin/telemetry/event/<path:object_id>/change/"): (
        "/admin/telemetry/event/{o.event.pk}/change/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("POST", "admin/telemetry/event/<path:object_id>/change/"): (
        "/admin/telemetry/event/{o.event.pk}/change/",
        (302, 302, 302, 302, 403, 403, 302),
    ),
    ("GET", "admin/telemetry/event/<path:object_id>/"): (
        "/admin/telemetry/event/{o.event.pk}/",
        (302, 302, 302, 302, 302, 302, 302),
    ),
    ("POST", "admin/telemetry/event/<path:object_id>/"): (
        "/admin/telemetry/event/{o.event.pk}/",
        (302, 302, 302, 302, 302, 302, 302),
    ),
    ("GET", "admin/telemetry/eventresource/"): ("/admin/telemetry/eventresource/", (302, 302, 302, 302, 200, 200, 302)),
    ("POST", "admin/telemetry/eventresource/"): (
        "/admin/telemetry/eventresource/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("GET", "admin/telemetry/eventresource/add/"): (
        "/admin/telemetry/eventresource/add/",
        (302, 302, 302, 302, 403, 403, 302),
    ),
    ("POST", "admin/telemetry/eventresource/add/"): (
        "/admin/telemetry/eventresource/add/",
        (302, 302, 302, 302, 403, 403, 302),
    ),
    ("GET", "admin/telemetry/eventresource/<path:object_id>/history/"): (
        "/admin/telemetry/eventresource/{o.event_resource.pk}/history/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("POST", "admin/telemetry/eventresource/<path:object_id>/history/"): (
        "/admin/telemetry/eventresource/{o.event_resource.pk}/history/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("GET", "admin/telemetry/eventresource/<path:object_id>/delete/"): (
        "/admin/telemetry/eventresource/{o.event_resource.pk}/delete/",
        (302, 302, 302, 302, 403, 403, 302),
    ),
    ("POST", "admin/telemetry/eventresource/<path:object_id>/delete/"): (
        "/admin/telemetry/eventresource/{o.event_resource.pk}/delete/",
        (302, 302, 302, 302, 403, 403, 302),
    ),
    ("GET", "admin/telemetry/eventresource/<path:object_id>/change/"): (
        "/admin/telemetry/eventresource/{o.event_resource.pk}/change/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("POST", "admin/telemetry/eventresource/<path:object_id>/change/"): (
        "/admin/telemetry/eventresource/{o.event_resource.pk}/change/",
        (302, 302, 302, 302, 403, 403, 302),
    ),
    ("GET", "admin/telemetry/eventresource/<path:object_id>/"): (
        "/admin/telemetry/eventresource/{o.event_resource.pk}/",
        (302, 302, 302, 302, 302, 302, 302),
    ),
    ("POST", "admin/telemetry/eventresource/<path:object_id>/"): (
        "/admin/telemetry/eventresource/{o.event_resource.pk}/",
        (302, 302, 302, 302, 302, 302, 302),
    ),
    ("GET", "admin/telemetry/endpointoperation/"): (
        "/admin/telemetry/endpointoperation/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("POST", "admin/telemetry/endpointoperation/"): (
        "/admin/telemetry/endpointoperation/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("GET", "admin/telemetry/endpointoperation/add/"): (
        "/admin/telemetry/endpointoperation/add/",
        (302, 302, 302, 302, 403, 403, 302),
    ),
    ("POST", "admin/telemetry/endpointoperation/add/"): (
        "/admin/telemetry/endpointoperation/add/",
        (302, 302, 302, 302, 403, 403, 302),
    ),
    ("GET", "admin/telemetry/endpointoperation/<path:object_id>/history/"): (
        "/admin/telemetry/endpointoperation/{o.operation.pk}/history/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("POST", "admin/telemetry/endpointoperation/<path:object_id>/history/"): (
        "/admin/telemetry/endpointoperation/{o.operation.pk}/history/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("GET", "admin/telemetry/endpointoperation/<path:object_id>/delete/"): (
        "/admin/telemetry/endpointoperation/{o.operation.pk}/delete/",
        (302, 302, 302, 302, 403, 403, 302),
    ),
    ("POST", "admin/telemetry/endpointoperation/<path:object_id>/delete/"): (
        "/admin/telemetry/endpointoperation/{o.operation.pk}/delete/",
        (302, 302, 302, 302, 403, 403, 302),
    ),
    ("GET", "admin/telemetry/endpointoperation/<path:object_id>/change/"): (
        "/admin/telemetry/endpointoperation/{o.operation.pk}/change/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("POST", "admin/telemetry/endpointoperation/<path:object_id>/change/"): (
        "/admin/telemetry/endpointoperation/{o.operation.pk}/change/",
        (302, 302, 302, 302, 403, 403, 302),
    ),
    ("GET", "admin/telemetry/endpointoperation/<path:object_id>/"): (
        "/admin/telemetry/endpointoperation/{o.operation.pk}/",
        (302, 302, 302, 302, 302, 302, 302),
    ),
    ("POST", "admin/telemetry/endpointoperation/<path:object_id>/"): (
        "/admin/telemetry/endpointoperation/{o.operation.pk}/",
        (302, 302, 302, 302, 302, 302, 302),
    ),
    ("GET", "admin/firmware/firmware/"): ("/admin/firmware/firmware/", (302, 302, 302, 302, 200, 200, 302)),
    ("POST", "admin/firmware/firmware/"): ("/admin/firmware/firmware/", (302, 302, 302, 302, 200, 200, 302)),
    ("GET", "admin/firmware/firmware/add/"): ("/admin/firmware/firmware/add/", (302, 302, 302, 302, 403, 403, 302)),
    ("POST", "admin/firmware/firmware/add/"): ("/admin/firmware/firmware/add/", (302, 302, 302, 302, 403, 403, 302)),
    ("GET", "admin/firmware/firmware/<path:object_id>/history/"): (
        "/admin/firmware/firmware/{o.firmware.pk}/history/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("POST", "admin/firmware/firmware/<path:object_id>/history/"): (
        "/admin/firmware/firmware/{o.firmware.pk}/history/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("GET", "admin/firmware/firmware/<path:object_id>/delete/"): (
        "/admin/firmware/firmware/{o.firmware.pk}/delete/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("POST", "admin/firmware/firmware/<path:object_id>/delete/"): (
        "/admin/firmware/firmware/{o.firmware.pk}/delete/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("GET", "admin/firmware/firmware/<path:object_id>/change/"): (
        "/admin/firmware/firmware/{o.firmware.pk}/change/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("POST", "admin/firmware/firmware/<path:object_id>/change/"): (
        "/admin/firmware/firmware/{o.firmware.pk}/change/",
        (302, 302, 302, 302, 403, 403, 302),
    ),
    ("GET", "admin/firmware/firmware/<path:object_id>/"): (
        "/admin/firmware/firmware/{o.firmware.pk}/",
        (302, 302, 302, 302, 302, 302, 302),
    ),
    ("POST", "admin/firmware/firmware/<path:object_id>/"): (
        "/admin/firmware/firmware/{o.firmware.pk}/",
        (302, 302, 302, 302, 302, 302, 302),
    ),
    ("GET", "admin/firmware/firmwareupdate/"): ("/admin/firmware/firmwareupdate/", (302, 302, 302, 302, 200, 200, 302)),
    ("POST", "admin/firmware/firmwareupdate/"): (
        "/admin/firmware/firmwareupdate/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("GET", "admin/firmware/firmwareupdate/add/"): (
        "/admin/firmware/firmwareupdate/add/",
        (302, 302, 302, 302, 403, 403, 302),
    ),
    ("POST", "admin/firmware/firmwareupdate/add/"): (
        "/admin/firmware/firmwareupdate/add/",
        (302, 302, 302, 302, 403, 403, 302),
    ),
    ("GET", "admin/firmware/firmwareupdate/<path:object_id>/history/"): (
        "/admin/firmware/firmwareupdate/{o.update.pk}/history/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("POST", "admin/firmware/firmwareupdate/<path:object_id>/history/"): (
        "/admin/firmware/firmwareupdate/{o.update.pk}/history/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("GET", "admin/firmware/firmwareupdate/<path:object_id>/delete/"): (
        "/admin/firmware/firmwareupdate/{o.update.pk}/delete/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("POST", "admin/firmware/firmwareupdate/<path:object_id>/delete/"): (
        "/admin/firmware/firmwareupdate/{o.update.pk}/delete/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("GET", "admin/firmware/firmwareupdate/<path:object_id>/change/"): (
        "/admin/firmware/firmwareupdate/{o.update.pk}/change/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("POST", "admin/firmware/firmwareupdate/<path:object_id>/change/"): (
        "/admin/firmware/firmwareupdate/{o.update.pk}/change/",
        (302, 302, 302, 302, 403, 403, 302),
    ),
    ("GET", "admin/firmware/firmwareupdate/<path:object_id>/"): (
        "/admin/firmware/firmwareupdate/{o.update.pk}/",
        (302, 302, 302, 302, 302, 302, 302),
    ),
    ("POST", "admin/firmware/firmwareupdate/<path:object_id>/"): (
        "/admin/firmware/firmwareupdate/{o.update.pk}/",
        (302, 302, 302, 302, 302, 302, 302),
    ),
    ("GET", "admin/^(?P<app_label>auth|core|telemetry|firmware)/$"): (
        "/admin/core/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("POST", "admin/^(?P<app_label>auth|core|telemetry|firmware)/$"): (
        "/admin/core/",
        (302, 302, 302, 302, 200, 200, 302),
    ),
    ("GET", "admin/(?P<url>.*)$"): ("/admin/nothing/here/", (302, 302, 302, 302, 404, 404, 302)),
    ("POST", "admin/(?P<url>.*)$"): ("/admin/nothing/here/", (302, 302, 302, 302, 404, 404, 302)),
}

# route -> (path, answer per persona): "open", or the close code (4401 not logged in, 4403 no role, 4404 no
# such path: the catch-all route, last).
WS_EXPECTED: dict[str, tuple[str, tuple[int | str, ...]]] = {
    "ws/dashboard/": ("/ws/dashboard/", (4401, 4403, "open", "open", "open", "open", 4401)),
    "ws/firmware/": ("/ws/firmware/", (4401, 4403, "open", "open", "open", "open", 4401)),
    "ws/operations/": ("/ws/operations/", (4401, 4403, "open", "open", "open", "open", 4401)),
    "ws/events/": ("/ws/events/", (4401, 4403, "open", "open", "open", "open", 4401)),
    "ws/rollouts/": ("/ws/rollouts/", (4401, 4403, "open", "open", "open", "open", 4401)),
    "ws/alarms/": ("/ws/alarms/", (4401, 4403, "open", "open", "open", "open", 4401)),
    "ws/endpoints/<str:endpoint>/": ("/ws/endpoints/{endpoint}/", (4401, 4403, "open", "open", "open", "open", 4401)),
    "": ("/ws/nothing-here/", (4404, 4404, 4404, 4404, 4404, 4404, 4404)),
}


# --- the objects the URLs point at ---------------------------------------------------------------------------


@dataclasses.dataclass
class Objects:
    endpoint: Any
    spare: Any  # a device with no firmware update under way
    operation: Any
    firmware: Any
    update: Any
    campaign: Any
    token: Any  # belongs to someone else than every persona
    resource: Any
    event: Any
    event_resource: Any
    group: Any
    user: Any
    resource_type: Any
    site: Any  # a site with no devices, one rule, and a viewer (``user``)
    rule: Any
    rollout: Any  # running, its one wave queued
    channel: Any  # a webhook channel of every site
    alarm_rule: Any
    alarm: Any  # active, on ``endpoint``
    batch: Any  # an import of one device with a generated PSK

    def fill(self, template: str) -> str:
        return template.format(o=self)


@pytest.fixture
def objects(db: None) -> Objects:
    superuser = make_user(Role.ADMIN, username="objects-owner", is_staff=True, is_superuser=True)
    # Two readings in one post: an event, its links, the resources (as the bridge stores them).
    readings = [Reading(Path(3303, 0, 5700), DataType.FLOAT, 21.5), Reading(Path(3304, 0, 5700), DataType.FLOAT, 40.0)]
    ingest(endpoint_name="urn:imei:350000000000001", readings=readings)
    endpoint = Endpoint.objects.get(name="urn:imei:350000000000001")
    spare = make_endpoint(name="urn:imei:350000000000002")
    temperature = ResourceType.objects.get(object_id=3303, resource_id=5700)
    resource = Resource.objects.filter(endpoint=endpoint, resource_type=temperature).get()
    event = Event.objects.filter(endpoint=endpoint).get()
    event_resource = EventResource.objects.filter(event=event).first()
    operation = operation_enqueue(actor=superuser, endpoint=endpoint, kind="READ", path="/3/0/0")
    firmware = make_firmware(version="1.2.3")
    update = firmware_update_start(actor=superuser, endpoint=endpoint, firmware=firmware)
    campaign = campaign_create(
        actor=superuser, name="matrix", firmware=firmware, endpoints=[spare], waves=[100], unit="percent"
    )
    owner = make_user(Role.VIEWER, username="token-owner")
    token, _secret = token_create(actor=owner, user=owner, name="someone else's")
    site = site_create(actor=superuser, name="matrix site")
    rule = site_rule_create(actor=superuser, site=site, kind="prefix", text="urn:imei:99")
    user_set_site_role(actor=superuser, user=owner, site=site, role="viewer")
    rollout = rollout_create(
        actor=superuser,
        name="matrix",
        kind="READ",
        path="/3/0/0",
        selection=Selection(endpoints=[spare.name]),
        waves=[100],
    )
    alarm_rule = alarm_rule_create(actor=superuser, name="matrix", kind="above", path="/3303/*/5700", threshold=30)
    with transaction.atomic():
        alarm = alarm_raise(rule=alarm_rule, endpoint=endpoint, at=event.measured_at, value=31.0)
    batch = fleet_import(
        actor=superuser, data=b"endpoint,mode,key\nurn:imei:350000000000004,psk,generate\n", filename="m.csv"
    ).batch
    return Objects(
        alarm_rule=alarm_rule,
        alarm=alarm,
        batch=batch,
        endpoint=endpoint,
        spare=make_endpoint(name="urn:imei:350000000000003"),
        operation=operation,
        firmware=firmware,
        update=update,
        campaign=campaign,
        token=token,
        resource=resource,
        event=event,
        event_resource=event_resource,
        group=Group.objects.get(name=Role.VIEWER.value),
        user=owner,
        resource_type=temperature,
        site=site,
        rule=rule,
        rollout=rollout,
        channel=NotificationChannel.objects.create(
            name="matrix hook", kind="webhook", url="http://127.0.0.1:9/hook", secret="a-secret-for-the-matrix"
        ),
    )


def request_body(method: str, route: str, o: Objects) -> dict[str, Any]:
    """A valid body for the POSTs that take one, so that a refusal is about who asks, not what."""
    json_bodies: dict[str, Any] = {
        "api/v1/endpoints/<endpoint>/operations": {"kind": "read", "path": "/3/0/0"},
        "api/v1/firmware-updates": {"endpoint": o.spare.name, "version": o.firmware.version},
        "api/v1/endpoints/bulk": {"endpoints": [o.spare.name], "add_labels": ["matrix"]},
        "api/v1/sites": {"name": "another site"},
        "api/v1/sites/<site_id>": {"description": "changed"},
        "api/v1/sites/<site_id>/rules": {"kind": "pattern", "text": "urn:imei:98*"},
        "api/v1/sites/<site_id>/users/<username>": {"role": "operator"},
        "api/v1/rollouts": {"name": "r", "kind": "read", "path": "/3/0/0", "selection": {"endpoints": [o.spare.name]}},
        "api/v1/rollouts/preview": {"endpoints": [o.spare.name]},
        "api/v1/notification-channels": {"name": "m", "kind": "email", "recipients": ["ops@example.com"]},
        "api/v1/notification-channels/<channel_id>": {"name": "changed"},
        "api/v1/endpoints/<endpoint>/credentials": {"mode": "x509"},
        "api/v1/alarm-rules": {"name": "m", "kind": "below", "path": "/3303/*/5700", "threshold": 0},
        "api/v1/alarm-rules/<rule_id>": {"threshold": 40},
        "api/v1/alarms/<alarm_id>/acknowledge": {"note": "matrix"},
        "api/v1/alarms/<alarm_id>/clear": {},
        "api/v1/campaigns": {"name": "c", "version": o.firmware.version, "endpoints": [o.spare.name], "waves": [100]},
        "leshan_api/resource/single": {
            "ep": o.endpoint.name,
            "obj_id": 3303,
            "val": {"kind": "singleResource", "id": 5700, "type": "FLOAT", "value": "20.5"},
        },
        "leshan_api/resource/composite": {
            "ep": o.endpoint.name,
            "val": {"/3303/0/5700": {"kind": "singleResource", "id": 5700, "type": "FLOAT", "value": "20.5"}},
        },
        "leshan_api/resource/timestamped": {
            "ep": o.endpoint.name,
            "val": [
                {
                    "null": {
                        "nodes": {"/3303/0/5700": {"kind": "singleResource", "id": 5700, "type": "FLOAT", "value": "1"}}
                    }
                }
            ],
        },
    }
    forms: dict[str, dict[str, Any]] = {
        "endpoints/<str:name>/commands/": {"kind": "read", "path": "/3/0/0"},
        "endpoints/<str:name>/firmware/update/": {"version": o.firmware.version},
        "firmware/campaigns/new/": {
            "name": "c",
            "version": o.firmware.version,
            "select": "list",
            "endpoints": o.spare.name,
            "waves": "100",
        },
        "rollouts/new/": {
            "name": "r",
            "kind": "READ",
            "path": "/3/0/0",
            "select": "names",
            "endpoints": o.spare.name,
            "waves": "100",
        },
        "users/": {"action": "create", "username": "newcomer", "role": "viewer"},
        "endpoints/<str:name>/tags/": {"action": "add", "label": "matrix"},
        "bulk/": {"add": "matrix"},
        "sites/": {"name": "a page's site"},
        "sites/<int:pk>/": {"name": "matrix site", "description": "changed"},
        "sites/<int:pk>/rules/": {"kind": "prefix", "text": "urn:imei:97"},
        "tokens/": {"name": "mine"},
        "notifications/new/": {"name": "m", "kind": "email", "recipients": "ops@example.com", "min_severity": "major"},
        "notifications/<int:pk>/": {"name": "changed", "url": "http://127.0.0.1:9/x", "min_severity": "major"},
        "provisioning/devices/<str:name>/": {"mode": "x509"},
        "accounts/login/": {"username": "nobody", "password": "wrong"},
        "admin/login/": {"username": "nobody", "password": "wrong"},
    }
    if method not in ("POST", "PATCH", "PUT"):
        return {}
    if route in json_bodies:
        return {"data": json.dumps(json_bodies[route]), "content_type": "application/json"}
    if route in ("provisioning/import/", "api/v1/provisioning/import"):
        return {"data": {"file": SimpleUploadedFile("fleet.csv", b"endpoint,mode\nurn:imei:350000000000099,x509\n")}}
    if route in ("firmware/", "api/v1/firmware"):
        return {"data": {"version": "9.9.9", "file": SimpleUploadedFile("app.bin", b"\x00firmware")}}
    return {"data": forms.get(route, {})}


# --- walking the routes --------------------------------------------------------------------------------------


def _patterns(resolver: URLResolver, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            yield from _patterns(pattern, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def _ninja_methods(pattern: URLPattern) -> list[str] | None:
    """The methods of a django-ninja path (its PathView sits in the view's closure), else None."""
    for cell in getattr(pattern.callback, "__closure__", None) or ():
        operations = getattr(cell.cell_contents, "operations", None)
        if operations is not None and type(cell.cell_contents).__name__ == "PathView":
            return sorted({method for operation in operations for method in operation.methods})
    return None


# Methods a Django view answers beyond GET and POST, decided in EXPECTED too (devices and proxies use HEAD).
OTHER_METHODS = {"firmware/package/<str:token>/<str:filename>": ["HEAD"]}


def http_routes() -> list[tuple[str, str]]:
    """Every (method, route) the project answers: GET and POST (and OTHER_METHODS) for each Django view,
    each ninja operation."""
    found = []
    for route, pattern in _patterns(get_resolver()):
        methods = _ninja_methods(pattern) or ["GET", "POST", *OTHER_METHODS.get(route, [])]
        found.extend((method, route) for method in methods)
    return found


def ninja_operations() -> set[tuple[str, str]]:
    """The operations of both ninja APIs as their objects list them (to prove the walk saw them all)."""
    from core.api import api, bridge_api

    found = set()
    for ninja_api, prefix in ((api, "api/v1"), (bridge_api, "leshan_api")):
        for _, router in ninja_api._routers:
            for path, path_view in router.path_operations.items():
                route = prefix + path.replace("{", "<").replace("}", ">")
                found.update((method, route) for operation in path_view.operations for method in operation.methods)
    return found


# --- the personas --------------------------------------------------------------------------------------------


def persona_client(name: str) -> Client:
    client = Client(REMOTE_ADDR=UNTRUSTED_ADDRESS, raise_request_exception=False)
    users: dict[str, Callable[[], Any]] = {
        "outsider": lambda: make_user(None, username="p-outsider"),
        "viewer": lambda: make_user(Role.VIEWER, username="p-viewer"),
        "operator": lambda: make_user(Role.OPERATOR, username="p-operator"),
        # As the users page makes an admin: the admin role, and staff for the Django admin.
        "admin": lambda: make_user(Role.ADMIN, username="p-admin", is_staff=True),
        # As `bootstrap` makes the first administrator.
        "superuser": lambda: make_user(Role.ADMIN, username="p-superuser", is_staff=True, is_superuser=True),
    }
    if name in users:
        client.force_login(users[name]())
    if name == "bridge":
        client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {BRIDGE_TOKEN}"
    return client


def observe(client: Client, method: str, url: str, body: dict[str, Any]) -> int:
    cookies = SimpleCookie()
    cookies.load(client.cookies.output(header="", sep=";"))
    with transaction.atomic():
        response = client.generic(method, url, **_encoded(method, body))
        transaction.set_rollback(True)
    client.cookies = cookies  # a logout must not log the persona out for the next request
    return response.status_code


def _encoded(method: str, body: dict[str, Any]) -> dict[str, Any]:
    if method == "GET" or not body:
        return {}
    if "content_type" in body:
        return {"data": body["data"], "content_type": body["content_type"]}
    return {"data": encode_multipart(BOUNDARY, body["data"]), "content_type": MULTIPART_CONTENT}


# --- the tests -----------------------------------------------------------------------------------------------


def test_every_route_has_a_decision() -> None:
    routes = http_routes()
    missing = [key for key in routes if key not in EXPECTED]
    assert not missing, (
        "These routes have no authorization decision: add them to EXPECTED in "
        "tests/security/test_authorization_matrix.py with the status each persona must get:\n"
        + "\n".join(f"  {method} {route}" for method, route in missing)
    )
    stale = set(EXPECTED) - set(routes)
    assert not stale, f"EXPECTED decides routes the project no longer has: {sorted(stale)}"


def test_the_walk_sees_every_ninja_operation() -> None:
    assert ninja_operations() <= set(http_routes())


@pytest.mark.parametrize("persona", PERSONAS)
def test_each_persona_gets_the_decided_answer(persona: str, objects: Objects, settings: Any) -> None:
    settings.BRIDGE_TOKEN = BRIDGE_TOKEN
    settings.METRICS_TOKEN = METRICS_TOKEN
    column = PERSONAS.index(persona)
    client = persona_client(persona)
    wrong = []
    for (method, route), (template, statuses) in sorted(EXPECTED.items()):
        url = objects.fill(template)
        body = request_body(method, route, objects)
        status = observe(client, method, url, body)
        if status != statuses[column]:
            wrong.append(f"  {method} {url} ({route}): {status}, decided {statuses[column]}")
    assert not wrong, f"{persona} got answers the table does not decide:\n" + "\n".join(wrong)


# --- websockets ----------------------------------------------------------------------------------------------


def websocket_routes() -> list[str]:
    return [str(pattern.pattern) for pattern in websocket_urlpatterns]


def test_every_websocket_route_has_a_decision() -> None:
    missing = [route for route in websocket_routes() if route not in WS_EXPECTED]
    assert not missing, (
        "These websocket routes have no authorization decision: add them to WS_EXPECTED in "
        f"tests/security/test_authorization_matrix.py: {missing}"
    )


async def _websocket_answer(
    path: str, cookie: bytes | None, authorization: bytes | None, origin: bytes = b"http://localhost"
) -> int | str:
    from core.asgi import application

    headers = [(b"origin", origin), (b"host", b"localhost")]
    if cookie:
        headers.append((b"cookie", cookie))
    if authorization:
        headers.append((b"authorization", authorization))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    communicator.scope["server"] = ("localhost", 80)
    communicator.scope["client"] = (UNTRUSTED_ADDRESS, 50000)
    connected, code = await communicator.connect(timeout=5)
    if not connected:
        return f"rejected {code}"
    if await communicator.receive_nothing(timeout=0.5):
        await communicator.disconnect()
        return "open"
    message = await communicator.receive_output(timeout=1)
    if message["type"] == "websocket.close":
        return message.get("code", 1000)
    await communicator.disconnect()
    return "open"


def _session_cookie(persona: str) -> bytes | None:
    client = persona_client(persona)
    if "sessionid" not in client.cookies:
        return None
    return f"sessionid={client.cookies['sessionid'].value}".encode()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("persona", PERSONAS)
async def test_each_persona_gets_the_decided_websocket_answer(persona: str, settings: Any) -> None:
    settings.BRIDGE_TOKEN = BRIDGE_TOKEN
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    endpoint = await database_sync_to_async(make_endpoint)(name="urn:imei:350000000000009")
    cookie = await database_sync_to_async(_session_cookie)(persona)
    authorization = f"Bearer {BRIDGE_TOKEN}".encode() if persona == "bridge" else None
    column = PERSONAS.index(persona)
    wrong = []
    for route, (path, answers) in WS_EXPECTED.items():
        url = path.format(endpoint=endpoint.name)
        answer = await _websocket_answer(url, cookie, authorization)
        if answer != answers[column]:
            wrong.append(f"  {url} ({route}): {answer!r}, decided {answers[column]!r}")
    channel_layers.backends.clear()
    assert not wrong, f"{persona} got websocket answers the table does not decide:\n" + "\n".join(wrong)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("origin", [b"http://localhost:9999", b"https://localhost", b"http://evil.example", b"null"])
async def test_every_websocket_route_refuses_another_origin(origin: bytes, settings: Any) -> None:
    """A page of another origin (another port of the same host included) cannot use a viewer's cookie."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    endpoint = await database_sync_to_async(make_endpoint)(name="urn:imei:350000000000009")
    cookie = await database_sync_to_async(_session_cookie)("viewer")
    wrong = []
    for route, (path, _) in WS_EXPECTED.items():
        answer = await _websocket_answer(path.format(endpoint=endpoint.name), cookie, None, origin=origin)
        if answer != "rejected 1000":  # the handshake refused (closed before accepting: daphne answers 403)
            wrong.append(f"  {route}: {answer!r}")
    channel_layers.backends.clear()
    assert not wrong, f"Origin {origin.decode()} was not refused:\n" + "\n".join(wrong)
