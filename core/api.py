"""The APIs, composed from each app's router; domain errors become HTTP responses here, once."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from core.auth import BridgeAuth, user_auth
from core.errors import FieldhubError, unavailable_from
from core.http import StrictJsonParser, describe_validation_error
from core.lwm2m.nodes import NodeError
from core.sites.api import sites_router
from firmware.api import router as firmware_router
from telemetry.alarms.api import alarms_router
from telemetry.api import bridge_router, operations_router, query_router
from telemetry.notifications.api import notifications_router
from telemetry.provisioning.api import provisioning_router
from telemetry.rollouts.api import rollouts_router

logger = logging.getLogger(__name__)

NOT_AUTHENTICATED = "authentication required: log in, or send an API token (Authorization: Bearer fh_...)"


def _register_error_handlers(api: NinjaAPI) -> None:
    @api.exception_handler(FieldhubError)
    def domain_error(request: HttpRequest, exc: FieldhubError) -> HttpResponse:
        return api.create_response(request, exc.as_dict(), status=exc.status)

    @api.exception_handler(DatabaseError)
    def database_error(request: HttpRequest, exc: DatabaseError) -> HttpResponse:
        unavailable = unavailable_from(exc)
        if unavailable is None:
            raise exc  # a bug: Django's 500, logged
        logger.warning("API request answered 503: %r", exc)
        response = api.create_response(request, unavailable.as_dict(), status=503)
        response["Retry-After"] = "5"
        return response

    @api.exception_handler(RequestDataTooBig)
    def body_too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
        # A body django-ninja reads itself (the bridge reads its own, core.http.read_json_body).
        detail = f"the request body is over the limit of {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes"
        return api.create_response(request, {"detail": detail}, status=413)

    @api.exception_handler(MultiPartParserError)
    def multipart_error(request: HttpRequest, exc: MultiPartParserError) -> HttpResponse:
        # A form body django-ninja reads (the firmware upload) that Django cannot parse: no boundary, cut off.
        detail = f"the multipart/form-data body cannot be read: {exc}"
        return api.create_response(request, {"detail": detail}, status=400)

    @api.exception_handler(SuspiciousOperation)
    def suspicious_request(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
        # Django's request limits met while ninja reads parameters (more than DATA_UPLOAD_MAX_NUMBER_FIELDS
        # fields or DATA_UPLOAD_MAX_NUMBER_FILES files): the 400 Django would give, as JSON. Logged as
        # Django logs them.
        logging.getLogger(f"django.security.{exc.__class__.__name__}").error(str(exc))
        return api.create_response(request, {"detail": str(exc)}, status=400)

    @api.exception_handler(NodeError)
    def node_error(request: HttpRequest, exc: NodeError) -> HttpResponse:
        body = {"detail": str(exc), "path": exc.path} if exc.path else {"detail": str(exc)}
        return api.create_response(request, body, status=422)

    @api.exception_handler(ValidationError)
    def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        return api.create_response(request, {"detail": describe_validation_error(exc.errors)}, status=422)

    @api.exception_handler(AuthenticationError)
    def authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        message = NOT_AUTHENTICATED if exc.message == "Unauthorized" else exc.message
        response = api.create_response(request, {"detail": message}, status=exc.status_code)
        response["WWW-Authenticate"] = "Bearer"
        return response

    @api.exception_handler(HttpError)
    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        message = exc.message
        if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
            message = str(exc.__cause__)  # ninja's "Cannot parse request body": say why (StrictJsonParser)
        if exc.status_code == 403 and message == "CSRF check Failed":
            message = "CSRF check failed: send the csrftoken cookie's value in the X-CSRFToken header"
        return api.create_response(request, {"detail": message}, status=exc.status_code)


bridge_api = NinjaAPI(
    title="Fieldhub Leshan bridge API",
    version="1",
    description="Where a Leshan bridge posts what devices report (the flownexus bridge's URLs and JSON).",
    urls_namespace="bridge",
    auth=BridgeAuth(),
    docs_decorator=staff_member_required,
)
bridge_api.add_router("/", bridge_router)
_register_error_handlers(bridge_api)

api = NinjaAPI(
    title="Fieldhub API",
    version="1",
    description=(
        "Devices, their latest values, time series, events and exports. Authenticate with the browser "
        "session (unsafe methods need the X-CSRFToken header) or a personal API token: "
        "`Authorization: Bearer fh_...`, created on the API tokens page."
    ),
    urls_namespace="api",
    auth=user_auth(),
    docs_decorator=login_required,
    parser=StrictJsonParser(),
)
api.add_router("/", query_router)
api.add_router("/", operations_router)
api.add_router("/", firmware_router)
api.add_router("/", sites_router)
api.add_router("/", rollouts_router)
api.add_router("/", notifications_router)
api.add_router("/", provisioning_router)
api.add_router("/", alarms_router)
_register_error_handlers(api)
