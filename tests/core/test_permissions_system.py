"""SYSTEM: the one principal that reads and writes without a user."""

from __future__ import annotations

import pytest

from core.permissions import SYSTEM, has_role, may_manage_account, require, role_of
from core.roles import Role
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def test_system_holds_every_role() -> None:
    assert role_of(SYSTEM) is Role.ADMIN
    for role in Role:
        require(SYSTEM, role)
        assert has_role(SYSTEM, role)


def test_system_manages_no_account() -> None:
    assert not may_manage_account(SYSTEM, make_user(Role.VIEWER))
