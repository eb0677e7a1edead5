"""Telemetry's pages: the dashboard, a device and its commands, the events and the operations (pulled into
``core.urls`` with ``include()``; the names are global, without a namespace: ``reverse("dashboard")``)."""

from django.urls import URLPattern, path

from telemetry import tag_views, views

urlpatterns: list[URLPattern] = [
    path("", views.dashboard, name="dashboard"),
    path("endpoints/<str:name>/", views.endpoint, name="endpoint"),
    path("endpoints/<str:name>/commands/", views.endpoint_command, name="endpoint_command"),
    path("endpoints/<str:name>/tags/", tag_views.endpoint_tags, name="endpoint_tags"),
    path("bulk/", tag_views.endpoints_bulk, name="endpoints_bulk"),
    path("events/", views.events, name="events"),
    path("operations/", views.operations, name="operations"),
    path("operations/<int:pk>/cancel/", views.operation_cancel, name="operation_cancel"),
    path("operations/<int:pk>/retry/", views.operation_retry, name="operation_retry"),
]
