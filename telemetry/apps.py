from django.apps import AppConfig


class TelemetryConfig(AppConfig):
    name = "telemetry"

    def ready(self) -> None:
        """The partition maintenance runs on a dispatcher's sweep, at most once an hour (PostgreSQL only)."""
        from telemetry import hooks, partitions, services

        hooks.add_periodic(partitions.partitions_maintain_periodically)
        hooks.add_periodic(services.endpoints_expire)
