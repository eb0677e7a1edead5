"""The firmware pages, the Package URI devices download images from, and the firmware section of a device's
page; pulled into ``core.urls`` with ``include()`` (the names are global: ``{% url 'campaign' %}``)."""

from django.urls import path

from firmware import views

urlpatterns = [
    path("firmware/", views.firmware, name="firmware"),
    path("firmware/<int:pk>/delete/", views.firmware_delete, name="firmware_delete"),
    path("firmware/package/<str:token>/<str:filename>", views.package, name="firmware_package"),
    path("firmware/updates/<int:pk>/cancel/", views.update_cancel, name="firmware_update_cancel"),
    path("firmware/campaigns/new/", views.campaign_new, name="campaign_new"),
    path("firmware/campaigns/<int:pk>/", views.campaign, name="campaign"),
    path("firmware/campaigns/<int:pk>/<str:action>/", views.campaign_action, name="campaign_action"),
    path("endpoints/<str:name>/firmware/", views.device_section, name="firmware_device_section"),
    path("endpoints/<str:name>/firmware/update/", views.update_start, name="firmware_update_start"),
]
