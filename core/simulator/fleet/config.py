"""What a fleet is configured with, the seed's decisions, its counters, and the Firmware Update codes."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Literal
from urllib.parse import urlsplit

# Object 5 (Firmware Update): State (5/0/3) and Update Result (5/0/5).
IDLE, DOWNLOADING, DOWNLOADED, UPDATING = 0, 1, 2, 3
RESULT_INITIAL, RESULT_SUCCESS, RESULT_UPDATE_FAILED = 0, 1, 8
DOWNLOAD_FAILURES = frozenset({2, 3, 4, 5, 6, 7, 9})  # results a device reports instead of DOWNLOADED
RESULT_CONNECTION_LOST, RESULT_INTEGRITY, RESULT_UNSUPPORTED_PACKAGE, RESULT_INVALID_URI = 4, 5, 6, 7
RESULT_UNSUPPORTED_PROTOCOL = 9


TROUBLE_CYCLE = 30  # reports (or intervals)
OVERHEATING, DRAINING, FALLING_SILENT = 1, 2, 3  # the troubled devices' indexes


@dataclasses.dataclass(frozen=True)
class FleetConfig:
    """What ``manage.py simulate`` sets; see its ``--help`` for each."""

    devices: int = 10
    interval: float = 10.0
    url: str = "http://127.0.0.1:8000"
    leshan_host: str = "127.0.0.1"
    leshan_port: int = 8080  # Fieldhub's default LESHAN_URL
    seed: int = 1
    via: Literal["bridge", "events"] = "bridge"
    token: str = ""
    prefix: str = "urn:dev:sim-"
    lifetime: int = 300
    queue_mode: float = 0.25
    awake: float = 3.0
    offline: float = 0.002
    firmware_failure: float = 0.05
    failure_result: int = RESULT_UPDATE_FAILED
    download_rate: int = 100_000
    update_seconds: float = 3.0
    reports: int | None = None
    # Devices 0001-0003 misbehave, so that alarms happen: 0001 overheats (its temperature climbs 20 °C
    # above its climate and back, every TROUBLE_CYCLE reports), 0002's battery drains fast (and is reported
    # every time), 0003 falls silent for TROUBLE_CYCLE intervals out of every two TROUBLE_CYCLEs.
    trouble: bool = False

    def __post_init__(self) -> None:
        problems = [
            message
            for wrong, message in (
                (self.devices < 1, "devices must be at least 1"),
                (self.interval <= 0, "interval must be more than 0 seconds"),
                (not 0 <= self.queue_mode <= 1, "queue_mode is a fraction between 0 and 1"),
                (not 0 <= self.offline <= 1, "offline is a probability between 0 and 1"),
                (not 0 <= self.firmware_failure <= 1, "firmware_failure is a probability between 0 and 1"),
                (self.failure_result not in DOWNLOAD_FAILURES | {RESULT_UPDATE_FAILED}, "failure_result is 2..9"),
                (self.lifetime < 1, "lifetime must be at least 1 second"),
                (self.download_rate < 1, "download_rate must be at least 1 byte/s"),
                (self.via not in ("bridge", "events"), "via is bridge or events"),
                (urlsplit(self.url).scheme not in ("http", "https"), "url must be an http(s):// URL"),
                (self.reports is not None and self.reports < 0, "reports must be 0 or more"),
            )
            if wrong
        ]
        if problems:
            raise ValueError("; ".join(problems))


def chance(seed: int, *parts: object) -> float:
    """A number in [0, 1) fixed by the seed and ``parts``: decisions that do not depend on timing."""
    digest = hashlib.sha256(":".join(str(p) for p in (seed, *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclasses.dataclass
class Stats:
    sent: int = 0  # bridge posts, or events
    errors: int = 0
    downloads: int = 0
    updated: int = 0
    update_failures: int = 0
    commands: int = 0
    last_error: str = ""
    # Seconds each post took, when a benchmark asks for them (a list); None (the default) keeps none.
    latencies: list[float] | None = None
