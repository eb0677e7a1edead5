"""One middleware around every HTTP request: its id (``X-Request-ID``, kept from the client or made, and
returned), its figures (requests by route template and status, latency; bridge posts) and its access log
line (``fieldhub.access``: method, path, route, status, duration, user, endpoint)."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

from core.monitoring import logs, metrics

access_logger = logging.getLogger("fieldhub.access")

REQUEST_ID_HEADER = "X-Request-ID"
# A client's id is kept when it is short and plain (a proxy's UUID, a trace id); anything else is replaced.
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# URL parts that are secrets (a firmware download's token): hidden in the access log's path.
SECRET_KWARGS = frozenset({"token"})
BRIDGE_PREFIX = "leshan_api/"
# Not timed or logged: the scrape itself and the probes, every few seconds each.
QUIET_ROUTES = frozenset({"metrics", "healthz", "readyz"})


class RequestMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if self.is_async:
            return self._acall(request)
        started = self._begin(request)
        response = self._end(request, self.get_response(request), started)
        # A thread serves request after request (WSGI): the context ends with the response, after Django
        # logged it, when the server closes it.
        response._resource_closers.append(_forget_request)  # type: ignore[attr-defined]  # Django calls them on close()
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        started = self._begin(request)
        return self._end(request, await self.get_response(request), started)

    def _begin(self, request: HttpRequest) -> float:
        """The request's context, left set after the response: Django logs an error response's line
        (``django.request``) after the middleware returned it."""
        given = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = given if REQUEST_ID_RE.fullmatch(given) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        context = {"request_id": request_id, "user": "", "endpoint": ""}
        request.log_context = context  # type: ignore[attr-defined]
        logs.REQUEST.set(context)
        return time.perf_counter()

    def _end(self, request: HttpRequest, response: HttpResponse, started: float) -> HttpResponse:
        seconds = time.perf_counter() - started
        context: dict[str, Any] = request.log_context  # type: ignore[attr-defined]
        response[REQUEST_ID_HEADER] = context["request_id"]
        match = request.resolver_match
        route = match.route if match is not None else "unmatched"
        if match is not None and match.url_name in QUIET_ROUTES:
            return response
        status = response.status_code
        if metrics.enabled():
            metrics.HTTP_REQUESTS.labels(route, request.method or "", str(status)).inc()
            metrics.HTTP_DURATION.labels(route).observe(seconds)
            if route.startswith(BRIDGE_PREFIX):
                metrics.BRIDGE_POSTS.labels(route, str(status)).inc()
        path = request.path
        if match is not None:
            for key, value in match.kwargs.items():
                if key in SECRET_KWARGS and isinstance(value, str) and value:
                    path = path.replace(value, "<hidden>")
            endpoint = match.kwargs.get("name") or match.kwargs.get("endpoint")
            if isinstance(endpoint, str) and not context["endpoint"]:
                context["endpoint"] = endpoint
        context["user"] = _user_name(request)
        duration_ms = round(seconds * 1000, 1)
        access_logger.info(
            "%s %s %s %.1f ms",
            request.method,
            path,
            status,
            duration_ms,
            extra={
                "method": request.method,
                "path": path,
                "route": route,
                "status": status,
                "duration_ms": duration_ms,
                **context,
            },
        )
        return response


def _forget_request() -> None:
    logs.REQUEST.set(None)


def _user_name(request: HttpRequest) -> str:
    """The user the request was made as, if it is already known (an API token's, or a session's that was
    looked up): never a query of its own here, which would be a blocking call under ASGI."""
    for candidate in (getattr(request, "auth", None), getattr(request, "_cached_user", None)):
        if getattr(candidate, "is_authenticated", False):
            return str(candidate.get_username())  # type: ignore[union-attr]
    if isinstance(getattr(request, "auth", None), str):
        return str(request.auth)  # type: ignore[attr-defined]  # the bridge's principal
    return ""
