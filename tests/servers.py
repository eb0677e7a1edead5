"""Real server processes for end-to-end tests: daphne on a free port, sharing the test database."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
SERVER_APPLICATION_NAME = "fieldhub-test-server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_database_url() -> str:
    """A DATABASE_URL for the database this test run uses (test_<name> on PostgreSQL, the SQLite file)."""
    current = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{current['NAME']}"
    user = current.get("USER") or "postgres"
    password = f":{current['PASSWORD']}" if current.get("PASSWORD") else ""
    host = current.get("HOST") or "127.0.0.1"
    port = current.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{current['NAME']}"


def server_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        DJANGO_SETTINGS_MODULE="core.settings",
        SECRET_KEY=settings.SECRET_KEY,
        DATABASE_URL=test_database_url(),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="WARNING",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        PGAPPNAME=SERVER_APPLICATION_NAME,  # libpq names the server's sessions, see _wait_for_sessions_to_end
    )
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
        env["REDIS_PREFIX"] = os.environ.get("REDIS_PREFIX", "fieldhub-test")
    env.update(extra)
    return env


@contextlib.contextmanager
def daphne(**extra_env: str) -> Iterator[str]:
    """A daphne process serving core.asgi on a free port; yields its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "core.asgi:application"]
    with _running(command, port, extra_env) as url:
        yield url


@contextlib.contextmanager
def embedded(port: int | None = None, **extra_env: str) -> Iterator[str]:
    """`manage.py serve` (what `make run` starts: daphne with the workers inside) on a free port (or the
    given one: to restart a server where its clients expect it)."""
    port = port or free_port()
    command = [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with _running(command, port, extra_env) as url:
        yield url


@contextlib.contextmanager
def _running(command: list[str], port: int, extra_env: dict[str, str]) -> Iterator[str]:
    log = open(ROOT / "var" / f"daphne-test-{port}.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(command, cwd=ROOT, env=server_env(**extra_env), stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        _wait_for_sessions_to_end()


def _wait_for_sessions_to_end(timeout: float = 5) -> None:
    """PostgreSQL ends a dead server's sessions a moment after its process exits; the test database can
    only be dropped once they are gone, so wait for them (bounded)."""
    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
                [SERVER_APPLICATION_NAME],
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.05)


def _wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server at {url} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the server at {url} did not come up in {timeout} s")


@contextlib.contextmanager
def private_redis() -> Iterator[RedisServer]:
    """A Redis of this test's own on a free port, keeping nothing on disk: it can be restarted empty (the
    shared one must never be)."""
    server = RedisServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


class RedisServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not come up")

    def stop(self) -> None:
        """Gone with its data (nothing is saved)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None
