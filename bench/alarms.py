"""What alarm rules cost the ingest (issue 18): single posts with 100 rules enabled against the same posts
with none, interleaved in one run, over HTTP against real server processes on PostgreSQL.

    .venv/bin/python bench/alarms.py                              # granian 2 workers, 6 rounds of 5 s each
    .venv/bin/python bench/alarms.py --rounds 10 --seconds 10

1,000 devices in 10 sites post one temperature each (``core.simulator.payloads.temperature``, 20..29 °C),
as ``bench/ingest.py``'s "single" scenario. The 100 rules are a fleet's mix: 40 on the temperature (10
fleet-wide, among them thresholds with durations and counts of readings; 20 on one site each; 5 on a site
and labels; 5 on one device each), 30 on humidity, pressure and the battery, 30 fleet kinds (no data,
offline, failed updates and commands). None is met by the posts: the steady state, where every post that a
rule watches leaves the one-statement path for a transaction, reads its open alarms (and watches) and
changes nothing. The rules are disabled and enabled between rounds (ABBA order); each round starts after
the servers' rule caches have seen the change (``CHECK_SECONDS``) and a warm-up. The script prints posts/s
and latency p50/p99 of each mode, and the ratios (rules / none): pooled, and the median of the ABBA blocks'
ratios (which a shared machine's drifting load disturbs less).

Steady state on PostgreSQL: a watched post that can change no alarm (no rule in the device's scope met by
its value, no alarm of theirs open, no duration pending) is still one statement, under a guard that the
statement checks (``telemetry.alarms.evaluate.readings_guard``); the first post of a device in a server
process, and a post whose guard trips, take the transaction.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import LoadResult, drive, percentile, prepare_database, running_server, server_env
from bench.ingest import fresh_postgres, requests_for


def rules_make(devices: int) -> None:
    """10 sites of ``devices / 10`` devices (some labelled), and the 100 rules, disabled."""
    from core.models import Endpoint, Site
    from core.permissions import SYSTEM
    from core.sites.services import endpoints_labels_add
    from telemetry.alarms.models import AlarmRule
    from telemetry.alarms.services import alarm_rule_create

    names = [f"urn:bench:{i:05d}" for i in range(devices)]
    Endpoint.objects.bulk_create([Endpoint(name=name) for name in names], ignore_conflicts=True)
    sites = [Site.objects.create(name=f"site {n}") for n in range(10)]
    for n, site in enumerate(sites):
        Endpoint.objects.filter(name__in=names[n::10]).update(site=site)
    endpoints_labels_add(actor=SYSTEM, endpoints=Endpoint.objects.filter(name__in=names[::7]), labels=["cold-room"])

    def make(**fields: object) -> None:
        alarm_rule_create(actor=SYSTEM, enabled=True, **fields)  # type: ignore[arg-type]

    temperature = "/3303/*/5700"
    for n in range(5):
        make(name=f"hot {n}", kind="above", path=temperature, threshold=60 + n, clear_threshold=55)
    make(name="cold", kind="below", path=temperature, threshold=-20)
    make(name="hot for 10 min", kind="above", path=temperature, threshold=50, duration_seconds=600)
    make(name="hot 3 readings", kind="above", path=temperature, threshold=45, readings=3)
    make(name="range", kind="outside", path=temperature, threshold=-30, threshold_high=70)
    make(name="frozen", kind="equal", path=temperature, value=-99.0)
    for n in range(20):
        site = sites[n % 10].pk
        make(name=f"site hot {n}", kind="outside", path=temperature, threshold=0, threshold_high=40 + n, site=site)
    for n in range(5):
        labels = ["cold-room", "freezer"]
        make(name=f"cold room {n}", kind="above", path=temperature, threshold=8 + n, site=sites[n].pk, labels=labels)
    for n in range(5):
        make(name=f"device {n}", kind="above", path=temperature, threshold=35, endpoint=names[n * 100])
    for n in range(10):
        make(name=f"humid {n}", kind="above", path="/3304/*/5700", threshold=90 + n / 10)
        make(name=f"pressure {n}", kind="outside", path="/3323/*/5700", threshold=90, threshold_high=110 + n)
        make(name=f"battery {n}", kind="battery", threshold=10 + n, site=sites[n].pk)
    for n in range(10):
        make(name=f"quiet {n}", kind="no_data", minutes=60 + n)
        make(name=f"away {n}", kind="offline", minutes=30 + n)
        make(name=f"fw {n}", kind="firmware_failed", site=sites[n].pk)
    assert AlarmRule.objects.count() == 100, AlarmRule.objects.count()
    rules_enable(False)


def rules_enable(enabled: bool) -> None:
    from django.db import connection
    from django.utils import timezone

    from telemetry.alarms.models import AlarmRule

    AlarmRule.objects.update(enabled=enabled, updated_at=timezone.now())
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--database-name", default="fieldhub_bench_alarms")
    parser.add_argument("--server", choices=["daphne", "gunicorn", "granian", "uwsgi"], default="granian")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=6, help="rounds of each mode")
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as var_dir:
        database_url = fresh_postgres(args.postgres_url, args.database_name)
        env = server_env(database_url, FIELDHUB_VAR_DIR=var_dir, CONN_MAX_AGE="60")
        prepare_database(env)
        rules_make(args.devices)
        from telemetry.alarms.cache import CHECK_SECONDS
        from telemetry.alarms.models import Alarm

        results: dict[str, list[LoadResult]] = {"no rules": [], "100 rules": []}
        print(
            f"# postgres, {args.server} {args.workers} workers, CONN_MAX_AGE=60, concurrency {args.concurrency}, "
            f"{args.devices} devices, {args.rounds} x {args.seconds:g} s per mode (ABBA), {os.cpu_count()} CPUs"
        )
        with running_server(args.server, env=env, workers=args.workers) as url:
            make_request = requests_for(url, "single", args.devices)
            drive([url], make_request, concurrency=args.concurrency, seconds=2)  # warm-up
            order = ["no rules", "100 rules", "100 rules", "no rules"]
            for n in range(args.rounds * 2):
                mode = order[n % 4]
                rules_enable(mode == "100 rules")
                time.sleep(CHECK_SECONDS + 0.2)
                drive([url], make_request, concurrency=args.concurrency, seconds=0.5)
                results[mode].append(drive([url], make_request, concurrency=args.concurrency, seconds=args.seconds))
        print(f"{'mode':<10} {'posts/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
        summary = {}
        for mode, rounds in results.items():
            requests, seconds = sum(r.requests for r in rounds), sum(r.seconds for r in rounds)
            latencies = [x for r in rounds for x in r.latencies]
            rate, p50, p99 = requests / seconds, percentile(latencies, 50), percentile(latencies, 99)
            summary[mode] = (rate, p50)
            errors = sum(r.errors for r in rounds)
            print(f"{mode:<10} {rate:>9.0f} {p50 * 1000:>8.2f} {p99 * 1000:>8.2f} {errors:>7}")
        (rate_none, p50_none), (rate_rules, p50_rules) = summary["no rules"], summary["100 rules"]
        blocks = [  # each ABBA block of four rounds: its two rounds with rules against its two without
            (results["100 rules"][2 * k].rate + results["100 rules"][2 * k + 1].rate)
            / (results["no rules"][2 * k].rate + results["no rules"][2 * k + 1].rate)
            for k in range(args.rounds // 2)
        ]
        print(f"throughput with rules / without: {rate_rules / rate_none:.3f} (pooled)", end="")
        print(f", {statistics.median(blocks):.3f} (median of {len(blocks)} ABBA blocks)" if blocks else "")
        print(f"p50 latency with rules / without: {p50_rules / p50_none:.3f}")
        print(f"alarms raised: {Alarm.objects.count()} (expected 0: no rule is met)")


if __name__ == "__main__":
    main()
