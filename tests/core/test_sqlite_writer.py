"""The embedded SQLite backend queues a process's writers on one lock per database file (core/sqlite)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from django.db import connection, transaction
from django.db.utils import OperationalError

from core.models import Endpoint
from core.sqlite.base import writer_lock

pytestmark = [pytest.mark.sqlite, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def short_timeout() -> Iterator[None]:
    options = connection.settings_dict["OPTIONS"]
    saved = options.get("timeout")
    options["timeout"] = 0.2
    yield
    options["timeout"] = saved


def test_concurrent_writers_all_succeed() -> None:
    """Threads whose transactions overlap take turns instead of failing with "database is locked"."""
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for n in range(10):
                with transaction.atomic():
                    Endpoint.objects.create(name=f"writer-{worker}-{n}")
                    time.sleep(0.002)  # hold the transaction so that the others queue behind it
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Endpoint.objects.filter(name__startswith="writer-").count() == 80


def test_a_writer_gives_up_after_the_timeout_with_database_is_locked(short_timeout: None) -> None:
    lock = writer_lock(str(connection.settings_dict["NAME"]))
    lock.acquire()  # another writer of this process holds the database
    try:
        with pytest.raises(OperationalError, match="database is locked"), transaction.atomic():
            Endpoint.objects.create(name="waited-too-long")
    finally:
        lock.release()
    assert not Endpoint.objects.filter(name="waited-too-long").exists()
    with transaction.atomic():
        Endpoint.objects.create(name="after-the-other")
    assert Endpoint.objects.filter(name="after-the-other").exists()


class Abandon(Exception):
    pass


def _create_then_abandon(name: str) -> None:
    with transaction.atomic():
        Endpoint.objects.create(name=name)
        raise Abandon


def test_the_lock_is_released_by_commit_rollback_and_close() -> None:
    lock = writer_lock(str(connection.settings_dict["NAME"]))
    with transaction.atomic():
        Endpoint.objects.create(name="committed")
        assert lock.locked()
    assert not lock.locked()
    with pytest.raises(Abandon):
        _create_then_abandon("rolled-back")
    assert not lock.locked()
    with transaction.atomic():
        Endpoint.objects.create(name="closed-mid-transaction")
        connection.close()  # a lost connection rolls the transaction back and frees the writers
    assert not lock.locked()
    assert list(Endpoint.objects.values_list("name", flat=True)) == ["committed"]


def test_reads_outside_a_transaction_do_not_wait_for_writers(short_timeout: None) -> None:
    Endpoint.objects.create(name="visible")
    lock = writer_lock(str(connection.settings_dict["NAME"]))
    lock.acquire()
    try:
        assert Endpoint.objects.filter(name="visible").exists()
    finally:
        lock.release()
