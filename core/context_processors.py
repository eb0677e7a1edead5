from typing import Any

from django.http import HttpRequest

from core.permissions import role_of
from core.roles import Role


def role(request: HttpRequest) -> dict[str, Any]:
    """``role``: the user's role name (viewer, operator, admin); ``can_operate``: operator or admin."""
    held = role_of(getattr(request, "user", None))
    return {"role": held.value if held else None, "can_operate": held is not None and held.rank >= Role.OPERATOR.rank}
