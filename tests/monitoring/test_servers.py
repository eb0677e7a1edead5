"""/metrics, /readyz and the logs of real server processes: the Procfile's `api` (granian, two WSGI worker
processes adding up their figures in PROMETHEUS_MULTIPROC_DIR, with a `leshan`-like process writing there
too) and `web` (`manage.py serve`: JSON logs, and /readyz failing while it drains on SIGTERM)."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.simulator import payloads
from tests.monitoring.scrape import Samples, parse, value
from tests.servers import ROOT, _wait_for_sessions_to_end, _wait_until_up, free_port, server_env

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "metrics-token-for-the-server-tests-4242"
NEVER = 60  # only to end a test whose server never does what it waits for


@contextlib.contextmanager
def process(command: list[str], port: int, logs: Path, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """A server on ``port``, its stdout and stderr in ``logs``/; stopped (SIGTERM) afterwards."""
    with open(logs / "stdout", "wb") as out, open(logs / "stderr", "wb") as err:
        server = subprocess.Popen(command, cwd=ROOT, env=server_env(**env), stdout=out, stderr=err)
        try:
            _wait_until_up(f"http://127.0.0.1:{port}", server)
            yield server
        finally:
            if server.poll() is None:
                server.send_signal(signal.SIGTERM)
                try:
                    server.wait(timeout=NEVER)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
            _wait_for_sessions_to_end()


def scrape(url: str) -> Samples:
    request = urllib.request.Request(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return parse(response.read().decode())


def post_single(url: str, name: str) -> int:
    body = json.dumps(payloads.temperature(name, 21.5)).encode()
    request = urllib.request.Request(
        f"{url}/leshan_api/resource/single", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # a new connection each time
        return response.status


def writers(folder: Path) -> set[str]:
    """The processes that wrote counters into the multiprocess folder (counter_<pid>.db)."""
    return {path.stem.split("_", 1)[1] for path in folder.glob("counter_*.db")}


def test_two_api_workers_and_a_leshan_process_add_up_in_one_scrape(tmp_path: Path) -> None:
    folder = tmp_path / "prometheus"
    folder.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "granian", "--interface", "wsgi", "core.wsgi:application", "--host", "127.0.0.1",
        "--port", str(port), "--workers", "2", "--blocking-threads", "2", "--log-level", "warning", "--no-ws",
    ]  # fmt: skip
    env = {"PROMETHEUS_MULTIPROC_DIR": str(folder), "METRICS_TOKEN": TOKEN}
    with process(command, port, tmp_path, **env):
        before = scrape(url)
        posted = 0
        # Posts until both workers have answered some (the kernel spreads new connections over them).
        deadline = time.monotonic() + NEVER
        while (posted < 10 or len(writers(folder)) < 2) and time.monotonic() < deadline:
            assert post_single(url, f"dev-{posted % 5}") == 201
            posted += 1
        assert len(writers(folder)) >= 2
        # The Procfile's `leshan` (or `worker`) on the same machine writes into the same folder.
        follower = (
            "import asyncio, django; django.setup()\n"
            "from core.leshan import ServerEvent\n"
            "from telemetry.leshan_events import LeshanFollower\n"
            "follower = LeshanFollower(leshan_url='http://127.0.0.1:1')\n"
            "for _ in range(3): asyncio.run(follower.handle(ServerEvent('SLEEPING', {'ep': 'dev-0'})))\n"
            "follower._db.close()\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", follower], cwd=ROOT, env=server_env(**env), capture_output=True, timeout=NEVER
        )
        assert result.returncode == 0, result.stderr
        after = scrape(url)
    route = "leshan_api/resource/single"
    for name, labels in (
        ("fieldhub_bridge_posts_total", {"route": route, "status": "201"}),
        ("fieldhub_http_requests_total", {"route": route, "method": "POST", "status": "201"}),
        ("fieldhub_http_request_duration_seconds_count", {"route": route}),
        ("fieldhub_resources_stored_total", {}),
        ("fieldhub_ingest_duration_seconds_count", {}),
    ):
        assert value(after, name, **labels) - value(before, name, **labels) == posted, name
    assert value(after, "fieldhub_leshan_events_total", type="SLEEPING") == 3
    assert value(after, "fieldhub_devices", state="online") == 4
    assert value(after, "fieldhub_devices", state="sleeping") == 1  # dev-0, as the follower was told
    assert value(after, "fieldhub_health_up", check="database") == 1


def test_serve_logs_json_lines_and_drains_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)]
    env = {"METRICS_TOKEN": TOKEN, "LOG_FORMAT": "json", "LOG_LEVEL": "INFO", "SHUTDOWN_DRAIN_SECONDS": "30"}
    with process(command, port, tmp_path, **env) as server:
        assert post_single(url, "dev-serve") == 201
        request = urllib.request.Request(f"{url}/accounts/login/", headers={"X-Request-ID": "from-the-test-1"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.headers["X-Request-ID"] == "from-the-test-1"
        samples = scrape(url)
        assert value(samples, "fieldhub_bridge_posts_total", route="leshan_api/resource/single", status="201") == 1
        with urllib.request.urlopen(f"{url}/readyz", timeout=10) as response:
            assert json.load(response)["status"] == "ok"

        server.send_signal(signal.SIGTERM)
        # It still answers while it drains, and says it is not ready: the load balancer takes it out.
        readiness = _readyz_until_unready(url)
        assert readiness == {
            "status": "unavailable",
            "checks": {"shutdown": "shutting down", "database": "ok", "channel_layer": "ok", "migrations": "ok"},
        }
        with urllib.request.urlopen(f"{url}/healthz", timeout=10) as response:
            assert response.status == 200  # alive, only not ready
        server.send_signal(signal.SIGTERM)  # a second signal: stop now
        assert server.wait(timeout=NEVER) == 0
    lines = [json.loads(line) for line in (tmp_path / "stderr").read_text().splitlines()]
    access = {line["request_id"]: line for line in lines if line["logger"] == "fieldhub.access"}
    login = access["from-the-test-1"]
    assert (login["method"], login["path"], login["status"], login["route"]) == (
        "GET",
        "/accounts/login/",
        200,
        "accounts/login/",
    )
    bridge = next(line for line in access.values() if line["path"] == "/leshan_api/resource/single")
    assert (bridge["user"], bridge["endpoint"], bridge["status"]) == ("bridge", "dev-serve", 201)
    stopping = next(line for line in lines if line["message"].startswith("stopping"))
    assert stopping["request_id"] == ""  # the signal's line belongs to no request


def _readyz_until_unready(url: str) -> dict[str, Any]:
    deadline = time.monotonic() + NEVER
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=10):
                pass
        except urllib.error.HTTPError as exc:
            if exc.code == 503:
                return json.load(exc)
            raise
        time.sleep(0.05)
    raise AssertionError("/readyz never failed")
