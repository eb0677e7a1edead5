"""The one rule for an endpoint name, for every way a device comes to Fieldhub (bridge posts, Leshan's
registrations, resynchronisation)."""

from __future__ import annotations

import unicodedata

from core.errors import FieldhubError
from core.lwm2m import types as lwm2m

ENDPOINT_NAME_MAX = 255


class IngestError(FieldhubError):
    """A post that cannot be stored; nothing of it was."""


def endpoint_name_check(name: object) -> str:
    """An LwM2M endpoint name as Fieldhub stores it: 1 to 255 visible characters (letters of any script,
    digits, punctuation, inner spaces), no slash, not only dots.

    Devices are addressed by name in URLs (/endpoints/<name>/, Leshan's /api/clients/<name>), where ``.``
    and ``..`` are path segments that clients resolve away; and a name must not look like another one:
    no invisible or direction-changing characters (Unicode format characters: bidi controls U+202A..U+202E
    and U+2066..U+2069, zero-width U+200B..U+200D, U+FEFF, soft hyphen…), no spaces other than the ordinary
    one, none at either end."""
    if not isinstance(name, str) or not name:
        raise IngestError("the endpoint name (ep) must be a non-empty string", path="ep")
    if len(name) > ENDPOINT_NAME_MAX:
        raise IngestError(f"the endpoint name (ep) is longer than {ENDPOINT_NAME_MAX} characters", path="ep")
    if any(unicodedata.category(char) in ("Cc", "Zl", "Zp") for char in name):
        raise IngestError("the endpoint name (ep) contains control characters", path="ep")
    if "/" in name:
        raise IngestError('the endpoint name (ep) contains "/"', path="ep")
    if not name.strip("."):
        raise IngestError("the endpoint name (ep) consists only of dots", path="ep")
    for char in name:
        _check_character(char)
    if name != name.strip(" "):
        raise IngestError("the endpoint name (ep) begins or ends with a space", path="ep")
    try:
        lwm2m.check_text(name, "the endpoint name (ep)")
    except ValueError as exc:
        raise IngestError(str(exc), path="ep") from None
    return name


def _check_character(char: str) -> None:
    category = unicodedata.category(char)
    if category == "Cf":
        raise IngestError(
            f"the endpoint name (ep) contains an invisible or direction-changing character "
            f"(U+{ord(char):04X} {unicodedata.name(char, 'format character')})",
            path="ep",
        )
    if category == "Zs" and char != " ":
        raise IngestError(f"the endpoint name (ep) contains a space other than U+0020 (U+{ord(char):04X})", path="ep")
