"""A viewer's websocket flooding the server with small messages (issue 15, finding 11).

    .venv/bin/python bench/flood.py                      # 4 floods of 2 s against `manage.py serve`

Starts the embedded server (one daphne process, SQLite, the in-memory layer) and logs in as a viewer. Each
flood opens a dashboard socket and writes pre-built masked text frames as fast as the connection takes them
for ``--seconds`` (a raw client: a browser or aiohttp could not send this fast), ignoring whatever the
server sends, as an attacker would. Meanwhile ``/healthz`` is asked every 50 ms. Printed per flood: the
messages written, how the socket ended (the server's close code, or none), the slowest ``/healthz``, and
the server's resident memory (VmRSS) once it has settled; at the start and after the last flood too.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import PYTHON, ROOT, child, free_port, manage, server_env, wait_healthy

MASK = b"\x11\x22\x33\x44"


def viewer_cookie(env: dict[str, str]) -> str:
    """A logged-in session of a viewer, made in a child process against that run's database."""
    code = (
        "import django; django.setup(); from django.contrib.auth import get_user_model; "
        "from django.contrib.auth.models import Group; from django.test import Client; "
        "u = get_user_model().objects.create_user('flood-viewer'); "
        "u.groups.add(Group.objects.get(name='viewer')); "
        "c = Client(); c.force_login(u); print(c.cookies['sessionid'].value)"
    )
    output = subprocess.run([PYTHON, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return f"sessionid={output.stdout.split()[-1]}"


def frame(payload: bytes) -> bytes:
    """One masked text frame (a client's frames must be masked), payload under 126 bytes."""
    masked = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + MASK + masked


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def flood(host: str, port: int, cookie: str, seconds: float) -> tuple[int, str]:
    """(messages written, how the socket ended)."""
    reader, writer = await asyncio.open_connection(host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /ws/dashboard/ HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://{host}:{port}\r\n"
            f"Cookie: {cookie}\r\n\r\n"
        ).encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n")[0]:
        writer.close()
        return 0, f"handshake refused: {head.splitlines()[0].decode()}"
    ended = "still open when the flood stopped"

    async def read_frames() -> None:
        nonlocal ended
        try:
            while True:
                first, second = await reader.readexactly(2)
                length = second & 0x7F
                if length == 126:
                    (length,) = struct.unpack("!H", await reader.readexactly(2))
                elif length == 127:
                    (length,) = struct.unpack("!Q", await reader.readexactly(8))
                body = await reader.readexactly(length)
                if first & 0x0F == 8:
                    code = struct.unpack("!H", body[:2])[0] if len(body) >= 2 else None
                    ended = (
                        f"closed by the server with {code} after {time.monotonic() - started:.2f} s "
                        f"and {sent:,} messages written"
                    )
        except (asyncio.IncompleteReadError, ConnectionError):
            if ended.startswith("still"):
                ended = f"dropped by the server after {time.monotonic() - started:.2f} s"

    chunk = frame(b"hello hello") * 1000
    sent = 0
    started = time.monotonic()
    reading = asyncio.create_task(read_frames())
    try:
        while time.monotonic() - started < seconds and not reading.done():
            writer.write(chunk)
            await writer.drain()
            sent += 1000
    except ConnectionError:
        pass
    with contextlib.suppress(TimeoutError):  # the close may still be on its way
        await asyncio.wait_for(asyncio.shield(reading), 10)
    writer.close()
    reading.cancel()
    return sent, ended


def slowest_healthz(url: str, until: list[bool]) -> float:
    slowest = 0.0
    while not until:
        started = time.monotonic()
        with contextlib.suppress(OSError):
            urllib.request.urlopen(f"{url}/healthz", timeout=30).read()
        slowest = max(slowest, time.monotonic() - started)
        time.sleep(0.05)
    return slowest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--floods", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--port", type=int, default=0, help="the server's port (default: a free one)")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds to wait before reading memory")
    args = parser.parse_args()

    import threading

    with tempfile.TemporaryDirectory() as var_dir:
        env = server_env(None, FIELDHUB_VAR_DIR=var_dir, SESSION_COOKIE_SECURE="0", EMBEDDED_WORKERS="0")
        manage("migrate", "--noinput", env=env)
        manage("bootstrap", env=env)
        cookie = viewer_cookie(env)
        port = args.port or free_port()
        url = f"http://127.0.0.1:{port}"
        command = [PYTHON, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)]
        with child(command, env=env, log=Path(var_dir) / "serve.log") as server:
            wait_healthy(url)
            time.sleep(args.settle)
            print(f"server memory at the start: {rss_mb(server.pid):.0f} MB")
            for number in range(1, args.floods + 1):
                done: list[bool] = []
                slowest: list[float] = []
                probe = threading.Thread(target=lambda d=done, s=slowest: s.append(slowest_healthz(url, d)))
                probe.start()
                sent, ended = asyncio.run(flood("127.0.0.1", port, cookie, args.seconds))
                done.append(True)
                probe.join()
                time.sleep(args.settle)
                print(
                    f"flood {number}: {sent:,} messages written in at most {args.seconds:g} s, socket {ended}; "
                    f"slowest /healthz {slowest[0]:.2f} s; server memory {rss_mb(server.pid):.0f} MB"
                )


if __name__ == "__main__":
    main()
