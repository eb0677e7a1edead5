from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.deprecation import MiddlewareMixin

from core.errors import FieldhubError, unavailable_from


class FieldhubErrorMiddleware(MiddlewareMixin):
    """A domain error raised while rendering a page (a forbidden action, an unknown device) becomes an
    error page with its status and message, as the APIs answer the same error with JSON (core.api); an
    unreachable or locked database becomes a 503 page.
    Only ``process_exception``: nothing runs, and no thread hop is added under ASGI, on the normal path."""

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, FieldhubError):
            exception = unavailable_from(exception)  # type: ignore[assignment]
            if exception is None:
                return None
        response = TemplateResponse(
            request, "error.html", {"status": exception.status, "message": str(exception)}, status=exception.status
        )
        return response.render()
