"""SQLite with one writer at a time per process, queued in Python rather than by SQLite's busy handler.

SQLite allows one write transaction at a time. A waiting writer normally polls (the busy handler sleeps and
retries), which is not fair: in the embedded server, dozens of request threads compete for the GIL and
the lock, and under load one can lose every retry until its busy timeout ends in "database is locked"
(a 503) even though the lock was free most of the time. Here a process-wide lock per database file is
taken before ``BEGIN IMMEDIATE`` and released at commit, rollback or close, so the writers of one process
queue for the lock instead (with the same timeout). Writers in other processes (``manage.py`` commands)
still meet SQLite's busy handler. Statements outside a transaction are unchanged.
"""

from __future__ import annotations

import threading

from django.db.backends.sqlite3 import base
from django.db.utils import OperationalError

_writers: dict[str, threading.Lock] = {}
_writers_guard = threading.Lock()


def writer_lock(name: str) -> threading.Lock:
    with _writers_guard:
        return _writers.setdefault(name, threading.Lock())


class DatabaseWrapper(base.DatabaseWrapper):
    _writing: threading.Lock | None = None

    def _start_transaction_under_autocommit(self) -> None:
        lock = writer_lock(str(self.settings_dict["NAME"]))
        timeout = float(self.settings_dict["OPTIONS"].get("timeout", 5))
        if not lock.acquire(timeout=timeout):
            raise OperationalError("database is locked")
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            lock.release()
            raise
        self._writing = lock

    def _end_writing(self) -> None:
        lock, self._writing = self._writing, None
        if lock is not None:
            lock.release()

    def _commit(self) -> None:
        try:
            super()._commit()
        finally:
            self._end_writing()

    def _rollback(self) -> None:
        try:
            super()._rollback()
        finally:
            self._end_writing()

    def _close(self) -> None:
        try:
            super()._close()
        finally:
            self._end_writing()
