"""Onboarding a fleet from CSV (issue 21): how long ``fleet_import`` takes to check every row and store the
devices, their labels, their sealed credentials and their pushes in one transaction, and how long one
dispatcher takes to push them all into a Leshan double's security store (``Dispatcher.drain``).

Runs in this process against ``DATABASE_URL`` (migrated first; use a database of its own: each run imports
``--devices`` new devices named ``bench-prov-<run>-…``, and earlier runs' are deleted first). Prints the
seconds of the import and of the pushes of each run, and the medians.

    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_prov .venv/bin/python bench/provisioning.py
    DEBUG=1 FIELDHUB_VAR_DIR=/tmp/bench-prov .venv/bin/python bench/provisioning.py --devices 1000 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")

PREFIX = "bench-prov-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=1_000, help="rows of the file (default 1,000)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    call_command("load_registry", verbosity=0)
    from core.models import Endpoint
    from core.permissions import SYSTEM
    from core.simulator.double.server import LeshanDouble
    from telemetry.downlink.dispatcher import Dispatcher
    from telemetry.models import EndpointOperation
    from telemetry.provisioning.imports import fleet_import

    EndpointOperation.objects.filter(endpoint__name__startswith=PREFIX).delete()
    Endpoint.objects.filter(name__startswith=PREFIX).delete()
    print(f"{connection.vendor}: {args.devices} devices per file (PSK, generated 128-bit keys, two labels)")
    imports: list[float] = []
    pushes: list[float] = []
    for run in range(args.runs):
        rows = [f"{PREFIX}{run}-{n:06d},psk,,generate,,bench;run-{run}" for n in range(args.devices)]
        data = ("endpoint,mode,identity,key,site,labels\n" + "\n".join(rows) + "\n").encode()
        started = time.perf_counter()
        result = fleet_import(actor=SYSTEM, data=data, filename="bench.csv")
        imports.append(time.perf_counter() - started)
        double = LeshanDouble()
        with double.run_in_thread() as url:
            settings.LESHAN_URL = url
            started = time.perf_counter()
            sent = asyncio.run(Dispatcher(listen=False).drain(within=600))
            pushes.append(time.perf_counter() - started)
            held = len(double.security_entries())
        print(
            f"run {run + 1}: import {imports[-1]:.3f} s ({result.created} devices created), "
            f"pushes {pushes[-1]:.3f} s ({sent} sent, {held} in Leshan)"
        )
    print(f"median: import {statistics.median(imports):.3f} s, pushes {statistics.median(pushes):.3f} s")


if __name__ == "__main__":
    main()
