"""SQLite with one writer at a time per process, queued in Python rather than by SQLite's busy handler.

SQLite allows one write transaction at a time. A waiting writer normally polls (the busy handler sleeps and
retries), which is not fair: in the embedded server, dozens of request threads compete for the GIL and
the lock, and under load one can lose every retry until its busy timeout ends in "database is locked"
(a 503) even though the lock was free most of the time. Here a process-wide lock per database file is
taken before ``BEGIN IMMEDIATE`` and released at commit, rollback or close, so the writers of one process
queue for the lock instead (with the same timeout). Writers in other processes (``manage.py`` commands)
still meet SQLite's busy handler. Statements outside a transaction are unchanged.

The database file holds sessions and password hashes: it is created readable by its owner only before
SQLite opens it (SQLite gives the WAL, SHM and journal files the database's own mode), and a database that
others can read, made by an earlier version, is made owner-only when it is opened.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from typing import Any

from django.db.backends.sqlite3 import base
from django.db.utils import OperationalError

logger = logging.getLogger(__name__)

# The files of one SQLite database beside the database itself.
COMPANIONS = ("-wal", "-shm", "-journal")

_writers: dict[str, threading.Lock] = {}
_writers_guard = threading.Lock()


def writer_lock(name: str) -> threading.Lock:
    with _writers_guard:
        return _writers.setdefault(name, threading.Lock())


def owner_only(name: str) -> None:
    """Create the database file ``name`` with mode 0600 if it does not exist; if others may read it, take
    their permissions away from it and its companion files."""
    try:
        os.close(os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        return
    except FileExistsError:
        pass
    except OSError:
        return  # no such folder, or not allowed: SQLite says so in its own words
    try:
        loose = stat.S_IMODE(os.stat(name).st_mode) & 0o077
    except OSError:
        return
    if not loose:
        return
    for path in (name, *(name + suffix for suffix in COMPANIONS)):
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
            os.chmod(path, mode & 0o700)
        except OSError:
            continue  # a companion that is not there
        logger.warning("%s could be read by others (mode %o): now by its owner only (%o)", path, mode, mode & 0o700)


class DatabaseWrapper(base.DatabaseWrapper):
    _writing: threading.Lock | None = None

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        name = conn_params["database"]
        if not self.creation.is_in_memory_db(name) and not str(name).startswith("file:"):
            owner_only(str(name))
        return super().get_new_connection(conn_params)

    def _start_transaction_under_autocommit(self) -> None:
        lock = writer_lock(str(self.settings_dict["NAME"]))
        timeout = float(self.settings_dict["OPTIONS"].get("timeout", 5))
        if not lock.acquire(timeout=timeout):
            raise OperationalError("database is locked")
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]  # a private method of Django's, absent from django-stubs
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
            super()._commit()  # type: ignore[misc]  # a private method of Django's, absent from django-stubs
        finally:
            self._end_writing()

    def _rollback(self) -> None:
        try:
            super()._rollback()  # type: ignore[misc]  # a private method of Django's, absent from django-stubs
        finally:
            self._end_writing()

    def _close(self) -> None:
        try:
            super()._close()  # type: ignore[misc]  # a private method of Django's, absent from django-stubs
        finally:
            self._end_writing()
