"""Running the background workers (downlink dispatcher, Leshan event follower): their database threads,
and running them until told to stop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import signal
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg2
from django.db import DatabaseError, connection, connections

T = TypeVar("T")


class DatabaseThreads:
    """A few threads that run a worker's service calls (each keeps its database connection between
    calls), closed with their connections when the worker stops."""

    def __init__(self, size: int = 4, name: str = "worker-db") -> None:
        self.size = size
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=size, thread_name_prefix=name)

    async def run(self, function: Callable[..., T], **kwargs: Any) -> T:
        call = functools.partial(_call, function, kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def close(self) -> None:
        """Close every thread's connection (each thread runs one close, held at a barrier), then the threads."""
        barrier = threading.Barrier(self.size)

        def close_here() -> None:
            connections.close_all()
            barrier.wait(timeout=10)

        futures = [self._executor.submit(close_here) for _ in range(self.size)]
        concurrent.futures.wait(futures, timeout=15)
        self._executor.shutdown(wait=False)


def _call(function: Callable[..., T], kwargs: dict[str, Any]) -> T:
    try:
        return function(**kwargs)
    except DatabaseError:
        connection.close()  # a broken connection (PostgreSQL restarted): the next call opens a new one
        raise


Worker = Callable[[asyncio.Event], Awaitable[None]]


def run_until_signalled(*workers: Worker) -> None:
    """Run the workers on a new loop until SIGTERM or SIGINT, then let them finish what they were doing."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await asyncio.gather(*(worker(stop) for worker in workers))

    asyncio.run(main())


async def listen(channel: str, stop: asyncio.Event, heard: Callable[[list[str]], None], logger: logging.Logger) -> None:
    """PostgreSQL ``LISTEN channel`` on a connection of its own until ``stop``: ``heard`` is given the
    payloads of the notifications that arrived together. A lost connection is logged and made again two
    seconds later (what was sent meanwhile is lost: the workers also look on their own every sweep)."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        raw = None
        try:
            raw = psycopg2.connect(**connection.get_connection_params())
            raw.autocommit = True
            with raw.cursor() as cursor:
                cursor.execute(f"LISTEN {channel}")
            readable = asyncio.Event()
            loop.add_reader(raw.fileno(), readable.set)
            try:
                while not stop.is_set():
                    with contextlib.suppress(TimeoutError):  # every 30 s, poll() checks the connection
                        await asyncio.wait_for(readable.wait(), timeout=30)
                    readable.clear()
                    raw.poll()
                    if raw.notifies:
                        payloads = [note.payload for note in raw.notifies]
                        raw.notifies.clear()
                        heard(payloads)
            finally:
                loop.remove_reader(raw.fileno())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("LISTEN %s: connection lost, reconnecting: %r", channel, exc)
            await asyncio.sleep(2)
        finally:
            if raw is not None:
                raw.close()
