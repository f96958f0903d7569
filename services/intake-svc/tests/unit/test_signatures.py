"""HMAC-SHA256 `X-Signature` for web channels: sign and verify."""

import hashlib
import hmac

import pytest

from intake_svc.domain.signatures import SignatureCheck, sign, verify

pytestmark = pytest.mark.unit

SECRET = "whsec_דף-נחיתה"
PAYLOAD = '{"name": "דנה כהן", "phone": "050-1234567"}'.encode()
AT = 1_760_000_000
GOOD = sign(SECRET, PAYLOAD, AT)
DIGEST = GOOD.split("v1=")[1]
OTHER = hmac.new(b"another secret", f"{AT}.".encode() + PAYLOAD, hashlib.sha256).hexdigest()


def test_the_header_format_is_documented() -> None:
    expected = hmac.new(SECRET.encode(), f"{AT}.".encode() + PAYLOAD, hashlib.sha256).hexdigest()
    assert GOOD == f"t={AT},v1={expected}"
    assert sign(SECRET.encode(), PAYLOAD, AT) == GOOD  # a str secret is its UTF-8 bytes


def test_a_known_vector() -> None:
    assert sign("secret", b"hello", 0) == "t=0,v1=" + hmac.new(b"secret", b"0.hello", hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("header", "now", "expected"),
    [
        (GOOD, AT, SignatureCheck.OK),
        (GOOD, AT + 300, SignatureCheck.OK),  # the tolerance is inclusive
        (GOOD, AT - 300, SignatureCheck.OK),  # a sender's clock slightly ahead
        (GOOD, AT + 301, SignatureCheck.EXPIRED),
        (GOOD, AT - 301, SignatureCheck.EXPIRED),
        (f" t={AT} , v1={DIGEST} ", AT, SignatureCheck.OK),  # spaces around parts
        (f"v1={DIGEST},t={AT}", AT, SignatureCheck.OK),  # any order
        (f"t={AT},v1={DIGEST.upper()}", AT, SignatureCheck.OK),  # hex is case-insensitive
        (f"t={AT},v1={OTHER},v1={DIGEST}", AT, SignatureCheck.OK),  # during a secret rotation
        (f"t={AT},v0=legacy,v1={DIGEST}", AT, SignatureCheck.OK),  # unknown schemes are ignored
        (None, AT, SignatureCheck.MISSING),
        ("", AT, SignatureCheck.MISSING),
        ("   ", AT, SignatureCheck.MISSING),
        (DIGEST, AT, SignatureCheck.MALFORMED),  # a bare digest
        (f"t={AT}", AT, SignatureCheck.MALFORMED),
        (f"v1={DIGEST}", AT, SignatureCheck.MALFORMED),
        (f"t=,v1={DIGEST}", AT, SignatureCheck.MALFORMED),
        (f"t=soon,v1={DIGEST}", AT, SignatureCheck.MALFORMED),
        (f"t=-{AT},v1={DIGEST}", AT, SignatureCheck.MALFORMED),
        (f"t={AT}.5,v1={DIGEST}", AT, SignatureCheck.MALFORMED),
        (f"t=١٧٦٠٠٠٠٠٠٠,v1={DIGEST}", AT, SignatureCheck.MALFORMED),  # non-ASCII digits
        (f"t={AT},t={AT},v1={DIGEST}", AT, SignatureCheck.MALFORMED),
        (f"t={AT},v1={DIGEST[:-1]}", AT, SignatureCheck.MALFORMED),  # too short for SHA-256
        (f"t={AT},v1={DIGEST}00", AT, SignatureCheck.MALFORMED),
        (f"t={AT},v1={'g' * 64}", AT, SignatureCheck.MALFORMED),
        (f"t={AT};v1={DIGEST}", AT, SignatureCheck.MALFORMED),
        (f"t={AT},,v1={DIGEST}", AT, SignatureCheck.MALFORMED),
        (f"t={AT},v1={DIGEST}," + "x=y," * 300, AT, SignatureCheck.MALFORMED),  # oversized header
        (f"t={AT},v1={OTHER}", AT, SignatureCheck.MISMATCH),  # another secret
        (f"t={AT + 1},v1={DIGEST}", AT, SignatureCheck.MISMATCH),  # the timestamp is signed too
        (f"t={AT},v1={'0' * 64}", AT, SignatureCheck.MISMATCH),
        (f"t={AT - 10_000},v1={OTHER}", AT, SignatureCheck.MISMATCH),  # a forgery is a mismatch, whatever its age
    ],
)
def test_verify(header: str | None, now: int, expected: SignatureCheck) -> None:
    assert verify(SECRET, PAYLOAD, header, now) is expected


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (PAYLOAD, SignatureCheck.OK),
        (PAYLOAD + b" ", SignatureCheck.MISMATCH),
        (PAYLOAD.replace(b"050", b"052"), SignatureCheck.MISMATCH),
        (b"", SignatureCheck.MISMATCH),
    ],
)
def test_any_change_to_the_payload_is_a_mismatch(payload: bytes, expected: SignatureCheck) -> None:
    assert verify(SECRET, payload, GOOD, AT) is expected


@pytest.mark.parametrize(
    ("tolerance_s", "now", "expected"),
    [
        (0, AT, SignatureCheck.OK),
        (0, AT + 1, SignatureCheck.EXPIRED),
        (3600, AT + 3600, SignatureCheck.OK),
        (3600, AT + 3601, SignatureCheck.EXPIRED),
    ],
)
def test_the_tolerance_is_configurable(tolerance_s: int, now: int, expected: SignatureCheck) -> None:
    assert verify(SECRET, PAYLOAD, GOOD, now, tolerance_s=tolerance_s) is expected


def test_an_empty_payload_can_be_signed() -> None:
    assert verify(SECRET, b"", sign(SECRET, b"", AT), AT) is SignatureCheck.OK


@pytest.mark.parametrize("secret", ["", b""])
def test_an_empty_secret_is_refused(secret: str | bytes) -> None:
    with pytest.raises(ValueError):
        sign(secret, PAYLOAD, AT)
    with pytest.raises(ValueError):
        verify(secret, PAYLOAD, GOOD, AT)


def test_results_are_plain_strings() -> None:
    assert [c.value for c in SignatureCheck] == ["ok", "missing", "malformed", "expired", "mismatch"]
    assert SignatureCheck.EXPIRED == "expired"
