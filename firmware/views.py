"""The firmware pages, and the Package URI that devices download images from."""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_http_methods, require_POST, require_safe

from core.errors import FieldhubError, PermissionDenied
from core.http import PageRequest, back
from core.permissions import SYSTEM, require_scope
from core.roles import Role
from firmware import presenters, selectors, services
from firmware.models import Firmware
from telemetry import selectors as telemetry_selectors
from telemetry.models import Rollout

BYTE_RANGE_RE = re.compile(r"([0-9]*)-([0-9]*)")  # RFC 9110 §14.1.1: int-range or suffix-range


@login_required
@require_http_methods(["GET", "POST"])
def firmware(request: PageRequest) -> HttpResponse:
    """Images (upload for admins), updates, campaigns."""
    upload_error, status = None, 200
    if request.method == "POST":
        try:
            image = services.firmware_upload(
                actor=request.user, version=request.POST.get("version", ""), upload=request.FILES.get("file")
            )
        except FieldhubError as exc:
            upload_error, status = str(exc), exc.status
        else:
            messages.success(
                request, f"Firmware {image.version} uploaded ({image.size} bytes, SHA-256 {image.sha256})."
            )
            return redirect("firmware")
    context = presenters.firmware_page(user=request.user)
    if upload_error is not None:
        context["upload_error"] = upload_error
    return TemplateResponse(request, "firmware/firmware.html", context, status=status)


@login_required
@require_POST
def firmware_delete(request: PageRequest, pk: int) -> HttpResponse:
    image = selectors.firmware_find(user=request.user, pk=pk)
    if image is None:
        raise Http404
    services.firmware_delete(actor=request.user, firmware=image)
    messages.success(request, f"Firmware {image.version} deleted.")
    return redirect("firmware")


@login_required
@require_GET
def device_section(request: PageRequest, name: str) -> HttpResponse:
    """A device page's firmware section (loaded into the telemetry page, which knows nothing of firmware)."""
    endpoint = telemetry_selectors.endpoint_get(user=request.user, name=name)
    context = presenters.device_section(user=request.user, endpoint=endpoint)
    return TemplateResponse(request, "firmware/device.html#section", context)


@login_required
@require_POST
def update_start(request: PageRequest, name: str) -> HttpResponse:
    endpoint = telemetry_selectors.endpoint_get(user=request.user, name=name)
    image = selectors.firmware_get(user=request.user, version=request.POST.get("version", ""))
    try:
        services.firmware_update_start(actor=request.user, endpoint=endpoint, firmware=image)
    except PermissionDenied:
        raise
    except FieldhubError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Updating {endpoint.name} to {image.version}: the package URI is queued.")
    return redirect("endpoint", name=endpoint.name)


@login_required
@require_POST
def update_cancel(request: PageRequest, pk: int) -> HttpResponse:
    services.firmware_update_cancel(actor=request.user, update=selectors.update_get(user=request.user, pk=pk))
    if request.htmx:
        return HttpResponse(status=204)
    return back(request, "firmware")


@login_required
@require_http_methods(["GET", "POST"])
def campaign_new(request: PageRequest) -> HttpResponse:
    """The New campaign form, for operators: others get the 403 page, not a form they cannot use."""
    require_scope(request.user, Role.OPERATOR)
    if request.method == "POST":
        form = request.POST
        try:
            campaign = _campaign_from_form(request, form)
        except FieldhubError as exc:
            context = {**presenters.campaign_form(user=request.user, form=form), "error": str(exc)}
            return TemplateResponse(request, "firmware/campaign_new.html", context, status=exc.status)
        messages.success(request, presenters.campaign_started(campaign))
        return redirect("campaign", pk=campaign.number)
    return TemplateResponse(request, "firmware/campaign_new.html", presenters.campaign_form(user=request.user))


def _campaign_from_form(request: HttpRequest, form: Any) -> Rollout:
    image = selectors.firmware_get(user=request.user, version=form.get("version", ""))
    select = form.get("select", "all")
    names = (
        [line.strip() for line in form.get("endpoints", "").splitlines() if line.strip()] if select == "list" else None
    )
    endpoints = selectors.campaign_endpoints(
        user=request.user, names=names, from_version=form.get("from_version", "") if select == "version" else None
    )
    waves = services.campaign_waves_parse(text=form.get("waves", ""))
    try:
        rate = float(form.get("max_failure_percent", "10")) / 100
    except ValueError:
        raise FieldhubError("the failure limit is a number of percent, e.g. 10", path="max_failure_percent") from None
    return services.campaign_create(
        actor=request.user,
        name=form.get("name", ""),
        firmware=image,
        endpoints=endpoints,
        waves=waves,
        unit=form.get("unit", "percent"),
        max_failure_rate=rate,
    )


