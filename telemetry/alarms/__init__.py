"""Alarms: rules that watch readings and the fleet, and the alarms they raise (ACTIVE → ACKNOWLEDGED →
CLEARED). Their notifications are ``telemetry.notifications``: told of every change by
``telemetry.alarms.signals.alarm_changed``, inside the change's transaction."""
