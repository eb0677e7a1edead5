from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from core import views
from core.api import api, bridge_api
from core.monitoring import views as monitoring

urlpatterns = [
    path("", include("telemetry.urls")),
    path("", include("firmware.urls")),
    path("", include("core.sites.urls")),
    path("", include("telemetry.provisioning.urls")),
    path("users/", views.users, name="users"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:pk>/revoke/", views.token_revoke_view, name="token_revoke"),
    # Django's auth URLs without the password reset by e-mail (Fieldhub sends no mail; an admin resets a
    # password on /users/); the login is throttled (core.services.login_authenticate).
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password_change/", views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", monitoring.readyz, name="readyz"),
    path("metrics", monitoring.metrics_view, name="metrics"),
    # Browsers ask for /favicon.ico where a page names no icon (an error page of a proxy, a file download).
    path(
        "favicon.ico",
        RedirectView.as_view(
            url=f"{settings.STATIC_URL}core/favicon.svg", permanent=True, http_method_names=["get", "head"]
        ),
    ),
    path("admin/", admin.site.urls),
    path("leshan_api/", bridge_api.urls),
    path("api/v1/", api.urls),
]

handler404 = views.not_found
