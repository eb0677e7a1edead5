from django.apps import AppConfig


class FirmwareConfig(AppConfig):
    name = "firmware"

    def ready(self) -> None:
        """Plug into telemetry without telemetry importing firmware (see telemetry.hooks)."""
        from firmware import services
        from telemetry import hooks

        hooks.set_firmware_listener(services.firmware_reported)
        hooks.add_fleet_counter("updating", services.updating_count)
        hooks.add_periodic(services.firmware_updates_expire)
        hooks.add_periodic(services.campaigns_advance)
        hooks.add_retry_guard(services.operation_retry_refusals)
