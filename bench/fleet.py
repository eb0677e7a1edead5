"""How large a simulated fleet one server keeps up with, and how long a campaign over it takes.

Starts ``manage.py serve`` (the embedded server: daphne with the dispatcher inside) on SQLite or on a fresh
PostgreSQL database, then runs ``core.simulator.fleet`` in this process: ``--devices`` devices reporting
every ``--interval`` seconds for ``--seconds``. Prints the posts per second the devices sent against what
their schedule asks, errors, and the simulator's own CPU; then a firmware campaign over every device in one
wave (``--campaign``), timed from its creation until it is finished, with the counts.

    .venv/bin/python bench/fleet.py --devices 500 --interval 5 --seconds 60
    .venv/bin/python bench/fleet.py --database postgres --devices 500 --interval 5 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import PYTHON, child, free_port, prepare_database, server_env, wait_healthy
from bench.ingest import fresh_postgres


@contextlib.contextmanager
def embedded_server(env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with child([PYTHON, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)], env=env):
        wait_healthy(url)
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--campaign", type=int, default=1, help="1: run a campaign afterwards; 0: not")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as var_dir:
        database = fresh_postgres(args.postgres_url) if args.database == "postgres" else None
        leshan_port = free_port()
        env = server_env(database, FIELDHUB_VAR_DIR=var_dir, LESHAN_URL=f"http://127.0.0.1:{leshan_port}")
        env["EMBEDDED_WORKERS"] = "1"
        prepare_database(env)
        with embedded_server(env) as url:
            asyncio.run(measure(args, url, leshan_port))


async def measure(args: argparse.Namespace, url: str, leshan_port: int) -> None:
    from core.simulator.fleet.config import FleetConfig
    from core.simulator.fleet.runner import Fleet

    config = FleetConfig(
        devices=args.devices, interval=args.interval, url=url, leshan_port=leshan_port, offline=0.0, seed=1
    )
    fleet = Fleet(config)
    await fleet.start()
    runner = asyncio.create_task(fleet.run(progress_every=3600))
    await asyncio.sleep(args.interval * 1.5)  # every device registered and reporting
    sent, cpu, started = fleet.stats.sent, time.process_time(), time.monotonic()
    await asyncio.sleep(args.seconds)
    elapsed = time.monotonic() - started
    rate, cpu_share = (fleet.stats.sent - sent) / elapsed, (time.process_time() - cpu) / elapsed
    expected = args.devices / args.interval * (1 + 0.1 + 0.03)  # sensors, battery every 10th, updates
    print(f"# {args.database}, embedded server, {args.devices} devices every {args.interval:g} s, {args.seconds:g} s")
    print(
        f"posts {rate:.0f}/s (the schedule asks about {expected:.0f}/s); errors {fleet.stats.errors}; "
        f"simulator CPU {100 * cpu_share:.0f} % of a core"
    )
    if args.campaign:
        seconds, outcome = await asyncio.to_thread(campaign, args.devices)
        print(f"campaign over {args.devices} devices in one wave: finished in {seconds:.1f} s: {outcome}")
    fleet.stop()
    await runner


def campaign(devices: int) -> tuple[float, str]:
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile

    from core.models import Endpoint
    from firmware import services
    from telemetry.models import Rollout as Campaign

    admin = get_user_model().objects.create_superuser("bench", password="bench-password-0123456789")  # an admin
    image = services.firmware_upload(
        actor=admin, version="9.9.9", upload=SimpleUploadedFile("app.bin", b"\x7fimage" * 20_000)
    )
    started = time.monotonic()
    created = services.campaign_create(
        actor=admin,
        name="bench",
        firmware=image,
        endpoints=list(Endpoint.objects.all()),
        waves=[100],
        max_failure_rate=1.0,
    )
    creating = time.monotonic() - started
    while Campaign.objects.get(pk=created.pk).status == Campaign.Status.RUNNING:
        time.sleep(0.5)
    reason = Campaign.objects.get(pk=created.pk).reason
    return time.monotonic() - started, f"{reason} (creating it took {creating:.1f} s)"


if __name__ == "__main__":
    main()
