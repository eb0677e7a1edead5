from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.apps import AppConfig

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from core.models import Endpoint


class FirmwareConfig(AppConfig):
    name = "firmware"

    def ready(self) -> None:
        """Plug into telemetry without telemetry importing firmware (see telemetry.hooks)."""
        from firmware import rollouts, services
        from telemetry import hooks
        from telemetry.rollouts import kinds

        hooks.set_firmware_listener(services.firmware_reported)
        hooks.add_fleet_counter("updating", updating_count)
        hooks.add_periodic(services.firmware_updates_expire)
        hooks.add_retry_guard(retry_refusals)
        kinds.add_kind(rollouts.KIND)


# What telemetry asks through its hooks, read on Fieldhub's own account: telemetry checked who asks (the
# dashboard's viewer, the operator who retries) before it calls them.


def updating_count(endpoints: QuerySet[Endpoint]) -> dict[int | None, int]:
    """The dashboard's "updating": of these devices (those telemetry's user sees), those with an update
    under way, by site."""
    from core.permissions import SYSTEM
    from firmware import selectors

    return selectors.updating_by_site(user=SYSTEM, endpoints=endpoints)


def retry_refusals(operation_ids: Sequence[int]) -> dict[int, str]:
    """Why each of these operations, queued by a firmware update that is over, may not be retried."""
    from core.permissions import SYSTEM
    from firmware import selectors

    return selectors.operation_retry_refusals(user=SYSTEM, operation_ids=operation_ids)
