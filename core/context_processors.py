from typing import Any

from django.http import HttpRequest

from core.permissions import role_of


def role(request: HttpRequest) -> dict[str, Any]:
    """``role``: the user's role name (viewer, operator, admin) for every template."""
    held = role_of(getattr(request, "user", None))
    return {"role": held.value if held else None}
