"""The ingest: what devices report, from the bridge's JSON (``payloads``) to stored rows (``rows``,
``store``), in one service (``service.ingest``). The names below are the package's interface."""

from telemetry.ingest.names import IngestError, endpoint_name_check
from telemetry.ingest.service import IngestResult, ingest

__all__ = ["IngestError", "IngestResult", "endpoint_name_check", "ingest"]
