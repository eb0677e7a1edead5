"""/readyz: ready when /healthz's checks pass, every migration is applied and the process is not stopping."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client

from core.monitoring import readiness

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    readiness.reset()
    yield
    readiness.reset()


def test_it_is_ready_when_everything_is(client: Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"shutdown": "ok", "database": "ok", "channel_layer": "ok", "migrations": "ok"},
    }
    assert "no-cache" in response["Cache-Control"]


def test_it_fails_while_a_migration_is_pending(client: Client) -> None:
    # As after a deploy of new code before `migrate` ran: the newest migration of an app is not applied.
    newest = MigrationRecorder.Migration.objects.filter(app="telemetry").order_by("-id").first()
    assert newest is not None
    newest.delete()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] == "1 pending"
    assert response.json()["status"] == "unavailable"
    assert client.get("/healthz").status_code == 200  # alive all the same
    MigrationRecorder.Migration.objects.create(app=newest.app, name=newest.name)
    assert client.get("/readyz").status_code == 200


def test_it_fails_once_the_process_is_shutting_down(client: Client) -> None:
    readiness.begin_shutdown()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["shutdown"] == "shutting down"
    assert client.get("/healthz").status_code == 200


def test_it_fails_when_the_channel_layer_is_down(client: Client, settings) -> None:
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://127.0.0.1:1"]}}
    }
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["channel_layer"].startswith("unavailable")


def test_it_answers_only_get(client: Client) -> None:
    assert client.post("/readyz").status_code == 405
