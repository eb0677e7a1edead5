"""GET /healthz reports whether the database and the channel layer answer."""

import json

import pytest
from django.test import Client

from tests.subprocess_env import PRODUCTION_KEY, clean_env, run_python

pytestmark = pytest.mark.django_db


def test_it_is_200_when_everything_answers(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "channel_layer": "ok"}}
    assert "no-cache" in response["Cache-Control"]


def test_it_is_503_when_the_channel_layer_is_down(client: Client, settings) -> None:
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://127.0.0.1:1"]}}
    }
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["channel_layer"].startswith("unavailable")


def test_it_is_503_when_the_database_is_down() -> None:
    code = (
        "import django, json; django.setup(); from django.test import Client; "
        "r = Client(SERVER_NAME='localhost').get('/healthz'); print(r.status_code, json.dumps(r.json()))"
    )
    env = clean_env(SECRET_KEY=PRODUCTION_KEY, DATABASE_URL="postgres://postgres@127.0.0.1:1/nowhere")
    result = run_python(code, env=env)
    assert result.returncode == 0, result.stderr
    status, body = result.stdout.strip().split(" ", 1)
    assert status == "503"
    assert json.loads(body)["checks"] == {"database": "unavailable (OperationalError)", "channel_layer": "ok"}


def test_it_answers_only_get(client: Client) -> None:
    assert client.post("/healthz").status_code == 405
