"""Settings come from the environment; a production server refuses an unsafe configuration."""

import sqlite3
import threading
from pathlib import Path

import pytest
from django.db import connection

from tests.subprocess_env import PRODUCTION_KEY, clean_env, run_manage, run_python

PRODUCTION = {
    "SECRET_KEY": PRODUCTION_KEY,
    "ALLOWED_HOSTS": "fieldhub.example.com",
    "SECURE_SSL_REDIRECT": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
    "SECURE_PROXY_SSL_HEADER": "1",
}


def test_without_debug_it_refuses_to_start_without_a_secret_key() -> None:
    result = run_manage("check", env=clean_env())
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


@pytest.mark.parametrize(
    "key", ["fieldhub-insecure-development-key", "django-insecure-abcdefghijklmnopqrstuvwxyz0123456789", "short"]
)
def test_without_debug_it_refuses_a_development_or_short_key(key: str) -> None:
    result = run_manage("check", env=clean_env(SECRET_KEY=key))
    assert result.returncode != 0
    assert "SECRET_KEY is a development or short key" in result.stderr


def test_debug_mode_runs_with_the_development_key() -> None:
    result = run_manage("check", env=clean_env(DEBUG="1"))
    assert result.returncode == 0, result.stderr


def test_check_deploy_passes_with_the_documented_production_variables() -> None:
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=clean_env(**PRODUCTION))
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_with_debug_on() -> None:
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=clean_env(**PRODUCTION, DEBUG="1"))
    assert result.returncode != 0
    assert "security.W018" in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DEBUG", "maybe", "DEBUG must be a boolean"),
        ("DATABASE_URL", "mysql://root@localhost/x", "DATABASE_URL must be a postgres:// or sqlite:// URL"),
        ("REDIS_URL", "http://localhost:6379", "REDIS_URL must be a redis://"),
        ("LESHAN_URL", "ftp://leshan", "LESHAN_URL must be an http:// or https:// URL"),
        ("BRIDGE_TRUSTED_NETWORKS", "10.0.0.0/33", "BRIDGE_TRUSTED_NETWORKS"),
        ("TRUSTED_PROXIES", "proxy.example", "TRUSTED_PROXIES: 'proxy.example' does not appear to be an IPv4"),
        ("TELEMETRY_PARTITION", "year", "TELEMETRY_PARTITION must be month, week or day, not 'year'"),
        ("TELEMETRY_RETENTION_DAYS", "-1", "TELEMETRY_RETENTION_DAYS must be at least 0, not -1"),
        ("REGISTRATION_GRACE_SECONDS", "soon", "REGISTRATION_GRACE_SECONDS must be an integer, not 'soon'"),
        ("DEFAULT_LIFETIME_SECONDS", "0", "DEFAULT_LIFETIME_SECONDS must be at least 1, not 0"),
        ("QUEUE_MODE_AWAKE_SECONDS", "1m", "QUEUE_MODE_AWAKE_SECONDS must be an integer, not '1m'"),
        ("LOGIN_FAILURE_LIMIT", "0", "LOGIN_FAILURE_LIMIT must be at least 1, not 0"),
        ("INGEST_MAX_RESOURCES", "many", "INGEST_MAX_RESOURCES must be an integer"),
        ("INGEST_MAX_RESOURCES", "0", "INGEST_MAX_RESOURCES must be at least 1"),
        ("SPARKLINE_PATH", "temperature", "SPARKLINE_PATH must be a resource path like /3303/0/5700"),
    ],
)
def test_it_names_a_malformed_variable(name: str, value: str, message: str) -> None:
    result = run_manage("check", env=clean_env(SECRET_KEY=PRODUCTION_KEY, **{name: value}))
    assert result.returncode != 0
    assert message in result.stderr


def test_production_cookies_are_secure_by_default() -> None:
    result = run_python(
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.DEBUG)",
        env=clean_env(SECRET_KEY=PRODUCTION_KEY),
    )
    assert result.stdout.split() == ["True", "True", "False"], result.stderr


def test_the_embedded_default_is_a_sqlite_file_in_wal_mode(tmp_path: Path) -> None:
    result = run_python(
        "import django; django.setup(); from django.db import connection as c; cur = c.cursor(); "
        "cur.execute('PRAGMA journal_mode'); "
        "print(c.vendor, cur.fetchone()[0], c.settings_dict['NAME'])",
        env=clean_env(DEBUG="1", FIELDHUB_VAR_DIR=str(tmp_path)),
    )
    assert result.returncode == 0, result.stderr
    vendor, mode, name = result.stdout.split()
    assert (vendor, mode, name) == ("sqlite", "wal", str(tmp_path / "fieldhub.sqlite3"))


@pytest.mark.sqlite
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_wait_instead_of_failing_with_database_locked() -> None:
    from django.db import connections

    from core.models import Endpoint

    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for i in range(25):
                Endpoint.objects.create(name=f"w{worker}-{i}")
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Endpoint.objects.filter(name__startswith="w").count() == 100
    assert connection.vendor == "sqlite"
    assert sqlite3.sqlite_version_info >= (3, 35)
