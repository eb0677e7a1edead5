from django.contrib import admin

from core.admin import ReadOnlyAdmin
from firmware.models import Firmware, FirmwareUpdate


@admin.register(Firmware)
class FirmwareAdmin(ReadOnlyAdmin[Firmware]):
    list_display = ("version", "filename", "size", "sha256", "created_at")
    search_fields = ("version", "filename", "sha256")
    date_hierarchy = "created_at"


@admin.register(FirmwareUpdate)
class FirmwareUpdateAdmin(ReadOnlyAdmin[FirmwareUpdate]):
    list_display = ("id", "endpoint", "firmware", "status", "state", "result", "created_at", "finished_at")
    list_select_related = ("endpoint", "firmware")
    list_filter = ("status", "result", "firmware")
    search_fields = ("endpoint__name", "firmware__version")
    raw_id_fields = ("endpoint", "firmware", "uri_operation", "execute_operation", "created_by")
