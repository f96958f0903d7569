"""Blocking keys (DESIGN 4.5): fuzzy duplicates share a key, common surnames make no huge block."""

import random
from collections import Counter
from dataclasses import replace

import pytest

from dedup_svc.domain.blocking import MAX_BLOCK, NAME_BLOCK_CAP, block_caps, blocking_keys
from dedup_svc.domain.record import Record

pytestmark = pytest.mark.unit

KINDS = ("d:", "p:", "t:", "l:", "s:", "n:")


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (Record(), set()),
        (Record(given_name="דנה"), set()),  # a lone name part is no key: it would be a 30,000-member block
        (Record(surname="כהנ", phones=("+972501234567",)), {"t:כ4567", "t:כהנ:5012"}),
        (Record(given_name="דנה", surname="כהנ"), {"n:דנה כהנ"}),
        (Record(given_name="כהנ", surname="דנה"), {"n:דנה כהנ"}),  # order-free
        (Record(given_name="דנה", surname="כהנ", birth_date="19900512"), {"d:19900512ד", "d:19900512כ", "n:דנה כהנ"}),
        (Record(given_name="dana", surname="levi", postcode="6100000"), {"p:6100000d", "p:6100000l", "n:dana levi"}),
        (Record(given_name="dana", surname="levi", emails=("dana.levi@gmail.com",)), {"l:dana.levi", "n:dana levi"}),
        (Record(company="תנובה", phones=("+97231234567",)), {"t:ת4567", "t:תנובה:2312", "n:תנובה"}),
        (Record(birth_date="19900512", postcode="6100000"), {"d:19900512", "p:6100000"}),  # no name: bare keys
        (Record(phones=("+972501234567",)), set()),  # a phone typo without a name can never be a candidate
    ],
)
def test_keys(record: Record, expected: set[str]) -> None:
    assert blocking_keys(record) == expected


FULL = Record(
    given_name="דנה",
    surname="כהנ",
    company="תנובה",
    phones=("+972501234567", "+972527654321"),
    emails=("dana.cohen@gmail.com", "dana@work.co.il"),
    national_id="023456782",
    birth_date="19900512",
    street="הרצל 5",
    city="תל אביב",
    postcode="6100000",
)


def test_a_full_record_has_few_short_keys_with_a_kind_prefix() -> None:
    keys = blocking_keys(FULL)
    assert 0 < len(keys) <= 9
    assert all(k[:2] in KINDS for k in keys)
    assert all(len(k) <= 40 for k in keys)
    assert not any(k.endswith("כהנ") and k.count(" ") == 0 for k in keys)  # never the bare surname


def test_exact_identifiers_are_not_blocking_keys() -> None:
    """They live in the exact index; a key holding a whole phone or ID would duplicate it."""
    keys = " ".join(blocking_keys(FULL))
    assert "023456782" not in keys
    assert "972501234567" not in keys
    assert "dana.cohen@gmail.com" not in keys


def _typos(number: str) -> list[str]:
    """Every one-digit substitution and adjacent transposition of the national number's digits."""
    head, digits = number[:4], number[4:]  # "+972" and the national number
    out = []
    for i, d in enumerate(digits):
        out.append(head + digits[:i] + str((int(d) + 5) % 10) + digits[i + 1 :])
        if i + 1 < len(digits) and digits[i] != digits[i + 1]:
            out.append(head + digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :])
    return out


@pytest.mark.parametrize("typo", _typos("+972501234567"))
@pytest.mark.parametrize(("given", "surname"), [("דנה", "כהנ"), ("dana", "levi")])
def test_a_name_with_any_one_digit_phone_typo_shares_a_key(typo: str, given: str, surname: str) -> None:
    stored = Record(given_name=given, surname=surname, phones=("+972501234567",))
    query = Record(given_name=given, surname=surname, phones=(typo,))
    assert {k for k in blocking_keys(stored) & blocking_keys(query) if k.startswith("t:")}


