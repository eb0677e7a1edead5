"""``manage.py alarm_demo_rules``: the demo's alarm rules (``make demo`` runs it after ``bootstrap``; never
part of a production bootstrap). With ``simulate --trouble`` they raise alarms within minutes: 0001
overheats, 0002's battery drains, 0003 falls silent. Rules of the same name are left as they are."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from core.permissions import SYSTEM
from telemetry.alarms import services
from telemetry.alarms.models import AlarmRule

DEMO_RULES: list[dict[str, Any]] = [
    {
        "name": "Overheating",
        "kind": "above",
        "path": "/3303/*/5700",
        "threshold": 35.0,
        "clear_threshold": 30.0,
        "readings": 2,
        "severity": "critical",
        "description": "temperature above 35 °C for two readings; cleared below 30 °C",
    },
    {
        "name": "Battery low",
        "kind": "battery",
        "threshold": 20.0,
        "clear_threshold": 30.0,
        "severity": "minor",
        "description": "battery level (3/0/9) below 20 %; cleared at 30 %",
    },
    {"name": "No data", "kind": "no_data", "minutes": 1, "severity": "major", "description": "silent for a minute"},
    {"name": "Offline", "kind": "offline", "minutes": 2, "severity": "warning", "description": "offline for 2 min"},
    {"name": "Firmware update failed", "kind": "firmware_failed", "severity": "major"},
    {"name": "Command failed", "kind": "command_failed", "severity": "warning"},
]


class Command(BaseCommand):
    help = "Create the demo's alarm rules (for `make demo`; rules of the same name are kept)."

    def handle(self, *args: Any, **options: Any) -> None:
        existing = set(AlarmRule.objects.values_list("name", flat=True))
        made = [
            services.alarm_rule_create(actor=SYSTEM, **fields).name
            for fields in DEMO_RULES
            if fields["name"] not in existing
        ]
        self.stdout.write(f"demo alarm rules: {len(made)} created, {len(DEMO_RULES) - len(made)} there already")
