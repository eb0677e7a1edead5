"""Starting a rollout over 10,000 devices: how long ``rollout_create`` takes to freeze the selection and
queue its first wave in one transaction (issue 17: under 2 s on PostgreSQL).

Runs in this process against ``DATABASE_URL`` (migrated first; use a database of its own: it adds
``--devices`` endpoints named ``bench-rollout-<devices>-…`` and removes the rollouts and operations of
earlier runs of this script). Prints the seconds of each run and the median; with more devices than the
first wave, also how long the second wave takes to start once the first is confirmed (``rollouts_advance``,
as after the dispatcher's last completion of the wave). ``--kind firmware``: a firmware rollout (a campaign)
instead, whose first wave starts a firmware update per device (the Package URI write queued for each).

    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_rollout .venv/bin/python bench/rollout.py
    DEBUG=1 .venv/bin/python bench/rollout.py --devices 20000 --first 10000 --runs 5
    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_rollout .venv/bin/python bench/rollout.py \
        --kind firmware --runs 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")

PREFIX = "bench-rollout-"  # then the fleet's size: each --devices has a fleet of its own


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=10_000, help="devices selected (default 10,000)")
    parser.add_argument("--first", type=int, default=10_000, help="devices in the first wave (default 10,000)")
    parser.add_argument("--runs", type=int, default=3, help="rollouts started, one after the other")
    parser.add_argument("--kind", choices=("write", "firmware"), default="write", help="what the rollout sends")
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    call_command("load_registry", verbosity=0)
    from core.models import Endpoint
    from core.permissions import SYSTEM
    from firmware.models import FirmwareUpdate
    from telemetry.models import EndpointOperation, Rollout
    from telemetry.rollouts.selectors import Selection
    from telemetry.rollouts.services import rollout_create, rollouts_advance

    prefix = f"{PREFIX}{args.devices}-"
    Rollout.objects.filter(name__startswith="bench ").delete()
    FirmwareUpdate.objects.filter(endpoint__name__startswith=PREFIX).delete()
    EndpointOperation.objects.filter(endpoint__name__startswith=PREFIX).delete()
    if args.kind == "firmware":
        from django.core.files.uploadedfile import SimpleUploadedFile

        from firmware.models import Firmware
        from firmware.services import firmware_upload

        if not Firmware.objects.filter(version="bench-9.9.9").exists():
            firmware_upload(actor=SYSTEM, version="bench-9.9.9", upload=SimpleUploadedFile("b.bin", b"\x7fimage" * 100))
    have = Endpoint.objects.filter(name__startswith=prefix).count()
    Endpoint.objects.bulk_create(
        [Endpoint(name=f"{prefix}{n:06d}", online=True) for n in range(have, args.devices)], batch_size=5000
    )
    waves = [args.first] if args.first >= args.devices else [args.first, 0]
    print(f"{connection.vendor}: {args.kind}, {args.devices} devices, first wave {args.first}, waves {waves} (devices)")
    sends = (
        {"kind": "WRITE", "path": "/1/0/1", "value": 300}
        if args.kind == "write"
        else {"kind": "FIRMWARE", "firmware": "bench-9.9.9"}
    )
    seconds: list[float] = []
    later: list[float] = []
    for run in range(args.runs):
        EndpointOperation.objects.filter(endpoint__name__startswith=prefix, status="QUEUED").update(status="CANCELLED")
        FirmwareUpdate.objects.filter(endpoint__name__startswith=prefix).exclude(status="FAILED").update(
            status="FAILED"
        )
        started = time.perf_counter()
        rollout = rollout_create(
            actor=SYSTEM,
            name=f"bench {run}",
            **sends,
            selection=Selection(name=prefix),
            waves=waves,
            unit="devices",
        )
        seconds.append(time.perf_counter() - started)
        queued = EndpointOperation.objects.filter(endpoint__name__startswith=prefix, status="QUEUED").count()
        line = f"run {run + 1}: {seconds[-1]:.3f} s, {queued} operations queued"
        if (
            len(waves) > 1 and args.kind == "write"
        ):  # the next wave, started as the dispatcher's completion of the first would
            EndpointOperation.objects.filter(rollout_device__rollout=rollout).update(status="CONFIRMED")
            started = time.perf_counter()
            rollouts_advance(rollout_id=rollout.pk)
            later.append(time.perf_counter() - started)
            queued = EndpointOperation.objects.filter(rollout_device__rollout=rollout, status="QUEUED").count()
            line += f"; wave 2: {later[-1]:.3f} s, {queued} queued"
        print(line)
    print(f"median {statistics.median(seconds):.3f} s over {args.runs} runs")
    if later:
        print(f"wave 2 median {statistics.median(later):.3f} s")


if __name__ == "__main__":
    main()
