"""Schemas every API shares."""

from __future__ import annotations

from typing import Any

from ninja import Schema
from pydantic import BaseModel


class ErrorOut(Schema):
    detail: str
    path: str | None = None


def json_body(schema: type[BaseModel], description: str = "") -> dict[str, Any]:
    """``openapi_extra`` documenting a JSON request body that the handler reads itself (core.http)."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": schema.model_json_schema()}},
        }
    }
