"""Log lines: JSON one object per line with the request's id, user, endpoint and duration; the request id
returned; nothing secret in any line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from core.monitoring.logs import JsonFormatter, RequestContextFilter, logging_config
from core.services import token_create
from firmware.services.images import package_uri
from tests.factories import make_firmware, make_user
from tests.telemetry.bridge_client import post, single

pytestmark = pytest.mark.django_db

PASSWORD = "a-password-for-the-log-test-7731"
BRIDGE_TOKEN = "bridge-token-for-the-log-test-9924"
METRICS_TOKEN = "metrics-token-for-the-log-test-5518"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every record of every logger, at DEBUG, as LOG_FORMAT=json writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestContextFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_request_has_one_access_line_with_its_id_and_duration(captured: io.StringIO) -> None:
    response = Client().get("/accounts/login/", HTTP_X_REQUEST_ID="trace-42")
    assert response["X-Request-ID"] == "trace-42"
    access = [line for line in lines(captured) if line["logger"] == "fieldhub.access"]
    assert len(access) == 1
    line = access[0]
    assert set(line) >= {"time", "level", "logger", "message", "request_id", "user", "endpoint", "duration_ms"}
    assert (line["request_id"], line["method"], line["path"], line["route"], line["status"]) == (
        "trace-42",
        "GET",
        "/accounts/login/",
        "accounts/login/",
        200,
    )
    assert line["level"] == "INFO"
    assert line["time"].endswith("+00:00")
    assert isinstance(line["duration_ms"], float)


def test_an_unusable_request_id_is_replaced(captured: io.StringIO) -> None:
    response = Client().get("/accounts/login/", HTTP_X_REQUEST_ID="bad id\twith spaces")
    made = response["X-Request-ID"]
    assert made != "bad id\twith spaces"
    assert len(made) == 32
    assert Client().get("/accounts/login/")["X-Request-ID"] != made


def test_the_user_and_the_endpoint_are_named(captured: io.StringIO, settings: Any) -> None:
    user = make_user(is_superuser=True, username="ops")
    client = Client()
    client.force_login(user)
    assert post(client, "single", single("dev-7", "/3303/0/5700", "FLOAT", 1.5)).status_code == 201
    assert client.get("/endpoints/dev-7/").status_code == 200
    access = [line for line in lines(captured) if line["logger"] == "fieldhub.access"]
    assert [(a["user"], a["endpoint"]) for a in access] == [("bridge", "dev-7"), ("ops", "dev-7")]


def test_an_error_response_line_has_the_request_id(captured: io.StringIO) -> None:
    response = Client().get("/no/such/page/")
    warnings = [line for line in lines(captured) if line["logger"] == "django.request"]
    assert warnings
    assert warnings[0]["request_id"] == response["X-Request-ID"]


def test_the_default_format_is_human_readable() -> None:
    config = logging_config(log_format="plain", level="INFO")
    assert config["handlers"]["console"]["formatter"] == "plain"
    formatter = logging.Formatter(config["formatters"]["plain"]["format"])
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    RequestContextFilter().filter(record)
    assert formatter.format(record).endswith("INFO x [] hello world")


def test_no_secret_reaches_a_log_line(captured: io.StringIO, settings: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Logins, API tokens, the bridge token, the metrics token and a firmware download token, right and wrong."""
    caplog.set_level(logging.DEBUG)
    settings.BRIDGE_TOKEN = BRIDGE_TOKEN
    settings.METRICS_TOKEN = METRICS_TOKEN
    user = make_user(is_superuser=True, username="secretive")
    user.set_password(PASSWORD)
    user.save()
    _token, api_secret = token_create(actor=user, user=user, name="ci")
    firmware = make_firmware()
    outside = Client(REMOTE_ADDR="192.0.2.10")
    assert outside.post("/accounts/login/", {"username": "secretive", "password": PASSWORD + "x"}).status_code == 200
    assert outside.post("/accounts/login/", {"username": "secretive", "password": PASSWORD}).status_code == 302
    assert outside.get("/api/v1/endpoints", HTTP_AUTHORIZATION=f"Bearer {api_secret}").status_code == 200
    assert outside.get("/api/v1/endpoints", HTTP_AUTHORIZATION=f"Bearer {api_secret}x").status_code == 401
    body = single("dev-s", "/3303/0/5700", "FLOAT", 1.5)
    assert post(outside, "single", body, HTTP_AUTHORIZATION=f"Bearer {BRIDGE_TOKEN}").status_code == 201
    assert post(outside, "single", body, HTTP_AUTHORIZATION=f"Bearer {BRIDGE_TOKEN}x").status_code == 401
    assert outside.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}").status_code == 200
    assert outside.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}x").status_code == 403
    assert outside.get(package_uri(firmware)).status_code == 200
    text = captured.getvalue() + "\n" + caplog.text
    assert "fieldhub.access" in text
    assert "/firmware/package/<hidden>/" in text
    for secret in (PASSWORD, api_secret, BRIDGE_TOKEN, METRICS_TOKEN, firmware.download_token):
        assert secret not in text
