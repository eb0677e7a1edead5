from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from core.permissions import highest_role, role_of, scope_of
from core.roles import Role


def role(request: HttpRequest) -> dict[str, Any]:
    """What the pages offer the user, each looked up only if a template asks:

    - ``role``: the highest role they hold anywhere (viewer, operator, admin), ``role_where``: "" when it is
      global, else "site" (held on some sites only);
    - ``can_operate``: operator on every device they see, so a fleet page's controls never answer 403 (an
      operator of some of their sites only acts from each device's page, which sets its own);
    - ``can_admin``: a global admin (firmware images, resource types, sites, the Django admin);
    - ``can_manage_users``: an admin globally or of some site (the Users page)."""
    user = getattr(request, "user", None)

    def operate_everything() -> bool:
        operate = scope_of(user, Role.OPERATOR)
        if operate.everywhere:
            return True
        view = scope_of(user, Role.VIEWER)
        return bool(operate) and not view.everywhere and operate.site_ids >= view.site_ids

    def where() -> str:
        held, global_role = highest_role(user), role_of(user)
        return "" if held is None or held == global_role else "site"

    return {
        "role": SimpleLazyObject(lambda: held.value if (held := highest_role(user)) else ""),
        "role_where": SimpleLazyObject(where),
        "can_operate": SimpleLazyObject(operate_everything),
        "can_admin": SimpleLazyObject(lambda: role_of(user) == Role.ADMIN),
        "can_manage_users": SimpleLazyObject(lambda: bool(scope_of(user, Role.ADMIN))),
    }
