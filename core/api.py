"""The APIs, composed from each app's router; domain errors become HTTP responses here, once."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from core.errors import FieldhubError
from core.http import describe_validation_error
from core.lwm2m.nodes import NodeError
from telemetry.api import bridge_router


def _register_error_handlers(api: NinjaAPI) -> None:
    @api.exception_handler(FieldhubError)
    def domain_error(request: HttpRequest, exc: FieldhubError) -> HttpResponse:
        return api.create_response(request, exc.as_dict(), status=exc.status)

    @api.exception_handler(NodeError)
    def node_error(request: HttpRequest, exc: NodeError) -> HttpResponse:
        body = {"detail": str(exc), "path": exc.path} if exc.path else {"detail": str(exc)}
        return api.create_response(request, body, status=422)

    @api.exception_handler(ValidationError)
    def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        return api.create_response(request, {"detail": describe_validation_error(exc.errors)}, status=422)

    @api.exception_handler(AuthenticationError)
    def authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        response = api.create_response(request, {"detail": exc.message}, status=exc.status_code)
        response["WWW-Authenticate"] = "Bearer"
        return response

    @api.exception_handler(HttpError)
    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        return api.create_response(request, {"detail": exc.message}, status=exc.status_code)


bridge_api = NinjaAPI(
    title="Fieldhub Leshan bridge API",
    version="1",
    description="Where a Leshan bridge posts what devices report (the flownexus bridge's URLs and JSON).",
    urls_namespace="bridge",
    docs_decorator=staff_member_required,
)
bridge_api.add_router("/", bridge_router)
_register_error_handlers(bridge_api)
