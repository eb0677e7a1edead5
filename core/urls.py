from django.contrib import admin
from django.urls import include, path

from core import views
from core.api import api, bridge_api
from telemetry import views as telemetry_views

urlpatterns = [
    path("", telemetry_views.dashboard, name="dashboard"),
    path("endpoints/<str:name>/", telemetry_views.endpoint, name="endpoint"),
    path("endpoints/<str:name>/commands/", telemetry_views.endpoint_command, name="endpoint_command"),
    path("operations/", telemetry_views.operations, name="operations"),
    path("operations/<int:pk>/cancel/", telemetry_views.operation_cancel, name="operation_cancel"),
    path("operations/<int:pk>/retry/", telemetry_views.operation_retry, name="operation_retry"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:pk>/revoke/", views.token_revoke_view, name="token_revoke"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("leshan_api/", bridge_api.urls),
    path("api/v1/", api.urls),
]
