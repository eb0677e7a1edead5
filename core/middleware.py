from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.template.response import TemplateResponse
from django.utils.deprecation import MiddlewareMixin

from core.errors import FieldhubError, unavailable_from
from core.http import is_api


class FieldhubErrorMiddleware(MiddlewareMixin):
    """A domain error raised while rendering a page (a forbidden action, an unknown device) becomes an
    error page with its status and message, as the APIs answer the same error with JSON (core.api); an
    unreachable or locked database becomes a 503 page.
    Only ``process_exception``: nothing runs, and no thread hop is added under ASGI, on the normal path."""

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        error = exception if isinstance(exception, FieldhubError) else unavailable_from(exception)
        if error is None:
            return None
        response = TemplateResponse(
            request, "error.html", {"status": error.status, "message": str(error)}, status=error.status
        )
        return response.render()


class _Middleware:
    """A middleware that works sync and async (no thread hop under daphne): ``before`` may answer in place
    of the view, ``after`` may change the response."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        answer = self.before(request)
        if self.is_async:
            return self._acall(request, answer)
        return self.after(answer or self.get_response(request))

    async def _acall(self, request: HttpRequest, answer: HttpResponse | None) -> HttpResponse:
        return self.after(answer or await self.get_response(request))

    def before(self, request: HttpRequest) -> HttpResponse | None:
        return None

    def after(self, response: HttpResponse) -> HttpResponse:
        return response


class ContentSecurityPolicyMiddleware(_Middleware):
    """Adds ``settings.CONTENT_SECURITY_POLICY`` to every response that has none (pages, API, admin, docs);
    the other security headers (nosniff, Referrer-Policy, Cross-Origin-Opener-Policy, X-Frame-Options)
    come from Django's own middleware."""

    def after(self, response: HttpResponse) -> HttpResponse:
        if settings.CONTENT_SECURITY_POLICY and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = settings.CONTENT_SECURITY_POLICY
        return response


NUL_IN_URL = "the URL contains a NUL character (%00), which no name, path or filter can hold"


class RefuseNulInUrlMiddleware(_Middleware):
    """A 400 for a URL whose path or query string holds a NUL character, before any view runs: no stored
    text can contain one (the ingest refuses them), and PostgreSQL refuses a query parameter that does
    rather than find nothing. JSON under the APIs, plain text for pages."""

    def before(self, request: HttpRequest) -> HttpResponse | None:
        query = request.META.get("QUERY_STRING", "")
        if "\x00" not in request.path and "%00" not in query and "\x00" not in query:
            return None
        if is_api(request):
            return JsonResponse({"detail": NUL_IN_URL}, status=400)
        return HttpResponseBadRequest(NUL_IN_URL, content_type="text/plain; charset=utf-8")
