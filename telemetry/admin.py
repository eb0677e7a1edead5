from typing import TypeVar

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from core.admin import ReadOnlyAdmin, RoleInline
from telemetry.models import EndpointOperation, Event, EventResource, Resource

TelemetryT = TypeVar("TelemetryT", bound=Model)


class TelemetryAdmin(ReadOnlyAdmin[TelemetryT]):
    """Telemetry is append-only: no add, change or delete here; counting millions of rows is skipped."""

    show_full_result_count = False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Resource)
class ResourceAdmin(TelemetryAdmin[Resource]):
    list_display = ("id", "endpoint", "path", "resource_type", "value", "measured_at", "received_at")
    list_select_related = ("endpoint", "resource_type")
    list_filter = ("resource_type__data_type",)
    search_fields = ("endpoint__name",)
    raw_id_fields = ("endpoint", "resource_type")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Resource]:
        return super().get_queryset(request).order_by("-id")


class EventResourceInline(RoleInline[EventResource, Event]):
    model = EventResource
    raw_id_fields = ("resource",)
    extra = 0

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Event)
class EventAdmin(TelemetryAdmin[Event]):
    list_display = ("id", "endpoint", "event_type", "description", "measured_at", "created_at")
    list_select_related = ("endpoint",)
    list_filter = ("event_type",)
    search_fields = ("endpoint__name",)
    raw_id_fields = ("endpoint",)
    exclude = ("resources",)
    inlines = [EventResourceInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Event]:
        return super().get_queryset(request).order_by("-id")


@admin.register(EventResource)
class EventResourceAdmin(TelemetryAdmin[EventResource]):
    list_display = ("id", "event", "resource")
    list_select_related = ("event", "resource")
    search_fields = ("event__endpoint__name",)
    raw_id_fields = ("event", "resource")


@admin.register(EndpointOperation)
class EndpointOperationAdmin(ReadOnlyAdmin[EndpointOperation]):
    list_display = ("id", "endpoint", "kind", "path", "status", "attempts", "last_attempt_at", "created_at")
    list_select_related = ("endpoint",)
    list_filter = ("status", "kind")
    search_fields = ("endpoint__name", "path")
    raw_id_fields = ("endpoint", "created_by")

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # cancel instead: the history of commands stays
