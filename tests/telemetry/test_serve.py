"""`manage.py serve` (the embedded server and the Procfile's `web`) ends when asked, even mid-request."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator

import pytest

from tests.servers import ROOT, _wait_for_sessions_to_end, _wait_until_up, free_port, server_env

pytestmark = pytest.mark.django_db(transaction=True)

# Only to end the test if the server never exits; the assertion is that it exits, not how fast.
NEVER = 60


def _keep_busy(url: str, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                response.read()
        except OSError:
            pass


@contextlib.contextmanager
def serving(exit_grace: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`manage.py serve` on a free port, its output captured; killed afterwards if it is still running."""
    port = free_port()
    command = [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--exit-grace", exit_grace],
        cwd=ROOT,
        env=server_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process)
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        _wait_for_sessions_to_end()


def terminated(process: subprocess.Popen[str]) -> str:
    """SIGTERM, then its output once it has exited."""
    process.send_signal(signal.SIGTERM)
    return process.communicate(timeout=NEVER)[0]


def test_sigterm_with_requests_in_flight_ends_the_process() -> None:
    """Requests in flight when daphne stops leave threads blocked in asgiref, which Python's exit would wait
    for forever (plain daphne hangs this way); serve ends regardless, with status 0 and a warning."""
    stop = threading.Event()
    with serving(exit_grace="1") as (process, url):
        clients = [
            threading.Thread(target=_keep_busy, args=(f"{url}{path}", stop), daemon=True)
            for path in ("/healthz", "/accounts/login/", "/static/core/fieldhub.css") * 6
        ]
        try:
            for client in clients:
                client.start()
            # Every client has had a response: requests are flowing when the signal comes.
            for _ in range(3):
                with urllib.request.urlopen(f"{url}/accounts/login/", timeout=10) as response:
                    assert response.status == 200
            output = terminated(process)
        finally:
            stop.set()
    assert process.returncode == 0, output
    assert "Traceback" not in output


def test_sigterm_when_idle_ends_the_process_without_warning() -> None:
    with serving(exit_grace="30") as (process, _):
        output = terminated(process)
    assert process.returncode == 0, output
    assert "threads still busy" not in output
