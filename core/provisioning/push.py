"""What the dispatcher sends to Leshan's security store for a device, read and unsealed at the moment it is
sent (the queue holds no secret), and the sealing of a device's key."""

from __future__ import annotations

from typing import Any

from core.provisioning import crypto
from core.provisioning.credentials import security_info
from core.provisioning.models import Credential


def sealing_context(endpoint_id: int) -> str:
    """The associated data a device's sealed key is bound to."""
    return f"fieldhub-credential:{endpoint_id}"


def key_seal(*, endpoint_id: int, key: bytes) -> bytes:
    return crypto.seal(key, context=sealing_context(endpoint_id))


def key_unseal(credential: Credential) -> bytes | None:
    if credential.sealed_key is None:
        return None
    return crypto.unseal(bytes(credential.sealed_key), context=sealing_context(credential.endpoint_id))


def security_info_of(*, endpoint_id: int) -> dict[str, Any] | None:
    """The SecurityInfo of the device's credentials now; None when it has none (or mode ``none``)."""
    credential = Credential.objects.select_related("endpoint").filter(endpoint_id=endpoint_id).first()
    if credential is None or credential.mode == Credential.Mode.NONE:
        return None
    return security_info(
        endpoint=credential.endpoint.name,
        mode=credential.mode,
        identity=credential.identity,
        key=key_unseal(credential) if credential.mode == Credential.Mode.PSK else None,
        public_key=credential.public_key,
    )
