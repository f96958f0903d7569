"""Properties of the identity normalisers (DESIGN 4.5) over generated input.

Phones: every spelling of one number (national, international, `00`, bare `972`, separators,
bidi marks, full-width digits) gives one E.164; normalising is idempotent and never raises.
National IDs / company numbers: the check digit decides, leading zeros and separators do not;
every single-digit typo is caught. Names: folding is idempotent; niqqud, final letters, case,
accents and token order do not matter to the key.
"""

import unicodedata

import phonenumbers
import pytest
from hypothesis import assume, example, given, reject, settings
from hypothesis import strategies as st

from dedup_svc.domain.normalise import email, name, name_key, national_id, parse_phone, phone

pytestmark = pytest.mark.unit

PROPERTIES = settings(max_examples=150, deadline=None)
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=30)  # surrogates and controls included
PHONE_LIKE = st.text(st.sampled_from("0123456789+-. ()/\u200e\u200f\u00a0972"), max_size=20)

# --- phones -------------------------------------------------------------------------------------

# Israeli numbers by national significant number: mobile prefixes and landline area codes.
IL_MOBILE = st.builds(lambda p, rest: p + rest, st.sampled_from(["50", "52", "53", "54", "55", "58"]), st.from_regex(r"\A[2-9][0-9]{6}\Z"))
IL_LANDLINE = st.builds(lambda p, rest: p + rest, st.sampled_from(["2", "3", "4", "8", "9"]), st.from_regex(r"\A[5-9][0-9]{6}\Z"))
BIDI = st.sampled_from(["", "\u200e", "\u200f", "\u202a", "\u2066"])


def il_spellings(nsn: str) -> list[str]:
    """Ways people write one Israeli number (nsn: national significant number)."""
    national = "0" + nsn
    split = f"{national[:-7]}-{national[-7:]}"
    return [
        national,
        split,
        f"{national[:-7]} {national[-7:-4]} {national[-4:]}",
        f"({national[:-7]}) {national[-7:]}",
        f"{national[:-7]}.{national[-7:-4]}.{national[-4:]}",
        "+972" + nsn,
        f"+972-{nsn[:-7]}-{nsn[-7:]}",
        f"+972 ({nsn[:-7]}) {nsn[-7:]}",
        "00972" + nsn,
        "972" + nsn,
        f"  {split}  ",
        "\u200e" + split + "\u200f",
        unicodedata.normalize("NFKC", national).translate({ord(d): ord(d) + 0xFEE0 for d in "0123456789"}),  # full-width digits
    ]


@PROPERTIES
@given(st.one_of(IL_MOBILE, IL_LANDLINE), BIDI)
def test_every_spelling_of_an_israeli_number_is_one_e164(nsn: str, mark: str) -> None:
    e164 = phone("+972" + nsn)
    assume(e164 is not None)  # a possible number (allocated or not); others are refused in every spelling
    assert e164 == "+972" + nsn
    for spelling in il_spellings(nsn):
        assert phone(mark + spelling + mark) == e164, spelling
    # An international spelling keeps its country whatever region reads it.
    for region in ("US", "GB", "FR"):
        assert phone("+972" + nsn, region) == e164
        assert phone("00972" + nsn, region) == e164


REGIONS = ["IL", "US", "GB", "FR", "DE", "RU", "UA", "BR", "IN", "AU"]
NUMBER_TYPES = [phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]


@PROPERTIES
@given(st.sampled_from(REGIONS), st.sampled_from(NUMBER_TYPES), st.integers(0, 9999))
def test_every_format_of_a_valid_number_normalises_to_its_e164(region: str, kind: int, tail: int) -> None:
    example_number = phonenumbers.example_number_for_type(region, kind)
    if example_number is None:
        reject()
    digits = str(example_number.national_number)
    number = phonenumbers.parse(f"+{example_number.country_code}{digits[:-4]}{tail:04d}")
    assume(phonenumbers.is_valid_number(number))
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    assert phone(e164, region) == e164
    assert phone(international, region) == e164
    assert phone("00" + e164[1:], region) == e164
    assert phone(national, region) == e164, national
    parsed = parse_phone(e164, region)
    assert parsed is not None and parsed.allocated


@PROPERTIES
@given(st.one_of(PHONE_LIKE, ANY_TEXT), st.sampled_from(REGIONS))
@example("\ud800050-1234567", "IL")
@example("\x00", "IL")
def test_phone_never_raises_and_is_idempotent(raw: str, region: str) -> None:
    e164 = phone(raw, region)
    if e164 is None:
        return
    assert e164.startswith("+") and e164[1:].isdigit() and len(e164) <= 16
    for again in (region, "IL", "US"):
        assert phone(e164, again) == e164


# --- national ids / company numbers -------------------------------------------------------------


def luhn_ok(nine: str) -> bool:
    """The Israeli check, as its definition reads: weights 1,2,1,2…; products above 9 lose 9."""
    total = 0
    for i, d in enumerate(nine):
        product = int(d) * (1 if i % 2 == 0 else 2)
        total += product - 9 if product > 9 else product
    return total % 10 == 0


