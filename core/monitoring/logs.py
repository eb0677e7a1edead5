"""Log lines with their request: a JSON formatter (``LOG_FORMAT=json``: one object per line) and the
context every line of a request carries (its id, its user, the device it is about).

The context is one mutable dict per request in a context variable: asgiref copies context variables into
the threads that run a request's synchronous parts, and a dict changed there (``bind``) is the same dict.
Nothing secret goes into a line: the access log names the route's path with its secret parts (a firmware
download token) hidden, never a query string or a header.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
from typing import Any

REQUEST: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("fieldhub_request", default=None)

# What a record may carry besides the standard attributes (``extra=``), copied into the JSON object.
EXTRA_FIELDS = ("method", "path", "route", "status", "duration_ms")


def bind(**values: Any) -> None:
    """Add to the current request's context (e.g. ``endpoint=<device name>``); nothing outside a request."""
    context = REQUEST.get()
    if context is not None:
        context.update(values)


class RequestContextFilter(logging.Filter):
    """Puts the request's id, user and endpoint on every record (empty outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = REQUEST.get() or {}
        for key in ("request_id", "user", "endpoint"):
            if not hasattr(record, key):
                setattr(record, key, context.get(key, ""))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id, user, endpoint,
    and for the access log method, path, route, status, duration_ms; an exception as ``exc_info`` text."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", ""),
            "user": getattr(record, "user", ""),
            "endpoint": getattr(record, "endpoint", ""),
        }
        for key in EXTRA_FIELDS:
            if hasattr(record, key):
                line[key] = getattr(record, key)
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def logging_config(*, log_format: str, level: str) -> dict[str, Any]:
    """The LOGGING setting: ``plain`` (human-readable, the request id in brackets) or ``json``."""
    plain = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request": {"()": "core.monitoring.logs.RequestContextFilter"}},
        "formatters": {
            "plain": {"format": plain},
            "json": {"()": "core.monitoring.logs.JsonFormatter"},
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["request"]}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's own console handler (DEBUG only) would print its lines a second time, unformatted.
            "django": {"handlers": [], "level": "INFO", "propagate": True},
            "django.db.backends": {"level": "INFO"},
        },
    }
