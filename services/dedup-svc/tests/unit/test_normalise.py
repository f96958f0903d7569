"""Normalised identifiers (DESIGN 4.5)."""

import pytest

from dedup_svc.domain.normalise import IdentityKey, email, identity_keys, national_id, phone

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "raw",
    [
        "050-1234567",
        "+972-50-123-4567",
        "972501234567",
        "0501234567",
        "00972501234567",
        "(050) 123 4567",
        "  050 123 4567  ",
        "+972 (0)50-123-4567",
    ],
)
def test_israeli_mobile_formats_are_one_number(raw: str) -> None:
    assert phone(raw) == "+972501234567"


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("03-1234567", "IL", "+97231234567"),
        ("+1 212 555 0100", "IL", "+12125550100"),
        ("2125550100", "US", "+12125550100"),
        ("052-7654321", "IL", "+972527654321"),
    ],
)
def test_other_numbers(raw: str, region: str, expected: str) -> None:
    assert phone(raw, region) == expected


@pytest.mark.parametrize("raw", ["", "   ", "abc", "טלפון", "12", "1234", "+972 1234", "050 123 45678901234", "--()--"])
def test_garbage_phone_is_none(raw: str) -> None:
    assert phone(raw) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("dana@example.com", "dana@example.com"),
        ("  Dana.Cohen@Example.CO.IL ", "dana.cohen@example.co.il"),
        ("\tDANA@EXAMPLE.COM\n", "dana@example.com"),
        ("", None),
        ("   ", None),
        ("no-at-sign", None),
        ("a@", None),
    ],
)
def test_email(raw: str, expected: str | None) -> None:
    assert email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("123456782", "123456782"),
        ("23456782", "023456782"),
        ("12345", "000012345"),
        ("1", "000000001"),
        ("12-345-678-2", "123456782"),
        (" 012345678 ", "012345678"),
        ("1234567890", None),
        ("", None),
        ("ת.ז.", None),
    ],
)
def test_national_id_digits_padded_to_nine(raw: str, expected: str | None) -> None:
    assert national_id(raw) == expected


def test_identity_keys_normalise_deduplicate_and_sort() -> None:
    keys = identity_keys(
        emails=["Dana@Example.com", " dana@example.com ", "not-an-email"],
        phones=["050-1234567", "+972501234567", "00972501234567", "garbage", "03-1234567"],
        nid="23456782",
    )
    assert keys == [
        IdentityKey("email", "dana@example.com"),
        IdentityKey("national_id", "023456782"),
        IdentityKey("phone", "+97231234567"),
        IdentityKey("phone", "+972501234567"),
    ]


@pytest.mark.parametrize(
    ("emails", "phones", "nid", "expected"),
    [
        ([], [], None, []),
        ([], [], "", []),
        ([], [], "אין", []),
        (["x"], ["abc"], None, []),
        ([], ["2125550100"], None, [IdentityKey("phone", "+12125550100")]),
    ],
)
def test_identity_keys_edge_cases(emails: list[str], phones: list[str], nid: str | None, expected: list[IdentityKey]) -> None:
    region = "US" if phones == ["2125550100"] else "IL"
    assert identity_keys(emails, phones, nid, region) == expected


def test_identity_keys_order_does_not_depend_on_input_order() -> None:
    a = identity_keys(["b@example.com", "a@example.com"], ["052-7654321", "050-1234567"], None)
    b = identity_keys(["a@example.com", "b@example.com"], ["050-1234567", "052-7654321"], None)
    assert a == b == sorted(a)
