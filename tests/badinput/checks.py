"""What every answer to a client's mistake must look like, as a schemathesis check."""

from __future__ import annotations

import json
from typing import Any

import schemathesis


@schemathesis.check
def error_body_names_the_problem(ctx: Any, response: Any, case: Any) -> bool | None:
    """A 4xx is JSON with a non-empty ``detail`` string."""
    if not 400 <= response.status_code < 500:
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    assert content_type.startswith("application/json"), f"a {response.status_code} answered {content_type!r}"
    body = json.loads(response.content)
    assert isinstance(body, dict), f"a {response.status_code} answered {body!r}"
    assert isinstance(body.get("detail"), str), f"a {response.status_code} has no detail: {body!r}"
    assert body["detail"].strip(), f"a {response.status_code} has an empty detail"
    return True
