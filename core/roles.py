"""Roles are Django groups: viewer (read), operator (viewer + commands and firmware updates),
admin (operator + firmware upload, users, tokens, resource types). Superusers are admins."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)
