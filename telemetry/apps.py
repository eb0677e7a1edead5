from django.apps import AppConfig


class TelemetryConfig(AppConfig):
    name = "telemetry"

    def ready(self) -> None:
        """On every sweep of a dispatcher: the partition maintenance (at most once an hour, PostgreSQL only)
        and the presence rule for devices that went quiet (``lifecycle.services.endpoints_expire``), and
        rollouts moved on (also told by the queue as their operations change: ``telemetry.rollouts``); the
        live updates of devices whose site or labels changed; an alarm change's notifications, written in its
        transaction (``telemetry.notifications``), and its live updates after the commit. The alarm rules: judged
        on ingest, swept for the no data / offline kinds, told of failed firmware updates and commands
        (``telemetry.alarms``)."""
        from core.signals import endpoints_retagged
        from telemetry import announce, hooks, partitions
        from telemetry.alarms import announce as alarm_announce
        from telemetry.alarms import evaluate as alarms_evaluate
        from telemetry.alarms import fleet as alarms_fleet
        from telemetry.alarms.signals import alarm_changed
        from telemetry.lifecycle import services as lifecycle
        from telemetry.notifications import services as notifications
        from telemetry.provisioning import services as provisioning
        from telemetry.rollouts import services as rollouts

        hooks.add_periodic(partitions.partitions_maintain_periodically)
        hooks.add_periodic(lifecycle.endpoints_expire)
        hooks.add_periodic(rollouts.rollouts_advance)
        # Credentials Leshan lost (its store wiped by an upgrade) pushed again, every PROVISIONING_SYNC_MINUTES.
        hooks.add_periodic(provisioning.credentials_sync_periodic)
        hooks.add_operation_listener(rollouts.operations_changed)
        hooks.set_readings_judge(
            alarms_evaluate.watched,
            alarms_evaluate.readings_judge,
            alarms_evaluate.state_sql,
            alarms_evaluate.readings_guard,
        )
        hooks.add_periodic(alarms_fleet.alarms_sweep)
        hooks.add_operation_listener(alarms_fleet.operations_changed)
        hooks.add_firmware_outcome_listener(alarms_fleet.firmware_update_finished)
        # A device's site or labels changed (core.sites): its row and page, live.
        endpoints_retagged.connect(announce.on_endpoints_retagged, dispatch_uid="telemetry.endpoints_retagged")
        # An alarm raised, acknowledged or cleared: its notifications, in its transaction; the alarm pages,
        # the dashboard and the device page, live, after the commit.
        alarm_changed.connect(notifications.on_alarm_changed, dispatch_uid="telemetry.notifications")
        alarm_changed.connect(alarm_announce.on_alarm_changed, dispatch_uid="telemetry.alarms.announce")
