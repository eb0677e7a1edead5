"""Query API latency over a large fleet, over HTTP against a real server process (issue 4).

    .venv/bin/python bench/query.py                       # PostgreSQL at 127.0.0.1:5432
    .venv/bin/python bench/query.py --readings 100000     # a smaller run

Loads, through the ingest service (so latest values and events are as in production), ``--readings``
temperatures for one device (timestamped posts of 500, one per minute of device time) and ``--devices``
devices with 20 resources each, into a fresh PostgreSQL database. Then it starts the API server (granian,
one WSGI worker) and prints latency p50/p99 of ``--repeat`` requests each for: the 500-bucket series over
all of the big device's readings, the device detail, and the endpoint list page; and the server's memory
before, during and after streaming the big device's CSV export.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import manage, percentile, running_server, server_env
from bench.ingest import fresh_postgres

BIG = "urn:bench:big"
T0_MS = 1_700_000_000_000


def load(env: dict[str, str], readings: int, devices: int) -> None:
    """Fill the database in this process through telemetry.ingest.ingest."""
    for key in ("DATABASE_URL", "SECRET_KEY", "DJANGO_SETTINGS_MODULE", "FIELDHUB_VAR_DIR"):
        os.environ[key] = env[key]
    import django

    django.setup()
    from core.lwm2m.nodes import Path as LwPath
    from core.lwm2m.nodes import Reading
    from core.lwm2m.types import DataType
    from telemetry.ingest import ingest

    temperature = LwPath.parse("/3303/0/5700")
    started = time.monotonic()
    for start in range(0, readings, 500):
        batch = [
            Reading(temperature, DataType.FLOAT, 20 + (i % 600) / 60, timestamp_ms=T0_MS + i * 60_000)
            for i in range(start, min(start + 500, readings))
        ]
        ingest(endpoint_name=BIG, readings=batch)
    print(f"loaded {readings} readings of {BIG} in {time.monotonic() - started:.0f} s")
    paths = [LwPath.parse(f"/3/0/{r}") for r in (0, 1, 2, 3, 9, 10, 13, 17, 18, 19, 20, 21)]
    paths += [LwPath.parse(p) for p in ("/3303/0/5700", "/3303/0/5601", "/3303/0/5602", "/3304/0/5700")]
    paths += [LwPath.parse(p) for p in ("/3323/0/5700", "/3/0/7/0", "/3/0/7/1", "/3/0/6/0")]
    started = time.monotonic()
    for n in range(devices):
        batch = []
        for path in paths:
            if path.object_id == 3 and path.resource_id in (0, 1, 2, 3, 17, 18, 19):
                batch.append(Reading(path, DataType.STRING, f"v{n}"))
            elif path.object_id == 3 and path.resource_id == 13:
                batch.append(Reading(path, DataType.TIME, T0_MS))
            elif path.object_id == 3:
                batch.append(Reading(path, DataType.INTEGER, n % 100))
            else:
                batch.append(Reading(path, DataType.FLOAT, n / 7))
        ingest(endpoint_name=f"urn:bench:dev{n:05d}", readings=batch)
    print(f"loaded {devices} devices x {len(paths)} resources in {time.monotonic() - started:.0f} s")


def timed_get(url: str, token: str) -> tuple[float, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        body = response.read()
    return time.perf_counter() - started, body


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (granian's worker), MiB."""
    total = 0
    for candidate in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{candidate}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            continue
    return total / 1024


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
                found += _children(int(entry.name))
    return found


@contextlib.contextmanager
def loaded(postgres_url: str, readings: int, devices: int) -> Iterator[dict[str, str]]:
    """A fresh PostgreSQL database beside ``postgres_url``, migrated, bootstrapped and loaded (``load``),
    with a var dir of its own for as long as it is used: the environment of servers on it."""
    with tempfile.TemporaryDirectory() as var_dir:
        env = server_env(fresh_postgres(postgres_url), FIELDHUB_VAR_DIR=var_dir, CONN_MAX_AGE="60")
        manage("migrate", "--noinput", env=env)
        manage("bootstrap", env=env)
        load(env, readings, devices)
        yield env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--readings", type=int, default=1_000_000)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    with loaded(args.postgres_url, args.readings, args.devices) as env:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        from django.contrib.auth import get_user_model

        from core.services import token_create

        admin = get_user_model().objects.get(username="admin")
        _, token = token_create(actor=admin, user=admin, name="bench")
        connection.close()

        with running_server("granian", env=env, workers=1) as url:
            import subprocess

            until = "2100-01-01T00:00:00Z"
            checks = {
                "series, 500 buckets over all": f"{url}/api/v1/endpoints/{BIG}/series?path=/3303/0/5700"
                f"&since=2020-01-01T00:00:00Z&until={until}&buckets=500",
                "device detail (20 resources)": f"{url}/api/v1/endpoints/urn:bench:dev00042",
                "device detail (the big device)": f"{url}/api/v1/endpoints/{BIG}",
                "endpoint list, first page of 50": f"{url}/api/v1/endpoints?limit=50",
                "endpoint list, page 100 by name": f"{url}/api/v1/endpoints?sort=name&limit=50&offset=5000",
            }
            print(f"# {args.readings} readings on one device, {args.devices} devices; {args.repeat} requests each")
            print(f"{'request':<34} {'p50 ms':>8} {'p99 ms':>8}")
            for label, target in checks.items():
                timed_get(target, token)
                times = [timed_get(target, token)[0] for _ in range(args.repeat)]
                print(f"{label:<34} {percentile(times, 50) * 1000:>8.1f} {percentile(times, 99) * 1000:>8.1f}")

            pid = int(subprocess.check_output(["pgrep", "-f", f"granian.*{url.rsplit(':', 1)[1]}"]).split()[0])
            before = rss_mib(pid)
            peak = [before]
            done = threading.Event()

            def sample() -> None:
                while not done.is_set():
                    peak.append(rss_mib(pid))
                    time.sleep(0.2)

            sampler = threading.Thread(target=sample)
            sampler.start()
            request = urllib.request.Request(
                f"{url}/api/v1/endpoints/{BIG}/export.csv", headers={"Authorization": f"Bearer {token}"}
            )
            started = time.perf_counter()
            size = 0
            with urllib.request.urlopen(request, timeout=600) as response:
                while chunk := response.read(1 << 16):
                    size += len(chunk)
            seconds = time.perf_counter() - started
            done.set()
            sampler.join()
            after = rss_mib(pid)
            print(
                f"CSV export of {BIG}: {size / 1e6:.0f} MB in {seconds:.1f} s; server memory "
                f"{before:.0f} MiB before, {max(peak):.0f} MiB peak, {after:.0f} MiB after"
            )


if __name__ == "__main__":
    main()
