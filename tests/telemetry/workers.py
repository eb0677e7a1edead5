"""Helpers for tests that run the downlink dispatcher and the Leshan event follower."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any


class FollowerThread:
    """Runs a LeshanFollower on a loop of its own in a thread, like the `leshan` worker process."""

    def __init__(self, follower: Any) -> None:
        self.follower = follower
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            self._stop = asyncio.Event()
            await self.follower.run(self._stop)

        self._loop.run_until_complete(main())

    def __enter__(self) -> FollowerThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        wait_until(lambda: self._stop is not None)
        self._loop.call_soon_threadsafe(self._stop.set)  # type: ignore[union-attr]
        self._thread.join(timeout=15)


def wait_until(condition: Any, within: float = 10.0) -> None:
    """Wait for something asynchronous to have happened (a condition, not a speed: fails only if it never does)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {within} s: {condition}")
