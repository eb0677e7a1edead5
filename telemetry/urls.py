"""Telemetry's pages: the dashboard, a device and its commands, the events and the operations (pulled into
``core.urls`` with ``include()``; the names are global, without a namespace: ``reverse("dashboard")``)."""

from django.urls import URLPattern, path

from telemetry import tag_views, views
from telemetry.alarms import views as alarms
from telemetry.notifications import views as notifications
from telemetry.rollouts import views as rollouts

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
    path("rollouts/", rollouts.rollouts, name="rollouts"),
    path("rollouts/new/", rollouts.rollout_new, name="rollout_new"),
    path("rollouts/preview/", rollouts.rollout_preview, name="rollout_preview"),
    path("rollouts/<str:rollout_id>/", rollouts.rollout, name="rollout"),
    path("rollouts/<str:rollout_id>/<str:action>/", rollouts.rollout_action, name="rollout_action"),
    path("notifications/", notifications.channels, name="notification_channels"),
    path("notifications/new/", notifications.channel_new, name="notification_channel_new"),
    path("notifications/<int:pk>/", notifications.channel, name="notification_channel"),
    path("notifications/<int:pk>/test/", notifications.channel_test, name="notification_channel_test"),
    path("notifications/<int:pk>/delete/", notifications.channel_delete, name="notification_channel_delete"),
    path("alarms/", alarms.alarms, name="alarms"),
    path("alarms/<int:pk>/", alarms.alarm, name="alarm"),
    path("alarms/<int:pk>/<str:action>/", alarms.alarm_action, name="alarm_action"),
]
