"""The system check that refuses to start without CREDENTIALS_KEY once credentials are stored.

Settings cannot read the database (it is not set up when they load), so the check runs where Django runs
its system checks: every management command that needs them (``serve``, ``dispatch``, ``leshan_events``,
``migrate``, ``check``). It costs one ``EXISTS`` query on an indexed column, and only when the key is missing.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error
from django.db import DatabaseError


def credentials_key_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if settings.CREDENTIALS_KEY:
        return []
    from core.provisioning.models import Credential

    try:
        stored = Credential.objects.filter(sealed_key__isnull=False).exists()
    except DatabaseError:  # no database yet, or not migrated: nothing is stored
        return []
    if not stored:
        return []
    return [
        Error(
            "CREDENTIALS_KEY is not set, and device credentials are stored: they could be neither read nor "
            "pushed to Leshan.",
            hint="Set CREDENTIALS_KEY to the value the credentials were stored with.",
            id="fieldhub.E001",
        )
    ]
