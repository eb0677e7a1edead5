"""Fixtures shared by every test: the loaded registry, the four personas, an isolated media folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from core.roles import Role
from tests.factories import make_user

# The configured database's name, before pytest-django points the connection at the test database.
DATABASE_NAME = connection.settings_dict["NAME"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    vendor = connection.vendor
    for item in items:
        if "postgres" in item.keywords and vendor != "postgresql":
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)"))
        if "sqlite" in item.keywords and vendor != "sqlite":
            item.add_marker(pytest.mark.skip(reason="SQLite-specific"))
        if "redis" in item.keywords and not settings.REDIS_URL:
            item.add_marker(pytest.mark.skip(reason="needs Redis (set REDIS_URL)"))


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> None:
    """The test database holds the LwM2M registry and the roles, as after `manage.py bootstrap`. (A run of
    tests that need no database sets none up: pytest-django sets up only what the collected tests use.)"""
    from core.services import resource_types_load_registry, roles_ensure

    if connection.settings_dict["NAME"] == DATABASE_NAME:  # still the configured database: none set up
        return
    with django_db_blocker.unblock():
        resource_types_load_registry()
        roles_ensure()


@pytest.fixture(autouse=True, scope="session")
def _publisher_drained_before_the_database_goes(django_db_setup: None) -> Any:
    """Live fragments still waiting to render must not meet a test database that is being dropped."""
    yield
    from realtime.publisher import publisher

    publisher.flush(timeout=10)


@pytest.fixture(autouse=True)
def _registry_after_flush(request: pytest.FixtureRequest) -> None:
    """A transactional test starts after an earlier one flushed every table: load the registry again."""
    marker = request.node.get_closest_marker("django_db")
    if "transactional_db" in request.fixturenames or (marker and marker.kwargs.get("transaction")):
        request.getfixturevalue("transactional_db")
        from core.models import ResourceType
        from core.services import resource_types_load_registry, roles_ensure

        if not ResourceType.objects.exists():
            resource_types_load_registry()
            roles_ensure()


@pytest.fixture(autouse=True)
def _media_root(tmp_path: Path, settings: Any) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _fresh_resource_type_cache() -> None:
    from core.registry import resource_types

    resource_types.clear()


@pytest.fixture(autouse=True)
def _fresh_alarm_rule_cache() -> None:
    """Rules of an earlier test (rolled back) must not be judged by this one's posts."""
    from telemetry.alarms.cache import rule_cache

    rule_cache.clear()


@pytest.fixture
def viewer(db: None) -> Any:
    return make_user(Role.VIEWER, username="vera-viewer")


@pytest.fixture
def operator(db: None) -> Any:
    return make_user(Role.OPERATOR, username="otto-operator")


@pytest.fixture
def admin_user(db: None) -> Any:
    return make_user(Role.ADMIN, username="ada-admin")


@pytest.fixture
def outsider(db: None) -> Any:
    """Logged in, but holds no role."""
    return make_user(None, username="oscar-outsider")
