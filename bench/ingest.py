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
    parser.add_argument("--bench-database", default="fieldhub_bench", help="the PostgreSQL database made afresh")
    parser.add_argument(
        "--metrics-ab",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="instead: single posts against two servers, metrics on (PROMETHEUS_MULTIPROC_DIR) and off "
        "(METRICS_ENABLED=0), ROUNDS rounds of --seconds each, interleaved; prints the ratio",
    )
    parser.add_argument("--aa", action="store_true", help="with --metrics-ab: both servers without metrics")
    args = parser.parse_args()
    if args.metrics_ab:
        metrics_ab(args)
        return

    with tempfile.TemporaryDirectory() as var_dir:
        database_url = fresh_postgres(args.postgres_url, args.bench_database) if args.database == "postgres" else None
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


def _group_of(port: str) -> int:
    """The process group of the server started with ``--port <port>`` (harness.child starts a session)."""
    for stat in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = stat.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--port" in argv and argv[argv.index(b"--port") + 1 : argv.index(b"--port") + 2] == [port.encode()]:
            return int((stat.parent / "stat").read_text().rsplit(")", 1)[1].split()[2])
    raise RuntimeError(f"no server process with --port {port}")


def _cpu_seconds(group: int) -> float:
    """User and system CPU time of every process of ``group`` so far (Linux /proc)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def metrics_ab(args: argparse.Namespace) -> None:
    """The cost of the Prometheus figures on single posts: the same server twice, with and without them,
    driven in turn (on, off, off, on, ...) so that drift of the machine falls on both alike."""
    with tempfile.TemporaryDirectory() as var_dir, tempfile.TemporaryDirectory() as prometheus_dir:
        fresh = fresh_postgres(args.postgres_url, args.bench_database) if args.database == "postgres" else None
        env = server_env(fresh, FIELDHUB_VAR_DIR=var_dir, CONN_MAX_AGE=args.conn_max_age)
        manage("migrate", "--noinput", env=env)
        manage("load_registry", env=env)
        on = {**env, "PROMETHEUS_MULTIPROC_DIR": prometheus_dir, "METRICS_TOKEN": "bench-metrics-token"}
        if args.aa:  # both the same (off): what the method shows where there is no difference
            on = {**env, "METRICS_ENABLED": "0"}
        off = {**env, "METRICS_ENABLED": "0"}
        print(
            f"# {args.database}, {args.server} {args.workers}x{args.threads}, single posts, concurrency "
            f"{args.concurrency}, {args.metrics_ab} rounds of {args.seconds:g} s each way, {os.cpu_count()} CPUs"
        )
        rates: dict[str, list[float]] = {"on": [], "off": []}
        cpu: dict[str, float] = {"on": 0.0, "off": 0.0}  # the servers' CPU seconds, per post below
        posts: dict[str, int] = {"on": 0, "off": 0}
        with (
            running_server(args.server, env=on, workers=args.workers, threads=args.threads) as url_on,
            running_server(args.server, env=off, workers=args.workers, threads=args.threads) as url_off,
        ):
            urls = {"on": url_on, "off": url_off}
            groups = {name: _group_of(url.rsplit(":", 1)[1]) for name, url in urls.items()}
            for url in urls.values():  # warm-up
                drive([url], requests_for(url, "single", args.devices), concurrency=args.concurrency, seconds=2)
            for round_ in range(args.metrics_ab):
                for name in ("on", "off") if round_ % 2 == 0 else ("off", "on"):
                    url = urls[name]
                    started = _cpu_seconds(groups[name])
                    result = drive(
                        [url], requests_for(url, "single", args.devices), concurrency=args.concurrency,
                        seconds=args.seconds,
                    )  # fmt: skip
                    cpu[name] += _cpu_seconds(groups[name]) - started
                    posts[name] += result.requests
                    rates[name].append(result.rate)
                    print(
                        f"round {round_ + 1:>2} metrics {name:<3} {result.rate:>8.0f} posts/s, errors {result.errors}"
                    )
        total_on, total_off = sum(rates["on"]), sum(rates["off"])
        print(
            f"metrics on {total_on / len(rates['on']):.0f} posts/s, off {total_off / len(rates['off']):.0f} posts/s: "
            f"on/off = {total_on / total_off:.3f} ({(1 - total_on / total_off) * 100:+.1f} % cost)"
        )
        per_post = {name: cpu[name] / posts[name] * 1000 for name in cpu}
        ratio = per_post["on"] / per_post["off"]
        print(
            f"server CPU per post: on {per_post['on']:.3f} ms, off {per_post['off']:.3f} ms: "
            f"on/off = {ratio:.3f} ({(ratio - 1) * 100:+.1f} % cost)"
        )


if __name__ == "__main__":
    main()
