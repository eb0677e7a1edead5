import sqlite3
from typing import Any

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.core import checks
from django.db.backends.signals import connection_created


def _sqlite_real_variable_limit(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Django assumes SQLite's old default of 999 variables per statement and splits bulk inserts into
    many small ones; this SQLite allows far more (32766 since 3.32). Read the real limit, so that a post of
    hundreds of readings is one INSERT as on PostgreSQL."""
    if connection.vendor == "sqlite":
        limit = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        connection.features.max_query_params = max(limit, 999)


class CoreConfig(AppConfig):
    name = "core"

    def ready(self) -> None:
        connection_created.connect(_sqlite_real_variable_limit, dispatch_uid="fieldhub-sqlite-variable-limit")
        from core.provisioning.checks import credentials_key_check

        checks.register(credentials_key_check)


class AdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with Fieldhub's site (core.adminsite: the throttled login answering 429)."""

    default = False  # "core" in INSTALLED_APPS still means CoreConfig
    default_site = "core.adminsite.FieldhubAdminSite"
