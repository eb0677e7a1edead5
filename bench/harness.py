"""What every benchmark needs: start Fieldhub servers, drive HTTP load cheaply, summarise latencies.

The load client is a minimal HTTP/1.1 keep-alive client on raw asyncio streams: with the server on the
same two cores, a heavier client (aiohttp, httpx) would take the CPU the server is being measured with.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
BENCH_SECRET = "benchmark-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(database_url: str | None, redis_url: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG"}}
    env.update(SECRET_KEY=BENCH_SECRET, DJANGO_SETTINGS_MODULE="core.settings", LOG_LEVEL="WARNING", **extra)
    if database_url:
        env["DATABASE_URL"] = database_url
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def prepare_database(env: dict[str, str]) -> None:
    """Migrate the database ``env`` names and load the registry, then set up Django in this process on the
    same database and settings (a benchmark that also writes or reads through the ORM)."""
    manage("migrate", "--noinput", env=env)
    manage("load_registry", env=env)
    shared = ("DATABASE_URL", "REDIS_URL", "REDIS_PREFIX", "SECRET_KEY", "DJANGO_SETTINGS_MODULE", "FIELDHUB_VAR_DIR")
    for key in shared:
        if key in env:
            os.environ[key] = env[key]
    import django

    django.setup()


@contextlib.contextmanager
def child(
    command: list[str], *, env: dict[str, str], log: Path | None = None, stop_within: float = 30
) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` in a process group of its own, its output to ``log`` (or nowhere); stopped with SIGTERM
    to the group on exit, SIGKILL if it has not ended within ``stop_within`` seconds."""
    output = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output, start_new_session=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=stop_within)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if log:
            output.close()


@contextlib.contextmanager
def running_server(
    kind: str, *, env: dict[str, str], workers: int = 1, threads: int = 1, port: int | None = None
) -> Iterator[str]:
    """Start ``daphne`` (one process per worker, each on its own port; the first one's URL is returned)
    or ``gunicorn`` (WSGI, ``workers`` processes on one port) and stop it afterwards."""
    port = port or free_port()
    if kind == "daphne":
        command = [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "core.asgi:application"]
    elif kind == "gunicorn":
        command = [
            PYTHON, "-m", "gunicorn", "core.wsgi:application", "--bind", f"127.0.0.1:{port}",
            "--workers", str(workers), "--worker-class", "sync" if threads == 0 else "gthread",
            "--threads", str(max(threads, 1)),
            "--keep-alive", "30", "--log-level", "warning",
        ]  # fmt: skip
    elif kind == "granian":
        command = [
            PYTHON, "-m", "granian", "--interface", "wsgi", "core.wsgi:application", "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(workers), "--blocking-threads", str(max(threads, 1)),
            "--log-level", "warning", "--no-ws",
        ]  # fmt: skip
    elif kind == "uwsgi":
        command = [
            str(Path(PYTHON).parent / "uwsgi"), "--http-socket", f"127.0.0.1:{port}",
            "--module", "core.wsgi:application",
            "--processes", str(workers), "--threads", str(max(threads, 1)), "--http-keepalive", "--master",
            "--disable-logging", "--die-on-term", "--add-header", "Connection: Keep-Alive",
        ]  # fmt: skip
    else:
        raise ValueError(f"unknown server {kind}")
    url = f"http://127.0.0.1:{port}"
    with child(command, env=env, stop_within=15):
        wait_healthy(url)
        yield url


def wait_healthy(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not become healthy in {timeout} s")


def post_request(url: str, path: str, body: dict | bytes, headers: dict[str, str] | None = None) -> bytes:
    """The bytes of one HTTP/1.1 POST with a JSON body, ready to be written again and again."""
    data = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
    host = urlparse(url).netloc
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json", f"Content-Length: {len(data)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


@dataclass
class LoadResult:
    requests: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        return percentile(self.latencies, p)


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[max(0, min(998, round(p * 10) - 1))]


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """The status, and whether the server closes the connection after this response."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    close = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            close = True
    if length:
        await reader.readexactly(length)
    return status, close


async def _worker(host: str, port: int, requests: Callable[[], bytes], stop_at: float, result: LoadResult) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.monotonic() < stop_at:
            request = requests()
            started = time.perf_counter()
            writer.write(request)
            try:
                status, close = await _read_response(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                result.errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            if close:  # a server without keep-alive (gunicorn's sync worker): connect again
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
            result.latencies.append(time.perf_counter() - started)
            result.requests += 1
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if status >= 400:
                result.errors += 1
    finally:
        writer.close()


def drive(urls: Sequence[str], requests: Callable[[], bytes], *, concurrency: int, seconds: float) -> LoadResult:
    """``concurrency`` keep-alive connections (spread over ``urls``) each sending ``requests()`` in a loop."""

    async def main() -> LoadResult:
        result = LoadResult()
        started = time.monotonic()
        stop_at = started + seconds
        workers = []
        for i in range(concurrency):
            parsed = urlparse(urls[i % len(urls)])
            workers.append(_worker(parsed.hostname or "127.0.0.1", parsed.port or 80, requests, stop_at, result))
        await asyncio.gather(*workers)
        result.seconds = time.monotonic() - started
        return result

    return asyncio.run(main())
