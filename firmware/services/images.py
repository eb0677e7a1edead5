"""Firmware images: upload, delete, and the Package URI devices download them from."""

from __future__ import annotations

import hashlib
import re

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.urls import reverse

from core.errors import Conflict, FieldhubError
from core.permissions import Principal, author_of, require
from core.roles import Role
from firmware import announce
from firmware.models import Firmware

VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+~-]{0,63}")


def firmware_upload(*, actor: Principal, version: str, upload: UploadedFile | None) -> Firmware:
    """Store an image under MEDIA_ROOT with its size and SHA-256 (admin)."""
    require(actor, Role.ADMIN)
    version = (version or "").strip()
    if not VERSION_RE.fullmatch(version):
        raise FieldhubError(
            "a version is 1 to 64 letters, digits and . _ + ~ - (starting with a letter or digit)", path="version"
        )
    if upload is None or not upload.size:
        raise FieldhubError("the firmware file is empty", path="file")
    if upload.size > settings.FIRMWARE_MAX_BYTES:
        raise FieldhubError(
            f"the file has {upload.size} bytes; the limit is {settings.FIRMWARE_MAX_BYTES}", path="file", status=413
        )
    if Firmware.objects.filter(version=version).exists():
        raise Conflict(f"firmware {version} exists already", path="version")
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    filename = re.sub(r"[^A-Za-z0-9._-]+", "_", upload.name or "firmware.bin").strip("._") or "firmware.bin"
    try:
        with transaction.atomic():
            firmware = Firmware(
                version=version,
                filename=filename[:255],
                size=upload.size,
                sha256=digest.hexdigest(),
                created_by=author_of(actor),
            )
            firmware.file.save(f"{digest.hexdigest()[:16]}-{filename}"[:200], upload, save=False)
            firmware.save()
    except IntegrityError:
        raise Conflict(f"firmware {version} exists already", path="version") from None
    announce.images_changed()
    return firmware


def firmware_delete(*, actor: Principal, firmware: Firmware) -> None:
    """Delete an image no update or campaign refers to (admin); its file goes too."""
    require(actor, Role.ADMIN)
    if firmware.updates.exists() or firmware.rollouts.exists():
        raise Conflict(f"firmware {firmware.version} is used by updates or campaigns and stays", path="firmware")
    stored = firmware.file.name
    with transaction.atomic():
        firmware.delete()
        transaction.on_commit(lambda: firmware.file.storage.delete(stored))
    announce.images_changed()


def package_uri(firmware: Firmware) -> str:
    """What a device downloads the image from (5/0/1): FIRMWARE_BASE_URL, or the path alone."""
    path = reverse("firmware_package", args=[firmware.download_token, firmware.filename])
    return f"{settings.FIRMWARE_BASE_URL}{path}"
