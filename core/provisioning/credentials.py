"""What credentials a client may give, checked once for the API, the pages and the CSV import: each problem
a ``FieldhubError`` naming its field; and the SecurityInfo Leshan is sent for them (contract §7)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.errors import FieldhubError

MODES = ("psk", "rpk", "x509", "none")
IDENTITY_MAX = 128
KEY_BYTES_MIN, KEY_BYTES_MAX = 16, 64
GENERATE = {"generate": 128, "generate:128": 128, "generate:256": 256}
CERTIFICATE_MAX = 16_384
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")
_PRINTABLE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")


@dataclass(frozen=True)
class Spec:
    """Checked credentials. ``key`` is the PSK key itself (secret): it lives in memory only until sealed."""

    mode: str
    identity: str = ""
    key: bytes | None = None
    generated: bool = False
    public_key: str = ""  # RPK: DER SubjectPublicKeyInfo, hex
    certificate: str = ""  # X.509: PEM, or "" for the mode only

    def __repr__(self) -> str:  # never the key, wherever a Spec is printed
        return f"Spec(mode={self.mode!r}, identity={self.identity!r})"


def endpoint_name_check(name: str) -> None:
    if "/" in name:
        # Leshan's DELETE /api/security/clients/{endpoint} splits its path on "/" (decoded).
        raise FieldhubError(
            "an endpoint name with '/' cannot be provisioned: Leshan could not remove it", path="endpoint"
        )


def credential_spec(
    *,
    endpoint: str,
    mode: object,
    identity: object = "",
    key: object = "",
    public_key: object = "",
    certificate: object = "",
) -> Spec:
    """Check what was given for ``mode``; fields of another mode must be empty."""
    mode_text = str(mode or "").strip().lower()
    if mode_text not in MODES:
        raise FieldhubError(f"mode must be one of {', '.join(MODES)}", path="mode")
    given = {
        "identity": _text(identity, "identity"),
        "key": _text(key, "key"),
        "public_key": _text(public_key, "public_key"),
        "certificate": _text(certificate, "certificate"),
    }
    allowed = {"psk": {"identity", "key"}, "rpk": {"public_key"}, "x509": {"certificate"}, "none": set()}[mode_text]
    for field, value in given.items():
        if value and field not in allowed:
            raise FieldhubError(f"{field} is not used with mode {mode_text}: leave it empty", path=field)
    if mode_text != "none":
        endpoint_name_check(endpoint)
    if mode_text == "psk":
        return _psk(endpoint, given["identity"], given["key"])
    if mode_text == "rpk":
        return Spec("rpk", public_key=_rpk(given["public_key"]))
    if mode_text == "x509":
        return Spec("x509", certificate=_certificate(endpoint, given["certificate"]))
    return Spec("none")


def _text(value: object, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FieldhubError("must be a text", path=field)
    return value.strip()


def _psk(endpoint: str, identity: str, key: str) -> Spec:
    identity = identity or endpoint
    if len(identity) > IDENTITY_MAX:
        raise FieldhubError(f"a PSK identity is at most {IDENTITY_MAX} characters", path="identity")
    if not _PRINTABLE.fullmatch(identity):
        raise FieldhubError("a PSK identity is printable ASCII, not starting or ending with a space", path="identity")
    if not key:
        raise FieldhubError('a PSK key is needed: hex, or "generate" (128 bits) or "generate:256"', path="key")
    bits = GENERATE.get(key.lower())
    if bits is not None:
        return Spec("psk", identity=identity, key=secrets.token_bytes(bits // 8), generated=True)
    if not _HEX.fullmatch(key):
        raise FieldhubError('a PSK key is hex (an even number of 0-9, a-f), or "generate"', path="key")
    raw = bytes.fromhex(key)
    if not KEY_BYTES_MIN <= len(raw) <= KEY_BYTES_MAX:
        raise FieldhubError(
            f"a PSK key is {KEY_BYTES_MIN} to {KEY_BYTES_MAX} bytes ({len(raw)} given): at least 128 bits", path="key"
        )
    return Spec("psk", identity=identity, key=raw)


def _rpk(text: str) -> str:
    if not text:
        raise FieldhubError(
            "an RPK needs the device's EC public key (SubjectPublicKeyInfo, hex or PEM)", path="public_key"
        )
    try:
        if text.startswith("-----BEGIN"):
            loaded = serialization.load_pem_public_key(text.encode())
        elif _HEX.fullmatch(text):
            loaded = serialization.load_der_public_key(bytes.fromhex(text))
        else:
            raise ValueError("neither hex nor PEM")
    except (ValueError, TypeError):
        raise FieldhubError("not a public key (SubjectPublicKeyInfo, in hex or PEM)", path="public_key") from None
    if not isinstance(loaded, ec.EllipticCurvePublicKey):
        raise FieldhubError("Leshan takes EC public keys only (e.g. P-256)", path="public_key")
    der = loaded.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return der.hex()


def _certificate(endpoint: str, text: str) -> str:
    if not text:
        return ""  # the mode only: Leshan accepts any certificate its trust store trusts whose CN is the endpoint
    if len(text) > CERTIFICATE_MAX:
        raise FieldhubError(f"a certificate is at most {CERTIFICATE_MAX} characters of PEM", path="certificate")
    try:
        certificate = x509.load_pem_x509_certificate(text.encode())
    except ValueError:
        raise FieldhubError("not a PEM certificate (-----BEGIN CERTIFICATE-----)", path="certificate") from None
    names = [attribute.value for attribute in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if names != [endpoint]:
        shown = ", ".join(str(name) for name in names) or "none"
        raise FieldhubError(
            f"the certificate's CN must be the endpoint {endpoint!r} (it is {shown})", path="certificate"
        )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def certificate_subject(pem: str) -> str:
    """The CN and expiry of a stored certificate, in words (public facts)."""
    certificate = x509.load_pem_x509_certificate(pem.encode())
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(names[0].value) if names else "?"
    return f"CN={cn}, valid until {certificate.not_valid_after_utc:%Y-%m-%d}"


def security_info(
    *, endpoint: str, mode: str, identity: str, key: bytes | None, public_key: str
) -> dict[str, Any] | None:
    """The SecurityInfo Leshan is sent (§7); None for mode ``none`` (Leshan holds no entry)."""
    if mode == "psk":
        assert key is not None
        return {"endpoint": endpoint, "tls": {"mode": "psk", "details": {"identity": identity, "key": key.hex()}}}
    if mode == "rpk":
        return {"endpoint": endpoint, "tls": {"mode": "rpk", "details": {"key": public_key}}}
    if mode == "x509":
        return {"endpoint": endpoint, "tls": {"mode": "x509"}}
    return None
