from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from core.errors import Conflict
from core.models import ApiToken, Endpoint, ResourceType, SiteRole
from core.permissions import has_role
from core.roles import Role
from core.services import keep_an_administrator, resource_type_save, token_create, token_revoke

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldGroups  # django-stubs' name for what get_fields returns

ModelT = TypeVar("ModelT", bound=Model)
ParentT = TypeVar("ParentT", bound=Model)


class AdminRole:
    """Who may use a Fieldhub model in the admin: users with the admin role (core.permissions, the one place
    roles are checked), not Django's per-model permissions, which Fieldhub does not assign. What a model
    allows on top (read-only, no adding) its ModelAdmin narrows further."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return has_role(request.user, Role.ADMIN)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return has_role(request.user, Role.ADMIN)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return has_role(request.user, Role.ADMIN)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return has_role(request.user, Role.ADMIN)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return has_role(request.user, Role.ADMIN)


class RoleAdmin(AdminRole, admin.ModelAdmin[ModelT]):
    pass


class RoleInline(AdminRole, admin.TabularInline[ModelT, ParentT]):
    pass


class ReadOnlyAdmin(RoleAdmin[ModelT]):
    """Rows written only by Fieldhub's services: visible here, never added or edited by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Endpoint)
class EndpointAdmin(ReadOnlyAdmin[Endpoint]):
    list_display = ("name", "status", "registration_state", "last_seen_at", "registered_at", "lifetime", "binding")
    list_filter = ("online", "sleeping", "registration_state", "binding")
    search_fields = ("name",)
    date_hierarchy = "last_seen_at"


@admin.register(ResourceType)
class ResourceTypeAdmin(RoleAdmin[ResourceType]):
    list_display = ("object_id", "resource_id", "slug", "object_name", "name", "data_type", "operations", "units")
    list_filter = ("data_type", "operations", "defined", "multiple")
    search_fields = ("slug", "name", "object_name", "=object_id")
    readonly_fields = ("object_id", "resource_id", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # types come from the registry or from payloads

    def save_model(self, request: HttpRequest, obj: ResourceType, form: Any, change: bool) -> None:
        resource_type_save(resource_type=obj)


@admin.register(ApiToken)
class ApiTokenAdmin(RoleAdmin[ApiToken]):
    """Admins create tokens for any user (the secret is shown once, in the confirmation message) and revoke
    them; the hash is never shown."""

    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "user__username", "prefix")
    raw_id_fields = ("user",)
    actions = ["revoke"]

    def get_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> _FieldGroups:
        return (
            ["user", "name"] if obj is None else ["user", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
        )

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> list[str]:
        return [] if obj is None else ["user", "name", "prefix", "created_at", "last_used_at", "revoked_at"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        token, secret = token_create(actor=request.user, user=obj.user, name=obj.name)
        obj.pk = token.pk
        obj.__dict__.update(token.__dict__)
        self.message_user(
            request, f"Token for {token.user}: {secret} — copy it now, it is not stored and will not be shown again."
        )

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            token_revoke(actor=request.user, token=token)
        self.message_user(request, f"{queryset.count()} token(s) revoked.")


class FieldhubUserChangeForm(UserChangeForm[User]):
    """Django's user form, refusing to leave no active administrator, as /users/ does (the same rule)."""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        user = self.instance
        groups = cleaned.get("groups", user.groups.all())
        stays = cleaned.get("is_active", user.is_active) and (
            cleaned.get("is_superuser", user.is_superuser) or any(g.name == Role.ADMIN.value for g in groups)
        )
        if user.pk is not None and not stays:
            try:
                keep_an_administrator(user, "deactivated or demoted")
            except Conflict as exc:
                raise ValidationError(exc.detail) from None
        return cleaned


class SiteRoleInline(RoleInline[SiteRole, User]):
    """A user's roles per site, shown with the user; they are given and taken on /users/ (or by the sites
    API), whose service re-checks the user's open sockets at once."""

    model = SiteRole
    fields = ("site", "role", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class FieldhubUserAdmin(UserAdmin[User]):
    """Django's user admin, with the last-administrator rule on changes and deletion (users are deactivated
    on /users/ rather than deleted: there is no bulk deletion), and the user's site roles (read-only)."""

    form = FieldhubUserChangeForm
    inlines = (SiteRoleInline,)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None:
            try:
                with transaction.atomic():  # the rule locks the administrators' rows
                    keep_an_administrator(obj, "deleted")
            except Conflict:
                return False
        return super().has_delete_permission(request, obj)


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), FieldhubUserAdmin)