@pytest.mark.parametrize(
    ("stored", "query"),
    [
        # a mistyped e-mail domain, nothing else
        (
            Record(given_name="דנה", surname="לוי", emails=("dana.levi@gmail.com",)),
            Record(given_name="דנה", surname="לוי", emails=("dana.levi@gmial.com",)),
        ),
        (Record(emails=("dana.levi@gmail.com",)), Record(given_name="דנה", surname="לוי", emails=("dana.levi@gmail.co",))),
        # given name and surname swapped, the phone mistyped
        (
            Record(given_name="דנה", surname="כהנ", phones=("+972501234567",)),
            Record(given_name="כהנ", surname="דנה", phones=("+972501234568",)),
        ),
        # Febrl-style: the surname mistyped (same initial) and the postcode swapped, the birth date intact
        (
            Record(given_name="lachlan", surname="hayam", birth_date="19030930", postcode="6163"),
            Record(given_name="lachlan", surname="hyam", birth_date="19030930", postcode="6136"),
        ),
        # the given name replaced and the birth date mistyped, the postcode intact
        (
            Record(given_name="madeline", surname="birchby", birth_date="19761231", postcode="2208"),
            Record(given_name="sarah", surname="birchby", birth_date="19761213", postcode="2208"),
        ),
        # the surname replaced, the birth date intact
        (
            Record(given_name="thomas", surname="petersen", birth_date="19211030"),
            Record(given_name="thomas", surname="tuckwell", birth_date="19211030"),
        ),
        # names swapped between the fields and the birth date intact
        (
            Record(given_name="riley", surname="speight", birth_date="19510627"),
            Record(given_name="speight", surname="riley", birth_date="19510627"),
        ),
    ],
)
def test_fuzzy_duplicates_share_a_key(stored: Record, query: Record) -> None:
    assert blocking_keys(stored) & blocking_keys(query)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (Record(given_name="דנה", surname="כהנ", birth_date="19900512"), Record(given_name="משה", surname="כהנ", birth_date="19850101")),
        (
            Record(given_name="דנה", surname="כהנ", phones=("+972501234567",)),
            Record(given_name="משה", surname="כהנ", phones=("+972521111111",)),
        ),
        (
            Record(given_name="dana", surname="levi", emails=("dana.levi@gmail.com",)),
            Record(given_name="yossi", surname="levi", emails=("yossi.levi@gmail.com",)),
        ),
    ],
)
def test_sharing_a_surname_is_not_sharing_a_block(a: Record, b: Record) -> None:
    assert not blocking_keys(a) & blocking_keys(b)


GIVEN = ["דוד", "משה", "יוסף", "אברהמ", "יעקב", "דניאל", "איתי", "נועה", "מאיה", "שרה", "רחל", "דנה", "מיכל", "יעל", "אורי", "תמר", "רונית", "אליהו",
         "שלומ", "חיימ", "מרימ", "אסתר", "רות", "נתנ", "עומר", "אריאל", "שירה", "הילה", "גיל", "ליאור", "אלונ", "עדי", "רועי", "טל", "נעמ", "יונתנ",
         "אביגיל", "זהבה", "בנימינ", "ציפורה"]  # fmt: skip


STREETS = ["הרצל", "ויצמנ", "בגינ", "רוטשילד", "ז׳בוטינסקי", "סוקולוב", "העצמאות", "הנביאימ", "אלנבי", "בלפור", "ביאליק", "הגפנ"]


def test_thirty_thousand_cohens_make_no_big_block() -> None:
    """Cohen is ~3 % of 1,000,000 customers: 30,000 people with 40 given names, random birth
    dates over 80 years (1 January ten times as common), postcodes and phones."""
    rng = random.Random(4)
    counts: Counter[str] = Counter()
    for i in range(30_000):
        jan_first = rng.random() < 0.03
        record = Record(
            given_name=rng.choice(GIVEN),
            surname="כהנ",
            birth_date=f"{rng.randrange(1940, 2020)}0101"
            if jan_first
            else f"{rng.randrange(1940, 2020)}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}",
            postcode=f"{rng.randrange(10, 99)}{rng.randrange(100_00, 999_99)}",
            phones=(f"+9725{rng.choice('0234568')}{rng.randrange(10**7):07d}",),
            emails=(f"cohen{i}@gmail.com",),
            street=f"{rng.choice(STREETS)} {rng.randrange(1, 150)}",
        )
        counts.update(blocking_keys(record))
    biggest = {kind: max(n for k, n in counts.items() if k.startswith(kind)) for kind in KINDS}
    assert biggest["n:"] < 1_500  # one full name: hundreds, capped at MAX_BLOCK when read
    assert all(biggest[kind] <= 50 for kind in ("d:", "p:", "t:", "l:", "s:"))
    assert MAX_BLOCK <= 500


@pytest.mark.parametrize("r", [FULL, replace(FULL, phones=(), emails=()), replace(FULL, given_name="", surname="")])
def test_keys_are_deterministic_and_do_not_depend_on_field_order(r: Record) -> None:
    swapped = replace(r, given_name=r.surname, surname=r.given_name)
    assert blocking_keys(r) == blocking_keys(r) == blocking_keys(swapped)


def test_block_caps_read_few_members_of_whole_name_blocks() -> None:
    caps = block_caps(Record(given_name="noa", surname="cohen", phones=("+972501234567",), emails=("noa@example.com",)))
    assert caps["n:cohen noa"] == NAME_BLOCK_CAP < MAX_BLOCK
    assert {cap for key, cap in caps.items() if not key.startswith("n:")} == {MAX_BLOCK}
    assert list(caps) == sorted(caps)


@pytest.mark.parametrize(
    ("street", "surname", "key"),
    [
        ("245 duncan street", "white", "s:245 duncank"),
        ("herzl 5", "כהנ", "s:5 herzlk"),
        ("duncan street", "white", None),  # no house number: a whole street is too big a block
        ("245", "white", None),
        ("245 duncan", "", "s:245 duncank"),
    ],
)
def test_street_key_is_house_number_street_word_and_a_name_initial(street: str, surname: str, key: str | None) -> None:
    street_keys = {k for k in blocking_keys(Record(given_name="kody", surname=surname, street=street)) if k.startswith("s:")}
    assert street_keys == ({key} if key else set())
