"""The provisioning pages (pulled into ``core.urls``)."""

from django.urls import URLPattern, path

from telemetry.provisioning import views

urlpatterns: list[URLPattern] = [
    path("provisioning/", views.overview, name="provisioning"),
    path("provisioning/sync/", views.sync, name="provisioning_sync"),
    path("provisioning/import/", views.import_upload, name="provisioning_import"),
    path("provisioning/imports/<int:pk>/", views.batch, name="provisioning_batch"),
    path("provisioning/imports/<int:pk>/export/", views.batch_export, name="provisioning_batch_export"),
    path("provisioning/devices/<str:name>/", views.device, name="provisioning_device"),
]
