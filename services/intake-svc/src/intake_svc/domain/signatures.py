"""HMAC-SHA256 request signatures for web channels that share a secret with the sender.

Header: `X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}." + payload)>`.
Signing the timestamp with the payload lets the receiver refuse replays older than a tolerance.
Several `v1=` entries may be sent (while a secret is being rotated); one match is enough.
Unknown keys (future schemes) are ignored. Pure: the caller supplies the clock.
"""

import hashlib
import hmac
from enum import StrEnum

HEADER = "X-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300
_MAX_HEADER = 1024
_HEX_DIGEST_LEN = hashlib.sha256().digest_size * 2
_HEX = frozenset("0123456789abcdef")


class SignatureCheck(StrEnum):
    OK = "ok"
    MISSING = "missing"  # no header, or an empty one
    MALFORMED = "malformed"  # not `t=<int>,v1=<64 hex>`
    EXPIRED = "expired"  # signature right, but `t` further than the tolerance from now (either way)
    MISMATCH = "mismatch"  # no `v1` matches this payload and secret


def _key(secret: str | bytes) -> bytes:
    if not secret:
        raise ValueError("an empty secret signs nothing")
    return secret.encode() if isinstance(secret, str) else secret


def _digest(secret: str | bytes, payload: bytes, at: int) -> str:
    return hmac.new(_key(secret), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, payload: bytes, at: int) -> str:
    """The `X-Signature` value for `payload` sent at unix time `at`."""
    return f"t={at},{SCHEME}={_digest(secret, payload, at)}"


def _parse(header: str) -> tuple[int, list[str]] | None:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name:
            return None
        if name == "t":
            if timestamp is not None or not value.isascii() or not value.isdigit():
                return None
            timestamp = int(value)
        elif name == SCHEME:
            value = value.lower()
            if len(value) != _HEX_DIGEST_LEN or not set(value) <= _HEX:
                return None
            signatures.append(value)
    if timestamp is None or not signatures:
        return None
    return timestamp, signatures


def verify(secret: str | bytes, payload: bytes, header: str | None, now: int, tolerance_s: int = DEFAULT_TOLERANCE_S) -> SignatureCheck:
    """Check an `X-Signature` value against `payload`, with constant-time comparison.

    The signature is checked before the age, so `expired` means an authentic but stale (or
    replayed) request, and a forgery is always a `mismatch`.
    """
    if header is None or not header.strip():
        return SignatureCheck.MISSING
    if len(header) > _MAX_HEADER:
        return SignatureCheck.MALFORMED
    parsed = _parse(header)
    if parsed is None:
        return SignatureCheck.MALFORMED
    timestamp, signatures = parsed
    expected = _digest(secret, payload, timestamp)
    matched = False
    for candidate in signatures:  # compare every candidate: the time taken does not reveal which matched
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        return SignatureCheck.MISMATCH
    if abs(now - timestamp) > tolerance_s:
        return SignatureCheck.EXPIRED
    return SignatureCheck.OK
