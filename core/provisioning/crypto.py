"""Sealing the PSK keys at rest: AES-256-GCM under a key derived from the ``CREDENTIALS_KEY`` setting by
HKDF-SHA256. A sealed value is ``version (1 byte) | nonce (12) | ciphertext and tag``; its associated data
binds it to its device, so that a sealed key copied onto another row does not open."""

from __future__ import annotations

import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from core.errors import Unavailable

VERSION = b"\x01"
NONCE_BYTES = 12


class CredentialsKeyMissing(Unavailable):
    """No CREDENTIALS_KEY: credentials can be neither stored nor read (503)."""

    def __init__(self) -> None:
        super().__init__("CREDENTIALS_KEY is not set: device credentials can be neither stored nor read")


class CredentialsUnreadable(Unavailable):
    """A sealed value that does not open under the configured key (the key changed, or the row was altered)."""


@lru_cache(maxsize=4)
def _derived(secret: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"fieldhub", info=b"fieldhub credentials v1").derive(
        secret.encode()
    )
    return AESGCM(key)


def _cipher() -> AESGCM:
    secret = settings.CREDENTIALS_KEY
    if not secret:
        raise CredentialsKeyMissing()
    return _derived(secret)


def key_available() -> bool:
    return bool(settings.CREDENTIALS_KEY)


def seal(plaintext: bytes, *, context: str) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return VERSION + nonce + _cipher().encrypt(nonce, plaintext, context.encode())


def unseal(sealed: bytes, *, context: str) -> bytes:
    cipher = _cipher()
    sealed = bytes(sealed)
    if sealed[:1] != VERSION or len(sealed) < 1 + NONCE_BYTES + 16:
        raise CredentialsUnreadable("a stored key is not in a known sealed format")
    nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
    try:
        return cipher.decrypt(nonce, body, context.encode())
    except InvalidTag:
        raise CredentialsUnreadable("a stored key does not open with CREDENTIALS_KEY (was the key changed?)") from None
