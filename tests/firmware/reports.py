"""What a device reports during a firmware update, as the bridge posts it: for the campaign and
query-count tests."""

from __future__ import annotations

from typing import Any

from core.lwm2m.nodes import Path, Reading
from core.lwm2m.types import DataType
from firmware.models import FirmwareUpdate
from telemetry import ingest

TYPES = {"/5/0/3": DataType.INTEGER, "/5/0/5": DataType.INTEGER, "/3/0/3": DataType.STRING, "/10240/0/0": DataType.TIME}


def report(name: str, *values: tuple[str, Any]) -> None:
    ingest.ingest(endpoint_name=name, readings=[Reading(Path.parse(p), TYPES[p], v) for p, v in values])


def finish(update: FirmwareUpdate, *, ok: bool) -> None:
    """The device downloads, updates, reboots and reports the new version (``ok``), or fails the download."""
    name = update.endpoint.name
    if ok:
        report(name, ("/5/0/3", 2), ("/5/0/3", 3))
        report(name, ("/10240/0/0", 1))
        report(name, ("/3/0/3", update.firmware.version))
    else:
        report(name, ("/5/0/3", 1), ("/5/0/5", 5))