@login_required
@require_GET
def campaign(request: PageRequest, pk: int) -> HttpResponse:
    return TemplateResponse(request, "firmware/campaign.html", presenters.campaign_page(user=request.user, pk=pk))


CAMPAIGN_ACTIONS = {
    "pause": services.campaign_pause,
    "resume": services.campaign_resume,
    "abort": services.campaign_abort,
}


@login_required
@require_POST
def campaign_action(request: PageRequest, pk: int, action: str) -> HttpResponse:
    if action not in CAMPAIGN_ACTIONS:
        raise Http404
    item = selectors.campaign_get(user=request.user, pk=pk)
    try:
        CAMPAIGN_ACTIONS[action](actor=request.user, campaign=item)
    except PermissionDenied:
        raise
    except FieldhubError as exc:
        messages.error(request, str(exc))
    return redirect("campaign", pk=pk)


@require_safe
def package(request: HttpRequest, token: str, filename: str) -> HttpResponseBase:
    """A firmware image, for devices (no login: the unguessable token in the URL is the key).

    One byte range is served as RFC 9110 §14 has it, so a device can resume a download: a satisfiable
    ``Range: bytes=…`` is a 206 of that part, one that cannot be satisfied a 416 with the length. A Range
    header this server does not act on (another unit, several ranges, a malformed one, or an ``If-Range``
    that does not match the ETag) is ignored, as the RFC says: 200 and the whole image. HEAD answers the
    headers of the whole image (its length, ETag and version), without the body."""
    image = selectors.firmware_package(user=SYSTEM, token=token, filename=filename)
    if image is None:
        raise Http404("no such firmware package")
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Disposition": f'attachment; filename="{image.filename}"',
        "ETag": f'"{image.sha256}"',
        "X-Firmware-Version": image.version,  # for devices and gateways that do not parse the image
        "Cache-Control": "private, max-age=3600",
    }
    requested = _requested_range(request, etag=headers["ETag"])
    span = None if requested is None else _satisfiable(requested, image.size)
    response: HttpResponseBase
    if request.method == "HEAD":
        response = HttpResponse(content_type="application/octet-stream")
        response["Content-Length"] = str(image.size)
    elif requested is None:
        response = FileResponse(image.file.open("rb"), content_type="application/octet-stream")
        response["Content-Length"] = str(image.size)
    elif span is None:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{image.size}"
    else:
        start, end = span
        response = StreamingHttpResponse(_slice(image, start, end), status=206, content_type="application/octet-stream")
        response["Content-Range"] = f"bytes {start}-{end}/{image.size}"
        response["Content-Length"] = str(end - start + 1)
    for name, value in headers.items():
        response[name] = value
    return response


# A position past every file (and far below the length at which Python refuses to convert digits to int).
_BEYOND_ANY_FILE = 10**19


def _position(digits: str) -> int:
    significant = digits.lstrip("0")
    return int(significant or "0") if len(significant) <= 19 else _BEYOND_ANY_FILE


def _requested_range(request: HttpRequest, *, etag: str) -> tuple[int | None, int | None] | None:
    """The one byte range a GET asks for, as (first, last): (first, None) for ``first-``, (None, length)
    for the last ``length`` bytes. None when the Range header is to be ignored (RFC 9110 §14.2): no header,
    not a GET, a unit other than bytes, more than one range, a malformed range, or an If-Range that does
    not name this image's ETag (we send no Last-Modified, so an If-Range date never matches)."""
    header = request.headers.get("Range")
    if not header or request.method != "GET":
        return None
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range.strip() != etag:
        return None
    unit, equals, ranges = header.partition("=")
    if not equals or unit.lower() != "bytes":
        return None
    specs = [spec.strip() for spec in ranges.split(",") if spec.strip()]
    if len(specs) != 1:
        return None  # several ranges would need multipart/byteranges: the whole image instead
    match = BYTE_RANGE_RE.fullmatch(specs[0])
    if match is None or not (match[1] or match[2]):
        return None
    first = _position(match[1]) if match[1] else None
    last = _position(match[2]) if match[2] else None
    if first is not None and last is not None and last < first:
        return None  # invalid, not unsatisfiable
    return first, last


def _satisfiable(requested: tuple[int | None, int | None], size: int) -> tuple[int, int] | None:
    """The bytes (start, end inclusive) of the image that a valid range selects; None if it selects none."""
    first, last = requested
    if first is None:  # the last N bytes
        length = last or 0
        return (max(0, size - length), size - 1) if length and size else None
    if first >= size:
        return None
    return first, size - 1 if last is None else min(last, size - 1)


def _slice(image: Firmware, start: int, end: int) -> Any:
    with image.file.open("rb") as handle:
        handle.seek(start)
        left = end - start + 1
        while left > 0:
            chunk = handle.read(min(65536, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk
