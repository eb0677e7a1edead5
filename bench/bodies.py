"""Oversize request bodies against the embedded server: what they cost its memory (issue 15, finding 1).

Starts `manage.py serve` (SQLite, a fresh database under var/, removed afterwards) and sends, one at a
time over a raw socket, anonymous POSTs of --mib MiB to a page (/accounts/login/), the REST API and the
bridge: once with a Content-Length, once chunked, each to a server of its own. For each it prints the
status the server answered, how much of the body the client could send before the server closed the
connection, and the server's resident memory (RSS) before, at its highest while the body was being sent
(sampled every 10 ms) and a second after.

    .venv/bin/python bench/bodies.py                 # 64 MiB bodies
    .venv/bin/python bench/bodies.py --mib 256 --port 8110
"""

from __future__ import annotations

import argparse
import functools
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import PYTHON, ROOT, child, free_port, manage, server_env, wait_healthy

PIECE = 64 * 1024
PATHS = ("/accounts/login/", "/api/v1/endpoints", "/leshan_api/resource/single")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


@dataclass
class Outcome:
    status: str
    sent: int
    seconds: float


def post_oversize(port: int, path: str, size: int, *, chunked: bool) -> Outcome:
    """POST ``size`` bytes to ``path``, reading the answer while sending; stop sending once the server
    has answered and closed the connection (or reset it)."""
    sock = socket.create_connection(("127.0.0.1", port))
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{framing}\r\n"
        "Connection: close\r\n\r\n"
    )
    answer = bytearray()
    closed = threading.Event()

    def read() -> None:
        try:
            while data := sock.recv(65536):
                answer.extend(data)
        except OSError:
            pass
        closed.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    started = time.monotonic()
    sent = 0
    piece = b"x" * PIECE
    framed = f"{PIECE:x}\r\n".encode() + piece + b"\r\n"
    try:
        sock.sendall(head.encode())
        while sent < size and not closed.is_set():
            sock.sendall(framed if chunked else piece)
            sent += PIECE
        if chunked and not closed.is_set():
            sock.sendall(b"0\r\n\r\n")
    except OSError:
        pass
    closed.wait(120)
    seconds = time.monotonic() - started
    sock.close()
    status = answer.split(b"\r\n", 1)[0].decode("latin-1") if answer else "no answer (connection reset)"
    return Outcome(status, sent, seconds)


def measured(pid: int, send: Callable[[], Outcome]) -> tuple[Outcome, float, float, float]:
    """What ``send`` returned, and the RSS of process ``pid`` before, at its highest meanwhile, a second after."""
    before = rss_mib(pid)
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            peak.append(rss_mib(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    outcome = send()
    time.sleep(1)
    done.set()
    sampler.join()
    return outcome, before, max(peak), rss_mib(pid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=64, help="size of each body in MiB (default 64)")
    parser.add_argument("--port", type=int, default=0, help="port of the server (default: a free one)")
    args = parser.parse_args()
    size = args.mib * 1024 * 1024
    port = args.port or free_port()

    with tempfile.TemporaryDirectory(prefix="bench-bodies-", dir=ROOT / "var") as var:
        env = server_env(f"sqlite:///{var}/fieldhub.sqlite3", FIELDHUB_VAR_DIR=var)
        manage("migrate", "--noinput", env=env)
        command = [PYTHON, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)]
        print(f"manage.py serve, one fresh process per row, {args.mib} MiB bodies; RSS in MiB")
        print(f"{'path':28} {'framing':15} {'answer':36} {'sent MiB':>8} {'before':>7} {'peak':>7} {'after':>7}")
        for path in PATHS:
            for chunked in (False, True):
                with child(command, env=env, log=Path(var) / "serve.log") as server:
                    wait_healthy(f"http://127.0.0.1:{port}")
                    time.sleep(1)
                    send = functools.partial(post_oversize, port, path, size, chunked=chunked)
                    outcome, before, peak, after = measured(server.pid, send)
                framing = "chunked" if chunked else "Content-Length"
                print(
                    f"{path:28} {framing:15} {outcome.status[:36]:36} {outcome.sent / 2**20:8.1f} "
                    f"{before:7.0f} {peak:7.0f} {after:7.0f}"
                )


if __name__ == "__main__":
    main()
