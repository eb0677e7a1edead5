from django.contrib import admin
from django.urls import path

from core import views
from core.api import bridge_api

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("leshan_api/", bridge_api.urls),
]
