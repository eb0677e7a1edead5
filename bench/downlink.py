"""Downlink throughput: queued operations for many devices that come online together (issue 6).

    .venv/bin/python bench/downlink.py --workers 1
    .venv/bin/python bench/downlink.py --workers 2

Queues ``--operations`` writes spread over ``--devices`` offline devices in a fresh PostgreSQL database,
starts the Leshan double (in this process; ``--latency`` seconds per request, 0.05 by default) and
``--workers`` dispatcher processes (``manage.py dispatch``), then brings every device online at once
through the ingest (a registration update each, which NOTIFYs the dispatchers). Prints operations/s
delivered, p50/p99 of the time from a device's wake-up to each of its operations reaching Leshan, and how
many operations reached Leshan twice (must be 0).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import PYTHON, ROOT, manage, percentile, server_env
from bench.ingest import fresh_postgres


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--operations", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as var_dir:
        env = server_env(fresh_postgres(args.postgres_url), FIELDHUB_VAR_DIR=var_dir, DISPATCH_SWEEP_SECONDS="30")
        manage("migrate", "--noinput", env=env)
        manage("load_registry", env=env)
        for key in ("DATABASE_URL", "SECRET_KEY", "DJANGO_SETTINGS_MODULE", "FIELDHUB_VAR_DIR"):
            os.environ[key] = env[key]
        import django

        django.setup()
        from django.db import connection

        from core.lwm2m.nodes import Path as LwPath
        from core.lwm2m.nodes import Reading
        from core.lwm2m.types import DataType
        from core.models import Endpoint
        from core.simulator.client import SimulatedClient
        from core.simulator.double.server import LeshanDouble
        from telemetry.ingest import ingest
        from telemetry.models import EndpointOperation

        names = [f"urn:dl:{i:05d}" for i in range(args.devices)]
        Endpoint.objects.bulk_create([Endpoint(name=name, online=False) for name in names])
        ids = dict(Endpoint.objects.values_list("name", "pk"))
        per_device = args.operations // args.devices
        operations = [
            EndpointOperation(
                endpoint_id=ids[name],
                kind="WRITE",
                path="/3/0/14",
                payload={"node": {"id": 14, "kind": "singleResource", "type": "STRING", "value": f"{name}#{n}"}},
            )
            for name in names
            for n in range(per_device)
        ]
        EndpointOperation.objects.bulk_create(operations, batch_size=2000)
        total = len(operations)
        clients = [SimulatedClient(endpoint=name, resources={"/3/0/14": (DataType.STRING, "")}) for name in names]
        double = LeshanDouble(latency=args.latency, clients=clients)
        with double.run_in_thread() as leshan_url:
            worker_env = {**env, "LESHAN_URL": leshan_url, "LOG_LEVEL": "WARNING"}
            workers = [
                subprocess.Popen(
                    [PYTHON, "manage.py", "dispatch"], cwd=ROOT, env=worker_env, stdout=subprocess.DEVNULL,
                    start_new_session=True,
                )
                for _ in range(args.workers)
            ]  # fmt: skip
            time.sleep(3)  # the workers start and LISTEN
            woken_at: dict[str, float] = {}
            update = LwPath(10240, 0, 2)
            started = time.time()
            for name in names:
                woken_at[name] = time.time()
                ingest(endpoint_name=name, readings=[Reading(update, DataType.TIME, 1)])
            connection.close()
            deadline = time.time() + 600
            while time.time() < deadline:
                done = EndpointOperation.objects.filter(status="CONFIRMED").count()
                if done >= total:
                    break
                time.sleep(0.5)
            connection.close()
            for worker in workers:
                os.killpg(worker.pid, signal.SIGTERM)
            for worker in workers:
                worker.wait(timeout=30)

        puts = [r for r in double.requests if r.method == "PUT"]
        values = collections.Counter(json.loads(r.body)["value"] for r in puts)
        duplicates = sum(count - 1 for count in values.values() if count > 1)
        delays = [r.time - woken_at[r.path.split("/")[3]] for r in puts]
        finished = max(r.time for r in puts)
        confirmed = EndpointOperation.objects.filter(status="CONFIRMED").count()
        print(
            f"# {args.workers} worker(s), {args.devices} devices x {per_device} writes, "
            f"Leshan latency {args.latency * 1000:.0f} ms"
        )
        print(
            f"{confirmed} of {total} confirmed in {finished - started:.1f} s: "
            f"{len(puts) / (finished - started):.0f} operations/s; wake -> delivery "
            f"p50 {percentile(delays, 50):.2f} s, p99 {percentile(delays, 99):.2f} s; sent twice: {duplicates}"
        )


if __name__ == "__main__":
    main()
