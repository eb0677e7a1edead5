"""Ingest throughput and latency of the bridge API, over HTTP against real server processes.

    .venv/bin/python bench/ingest.py --database postgres --server gunicorn --workers 2
    .venv/bin/python bench/ingest.py --database sqlite --server daphne

For each scenario (single posts, a 19-resource composite Device object, timestamped posts of 500 readings)
it drives the server with ``--concurrency`` keep-alive connections for ``--seconds`` and prints posts/s,
resources/s and latency p50/p99. Payloads come from ``core.simulator.payloads`` (the shapes Leshan's
bridge posts), spread over ``--devices`` endpoints. The database is created fresh for the run.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import drive, manage, post_request, running_server, server_env
from core.simulator import payloads

SCENARIOS = {
    # name: (bridge path, resources per post, payload for device i)
    "single": ("/leshan_api/resource/single", 1, lambda ep, i: payloads.temperature(ep, 20 + i % 10)),
    "composite": ("/leshan_api/resource/composite", 19, lambda ep, i: payloads.device_object(ep, battery=i % 100)),
    "timestamped": (
        "/leshan_api/resource/timestamped",
        500,
        lambda ep, i: payloads.timestamped_temperatures(ep, start_ms=1764336000000 + i * 30_000_000, count=500),
    ),
}


def fresh_postgres(url: str, name: str = "fieldhub_bench") -> str:
    import psycopg2
    from psycopg2 import sql

    admin = psycopg2.connect(url)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    admin.close()
    return url.rsplit("/", 1)[0] + "/" + name


def requests_for(url: str, scenario: str, devices: int) -> Callable[[], bytes]:
    path, _, make = SCENARIOS[scenario]
    pool = [post_request(url, path, make(f"urn:bench:{i:05d}", i)) for i in range(devices)]
    cycle = itertools.cycle(pool)
    return lambda: next(cycle)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--server", choices=["daphne", "gunicorn", "granian", "uwsgi"], default="daphne")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    parser.add_argument("--conn-max-age", default="0", help="CONN_MAX_AGE for the server")
    parser.add_argument("--health-checks", default="1", help="CONN_HEALTH_CHECKS for the server")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--scenarios", default="single,composite,timestamped")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as var_dir:
        database_url = fresh_postgres(args.postgres_url) if args.database == "postgres" else None
        env = server_env(
            database_url,
            FIELDHUB_VAR_DIR=var_dir,
            CONN_MAX_AGE=args.conn_max_age,
            CONN_HEALTH_CHECKS=args.health_checks,
        )
        manage("migrate", "--noinput", env=env)
        manage("load_registry", env=env)
        label = f"{args.server}" + (f" {args.workers}x{args.threads}" if args.server != "daphne" else "")
        print(
            f"# {args.database}, {label}, CONN_MAX_AGE={args.conn_max_age}, "
            f"CONN_HEALTH_CHECKS={args.health_checks}, concurrency {args.concurrency}, "
            f"{args.seconds:g} s per scenario, {os.cpu_count()} CPUs"
        )
        print(f"{'scenario':<12} {'posts/s':>9} {'resources/s':>12} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
        with running_server(args.server, env=env, workers=args.workers, threads=args.threads) as url:
            for scenario in args.scenarios.split(","):
                per_post = SCENARIOS[scenario][1]
                make_request = requests_for(url, scenario, args.devices)
                drive([url], make_request, concurrency=args.concurrency, seconds=1)  # warm-up
                result = drive([url], make_request, concurrency=args.concurrency, seconds=args.seconds)
                print(
                    f"{scenario:<12} {result.rate:>9.0f} {result.rate * per_post:>12.0f} "
                    f"{result.percentile(50) * 1000:>8.1f} {result.percentile(99) * 1000:>8.1f} {result.errors:>7}"
                )
                if result.errors:
                    print(f"  statuses: {result.statuses}")


if __name__ == "__main__":
    main()
