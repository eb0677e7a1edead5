from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from core.models import Endpoint, ResourceType
from core.services import resource_type_save


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by Fieldhub's services: visible here, never added or edited by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Endpoint)
class EndpointAdmin(ReadOnlyAdmin):
    list_display = ("name", "status", "registration_state", "last_seen_at", "registered_at", "lifetime", "binding")
    list_filter = ("online", "sleeping", "registration_state", "binding")
    search_fields = ("name",)
    date_hierarchy = "last_seen_at"


@admin.register(ResourceType)
class ResourceTypeAdmin(admin.ModelAdmin):
    list_display = ("object_id", "resource_id", "slug", "object_name", "name", "data_type", "operations", "units")
    list_filter = ("data_type", "operations", "defined", "multiple")
    search_fields = ("slug", "name", "object_name", "=object_id")
    readonly_fields = ("object_id", "resource_id", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # types come from the registry or from payloads

    def save_model(self, request: HttpRequest, obj: ResourceType, form: Any, change: bool) -> None:
        resource_type_save(resource_type=obj)
