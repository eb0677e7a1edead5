"""Schemas every API shares."""

from __future__ import annotations

from typing import Annotated, Any

from ninja import Schema
from pydantic import BaseModel, Field

INT64_MAX = 2**63 - 1

# The integers a client writes in the URLs of both APIs, other than those with tighter bounds of their own
# (limit, instance, buckets): bounded to what the database's 64-bit integers hold, so that a number past
# them (offset=9223372036854775808) is a 422 naming the parameter instead of a query that fails (a 500).
# tests/badinput/test_integer_parameters.py holds every integer parameter of both APIs to a bound.
Offset = Annotated[int, Field(ge=0, le=INT64_MAX, description="how many rows to skip")]
RowId = Annotated[int, Field(ge=1, le=INT64_MAX)]


class ErrorOut(Schema):
    detail: str
    path: str | None = None


# The errors every API route may answer (core.api maps them): a malformed body or query (400), no or a bad
# token (401), a role too low (403), nothing by that id (404), a value refused (422); writes also 409.
READ_ERRORS: dict[int, type[Schema]] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
WRITE_ERRORS: dict[int, type[Schema]] = {**READ_ERRORS, 409: ErrorOut}


def json_body(schema: type[BaseModel], description: str = "") -> dict[str, Any]:
    """``openapi_extra`` documenting a JSON request body that the handler reads itself (core.http)."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": schema.model_json_schema()}},
        }
    }
