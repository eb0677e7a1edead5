from django.apps import AppConfig


class TelemetryConfig(AppConfig):
    name = "telemetry"

    def ready(self) -> None:
        """On every sweep of a dispatcher: the partition maintenance (at most once an hour, PostgreSQL only)
        and the presence rule for devices that went quiet (``lifecycle.services.endpoints_expire``)."""
        from telemetry import hooks, partitions
        from telemetry.lifecycle import services as lifecycle

        hooks.add_periodic(partitions.partitions_maintain_periodically)
        hooks.add_periodic(lifecycle.endpoints_expire)