def with_check_digit(eight: str) -> str:
    return next(eight + str(d) for d in range(10) if luhn_ok(eight + str(d)))


EIGHT = st.from_regex(r"\A[0-9]{8}\Z")
SEPARATOR = st.sampled_from(["-", " ", ".", "\u05be", "\u2013", " - "])


@PROPERTIES
@given(EIGHT)
def test_a_valid_id_is_kept_as_nine_digits(eight: str) -> None:
    nine = with_check_digit(eight)
    assume(nine != "000000000")
    assert national_id(nine) == nine
    assert national_id(national_id(nine) or "") == nine  # idempotent


@PROPERTIES
@given(EIGHT, st.integers(0, 8), st.integers(1, 9))
def test_every_single_digit_typo_is_refused(eight: str, position: int, shift: int) -> None:
    nine = with_check_digit(eight)
    typo = nine[:position] + str((int(nine[position]) + shift) % 10) + nine[position + 1 :]
    assert national_id(typo) is None


@PROPERTIES
@given(EIGHT, SEPARATOR, st.integers(1, 8))
def test_leading_zeros_and_separators_do_not_matter(eight: str, separator: str, cut: int) -> None:
    nine = with_check_digit(eight)
    assume(nine != "000000000")
    assert national_id(nine.lstrip("0") or "0") == nine  # spreadsheets drop leading zeros
    assert national_id(nine[:cut] + separator + nine[cut:]) == nine
    assert national_id(f" {nine} ") == nine
    assert national_id("\u200f" + nine) == nine


@PROPERTIES
@given(st.one_of(ANY_TEXT, st.from_regex(r"\A[0-9 .\-]{0,12}\Z")))
def test_national_id_never_raises_and_keeps_only_valid_nine_digit_ids(raw: str) -> None:
    result = national_id(raw)
    if result is None:
        return
    assert len(result) == 9 and result.isascii() and result.isdigit()
    assert result != "000000000" and luhn_ok(result)
    assert national_id(result) == result
    digits = "".join(c for c in raw if c.isascii() and c.isdigit())
    assert digits.zfill(9) == result  # nothing but separators was dropped


@PROPERTIES
@given(st.from_regex(r"\A[0-9]{9}\Z"))
def test_the_check_digit_decides_for_nine_digits(nine: str) -> None:
    assert (national_id(nine) is not None) is (luhn_ok(nine) and nine != "000000000")


# --- e-mail ------------------------------------------------------------------------------------


@PROPERTIES
@given(ANY_TEXT)
@example("Dana@Example.COM")
def test_email_never_raises_and_is_idempotent(raw: str) -> None:
    result = email(raw)
    if result is not None:
        assert email(result) == result
        assert result == result.strip().lower()


# --- names -------------------------------------------------------------------------------------

HEBREW_LETTERS = "אבגדהוזחטיכלמנסעפצקרשת"
FINALS = {"כ": "ך", "מ": "ם", "נ": "ן", "פ": "ף", "צ": "ץ"}
NIQQUD = [chr(c) for c in range(0x05B0, 0x05BD)] + ["\u05c1", "\u05c2", "\u05c7"]
HEBREW_WORD = st.text(st.sampled_from(HEBREW_LETTERS), min_size=1, max_size=8)
LATIN_WORD = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzéèüöçñABCDEFGHIJKLMNOPQRSTUVWXYZ"), min_size=1, max_size=8)
WORDS = st.lists(st.one_of(HEBREW_WORD, LATIN_WORD), min_size=1, max_size=4)


@PROPERTIES
@given(ANY_TEXT)
@example("ǰ")  # casefold yields j + a combining caron
@example("İstanbul")  # casefold yields i + a combining dot
def test_name_folding_is_idempotent_and_never_raises(raw: str) -> None:
    once = name(raw)
    assert name(once) == once
    assert name_key(once) == name_key(raw)


@PROPERTIES
@given(WORDS, st.randoms(use_true_random=False))
def test_token_order_does_not_matter_to_the_key(words: list[str], rnd: object) -> None:
    shuffled = list(words)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert name_key(" ".join(words)) == name_key(" ".join(shuffled))
    assert name_key(words[0], " ".join(words[1:])) == name_key(" ".join(reversed(words)))


@PROPERTIES
@given(HEBREW_WORD, st.data())
def test_niqqud_and_final_letters_do_not_matter(word: str, data: st.DataObject) -> None:
    pointed = "".join(letter + data.draw(st.sampled_from(["", *NIQQUD])) for letter in word)
    assert name(pointed) == name(word)
    finals = "".join(FINALS.get(letter, letter) if data.draw(st.booleans()) else letter for letter in word)
    assert name(finals) == name(word)


@PROPERTIES
@given(LATIN_WORD)
def test_case_and_accents_do_not_matter(word: str) -> None:
    stripped = "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))
    assert name(word.upper()) == name(word.lower()) == name(unicodedata.normalize("NFD", word)) == name(stripped)
