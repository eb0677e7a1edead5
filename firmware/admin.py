from django.contrib import admin
from django.http import HttpRequest

from core.admin import ReadOnlyAdmin, RoleInline
from firmware.models import Campaign, CampaignDevice, Firmware, FirmwareUpdate


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


class CampaignDeviceInline(RoleInline[CampaignDevice, Campaign]):
    model = CampaignDevice
    raw_id_fields = ("endpoint", "update")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Campaign)
class CampaignAdmin(ReadOnlyAdmin[Campaign]):
    list_display = ("name", "firmware", "status", "current_wave", "max_failure_rate", "created_at", "finished_at")
    list_filter = ("status",)
    search_fields = ("name", "firmware__version")
    inlines = [CampaignDeviceInline]
