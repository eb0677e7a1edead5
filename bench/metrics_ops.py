"""CPU time of what one bridge post records in the Prometheus figures, in multi-process mode (files in
PROMETHEUS_MULTIPROC_DIR, as the `api` workers run) and in one process:

    .venv/bin/python bench/metrics_ops.py

Each mode runs in a process of its own (prometheus-client chooses at import); the figure is CPU time
(process_time), which other load on the machine disturbs less than wall time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MEASURE = """
import time
import django
django.setup()
from core.monitoring import metrics as core
from realtime import metrics as realtime
from telemetry import metrics as telemetry

route = "leshan_api/resource/single"

def one_post():  # what RequestMiddleware, ingest() and the publisher record for one single post
    core.HTTP_REQUESTS.labels(route, "POST", "201").inc()
    core.HTTP_DURATION.labels(route).observe(0.003)
    core.BRIDGE_POSTS.labels(route, "201").inc()
    telemetry.INGEST_POSTS.inc()
    telemetry.RESOURCES_STORED.inc(1)
    telemetry.INGEST_DURATION.observe(0.002)
    realtime.published("submitted")
    realtime.published("skipped")

one_post()
n = 100_000
started = time.process_time()
for _ in range(n):
    one_post()
print(f"{(time.process_time() - started) / n * 1e6:.1f}")
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as var_dir, tempfile.TemporaryDirectory() as prometheus_dir:
        base = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        base.update(DJANGO_SETTINGS_MODULE="core.settings", DEBUG="1", FIELDHUB_VAR_DIR=var_dir, PYTHONPATH=str(ROOT))
        for label, extra in (("multi-process", {"PROMETHEUS_MULTIPROC_DIR": prometheus_dir}), ("one process", {})):
            result = subprocess.run(
                [sys.executable, "-c", MEASURE],
                env={**base, **extra},
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            )
            print(f"{label:<14} {result.stdout.strip():>6} µs CPU per post")


if __name__ == "__main__":
    main()
