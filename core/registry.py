"""An in-process cache of ResourceType rows, so that ingest resolves ids without a query per resource.

Loaded whole on first use (about a thousand rows) and reloaded after ``REFRESH_SECONDS``, so a change made
by another process is seen within that time; changes made through ``core.services`` clear this process's
copy when they commit. Rows are added only after their transaction committed, so the cache never holds a
type that a rollback removed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from core.lwm2m.nodes import Path
from core.models import ResourceType

REFRESH_SECONDS = 60.0

Key = tuple[int, int]


class ResourceTypeCache:
    def __init__(self) -> None:
        self._by_ids: dict[Key, ResourceType] = {}
        self._loaded_at: float | None = None
        self._lock = threading.Lock()

    def get_path(self, path: Path) -> ResourceType | None:
        """The type of the resource ``path`` names (a resource or one of its instances); None for a path
        above a resource or a resource the database does not know."""
        if path.resource_id is None:
            return None
        key = (path.object_id, path.resource_id)
        return self.get_many([key]).get(key)

    def get_many(self, keys: Iterable[Key]) -> dict[Key, ResourceType]:
        """The cached types of ``keys``; those not cached are looked up in one query (another process may
        have created them). Keys unknown to the database are absent from the result."""
        self._refresh_if_stale()
        wanted = set(keys)
        found = {key: self._by_ids[key] for key in wanted if key in self._by_ids}
        missing = wanted - found.keys()
        if missing:
            candidates = ResourceType.objects.filter(
                object_id__in={key[0] for key in missing}, resource_id__in={key[1] for key in missing}
            )
            for rt in candidates:
                key = (rt.object_id, rt.resource_id)
                if key in missing:
                    found[key] = rt
                    self.add(rt)
        return found

    def add(self, resource_type: ResourceType) -> None:
        with self._lock:
            self._by_ids[(resource_type.object_id, resource_type.resource_id)] = resource_type

    def clear(self) -> None:
        with self._lock:
            self._by_ids = {}
            self._loaded_at = None

    def _refresh_if_stale(self) -> None:
        loaded_at = self._loaded_at
        if loaded_at is not None and time.monotonic() - loaded_at < REFRESH_SECONDS:
            return
        rows = {(rt.object_id, rt.resource_id): rt for rt in ResourceType.objects.all()}
        with self._lock:
            self._by_ids = rows
            self._loaded_at = time.monotonic()


resource_types = ResourceTypeCache()
