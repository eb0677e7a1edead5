"""``manage.py simulate``: a fleet of simulated LwM2M devices and the Leshan server they sit behind."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from argparse import ArgumentParser, ArgumentTypeError
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from core.simulator.fleet.config import DOWNLOAD_FAILURES, RESULT_UPDATE_FAILED, FleetConfig
from core.simulator.fleet.runner import Fleet


def fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise ArgumentTypeError(f"{text} is not more than 0")
    return value


class Command(BaseCommand):
    help = (
        "Simulate N LwM2M devices behind a simulated Leshan server. The devices report to Fieldhub at --url as "
        "the flownexus bridge posts (or as Leshan's event stream, --via events); Fieldhub's commands and "
        "firmware updates reach them through the Leshan REST API served on --leshan-port (set Fieldhub's "
        "LESHAN_URL to it). Ctrl-C stops it."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        defaults = FleetConfig()
        parser.add_argument("--devices", type=int, default=defaults.devices, help="how many devices (default 10)")
        parser.add_argument(
            "--interval", type=positive, default=defaults.interval, help="seconds between reports (default 10)"
        )
        parser.add_argument("--url", default=defaults.url, help="Fieldhub's URL (default http://127.0.0.1:8000)")
        parser.add_argument("--leshan-host", default=defaults.leshan_host, help="address of the simulated Leshan")
        parser.add_argument(
            "--leshan-port",
            type=int,
            default=defaults.leshan_port,
            help="its port (default 8080, Fieldhub's default LESHAN_URL; 0: any free one)",
        )
        parser.add_argument("--seed", type=int, default=defaults.seed, help="every value and decision follows it")
        parser.add_argument(
            "--via",
            choices=["bridge", "events"],
            default=defaults.via,
            help="bridge: POST to /leshan_api/ (default); events: Leshan's /api/event (Fieldhub's LESHAN_EVENTS=1)",
        )
        parser.add_argument(
            "--token",
            default=os.environ.get("BRIDGE_TOKEN", ""),
            help="bridge token for posts from outside BRIDGE_TRUSTED_NETWORKS (default: $BRIDGE_TOKEN)",
        )
        parser.add_argument("--prefix", default=defaults.prefix, help="endpoint names are <prefix>0001 …")
        parser.add_argument("--lifetime", type=int, default=defaults.lifetime, help="registration lifetime, s")
        parser.add_argument(
            "--queue-mode", type=fraction, default=defaults.queue_mode, help="share of devices in queue mode (0.25)"
        )
        parser.add_argument(
            "--awake", type=positive, default=defaults.awake, help="seconds a queue-mode device stays awake (3)"
        )
        parser.add_argument(
            "--offline", type=fraction, default=defaults.offline, help="chance a report is lost to an outage (0.002)"
        )
        parser.add_argument(
            "--firmware-failure",
            type=fraction,
            default=defaults.firmware_failure,
            help="chance a firmware update fails (0.05)",
        )
        parser.add_argument(
            "--failure-result",
            type=int,
            choices=sorted(DOWNLOAD_FAILURES | {RESULT_UPDATE_FAILED}),
            default=defaults.failure_result,
            help="the Update Result (5/0/5) a failing update reports: 2-7 and 9 while downloading, 8 after (8)",
        )
        parser.add_argument(
            "--download-rate", type=int, default=defaults.download_rate, help="bytes/s a download takes (100000)"
        )
        parser.add_argument(
            "--update-seconds", type=float, default=defaults.update_seconds, help="how long installing takes (3)"
        )
        trouble = "devices 0001-0003 misbehave: 0001 overheats, 0002's battery drains, 0003 falls silent"
        parser.add_argument("--trouble", action="store_true", help=trouble)
        parser.add_argument("--reports", type=int, default=None, help="stop after each device sent this many reports")
        parser.add_argument("--progress", type=positive, default=5.0, help="seconds between progress lines (5)")

    def handle(self, *args: Any, **options: Any) -> None:
        fields = {f: options[f] for f in FleetConfig.__dataclass_fields__}
        try:
            config = FleetConfig(**fields)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        try:
            stats = asyncio.run(self._run(config, options["progress"]))
        except OSError as exc:
            raise CommandError(f"cannot serve the simulated Leshan on port {config.leshan_port}: {exc}") from None
        if stats.errors:
            self.stderr.write(f"{stats.errors} errors; the last: {stats.last_error}")

    async def _run(self, config: FleetConfig, progress: float) -> Any:
        fleet = Fleet(config, out=lambda line: self.stdout.write(line))
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, fleet.stop)
        leshan_url = await fleet.start()
        self.stdout.write(f"{config.devices} simulated devices; their Leshan REST API: LESHAN_URL={leshan_url}")
        if not await fleet.wait_for_fieldhub():
            await fleet.close()
            if fleet.stopping:
                return fleet.stats
            raise CommandError(f"Fieldhub does not answer at {config.url}/healthz")
        self.stdout.write(f"reporting to {config.url} via {config.via}; Ctrl-C stops")
        return await fleet.run(progress_every=progress)
