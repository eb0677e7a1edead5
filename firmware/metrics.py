"""Firmware's Prometheus figures, counted at scrape time: updates, and campaigns (firmware rollouts) by status."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily, Metric

from firmware.models import FirmwareUpdate
from telemetry.models import Rollout


def collect() -> Iterator[Metric]:
    updates = GaugeMetricFamily("fieldhub_firmware_updates", "Firmware updates by status", labels=["status"])
    counts = dict(FirmwareUpdate.objects.order_by().values_list("status").annotate(n=Count("id")))
    for status in FirmwareUpdate.Status.values:
        updates.add_metric([status.lower()], counts.get(status, 0))
    yield updates
    campaigns = GaugeMetricFamily("fieldhub_firmware_campaigns", "Firmware campaigns by status", labels=["status"])
    firmware = Rollout.objects.filter(kind=Rollout.FIRMWARE).order_by()
    counts = dict(firmware.values_list("status").annotate(n=Count("id")))
    for status in Rollout.Status.values:
        campaigns.add_metric([status.lower()], counts.get(status, 0))
    yield campaigns
