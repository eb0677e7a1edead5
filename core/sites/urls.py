"""The sites pages (pulled into ``core.urls``; global names: ``reverse("site", args=[1])``)."""

from django.urls import URLPattern, path

from core.sites import views

urlpatterns: list[URLPattern] = [
    path("sites/", views.sites, name="sites"),
    path("sites/<int:pk>/", views.site, name="site"),
    path("sites/<int:pk>/delete/", views.site_delete, name="site_delete"),
    path("sites/<int:pk>/rules/", views.site_rule_create, name="site_rule_create"),
    path("sites/<int:pk>/rules/preview/", views.site_rule_preview, name="site_rule_preview"),
    path("sites/<int:pk>/rules/<int:rule_pk>/delete/", views.site_rule_delete, name="site_rule_delete"),
]
