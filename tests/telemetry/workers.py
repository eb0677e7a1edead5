"""Helpers for tests that run the workers (the Leshan event follower, the notification worker) in threads."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any


class WorkerThread:
    """Runs a worker's ``run(stop)`` (a LeshanFollower, a NotificationWorker) on a loop of its own in a
    thread, like its worker process; ``ready`` (optional): what ``start`` also waits for."""

    def __init__(self, worker: Any, ready: Callable[[], bool] | None = None) -> None:
        self.worker = worker
        self._ready = ready
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            self._stop = asyncio.Event()
            await self.worker.run(self._stop)

        self._loop.run_until_complete(main())

    def start(self) -> WorkerThread:
        self._thread.start()
        ready = self._ready
        wait_until(lambda: self._stop is not None and (ready is None or ready()))
        return self

    def stop(self) -> None:
        wait_until(lambda: self._stop is not None)
        self._loop.call_soon_threadsafe(self._stop.set)  # type: ignore[union-attr]
        self._thread.join(timeout=20)

    def __enter__(self) -> WorkerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_until(condition: Any, within: float = 10.0) -> None:
    """Wait for something asynchronous to have happened (a condition, not a speed: fails only if it never does)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {within} s: {condition}")
