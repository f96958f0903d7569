"""Normalised identifiers: the only form in which identities are stored and compared (DESIGN 4.5, "Matching").

Matching is exact equality on these forms, so everything that people write in different ways
for the same thing (phone spellings, e-mail case, ID separators, niqqud, final letters, accents)
must collapse here, and anything that is not an identifier at all must become None rather than
a key that could join two strangers. Every function is pure and cheap: they run for each lead
and for every record of the one-million-record bench.
"""

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache

import phonenumbers


@dataclass(frozen=True, order=True)
class IdentityKey:
    kind: str  # "email" | "phone" | "national_id"
    value: str


@dataclass(frozen=True)
class PhoneNumber:
    e164: str
    allocated: bool  # False: a possible number in no allocated range (kept, flagged)


# Invisible characters that copy-paste from Hebrew (right-to-left) forms and documents leaves in
# values: bidi marks and embeddings, zero-width (non-)joiners and spaces, word joiner, BOM, soft hyphen.
_INVISIBLE = dict.fromkeys(
    [0x00AD, 0x061C, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, *range(0x202A, 0x202F), 0x2060, *range(0x2066, 0x206A), 0xFEFF]
)


# --- e-mail -------------------------------------------------------------------------------------

# One "@", a non-empty local part, a domain of at least two non-empty dot-separated labels, no
# whitespace anywhere. Deliberately lenient beyond that: plus-addressing, IDN domains and odd but
# deliverable local parts stay as typed, because a false rejection loses a real match.
_EMAIL = re.compile(r"[^\s@]+@[^\s@.]+(?:\.[^\s@.]+)+")


EMAIL_MAX = 254  # RFC 5321: the longest address a mail path can carry


def email(raw: str) -> str | None:
    """Trimmed, lower-cased address; None for text that cannot be an address at all.

    Lower-casing the local part is technically lossy (RFC 5321) but no real provider treats case
    as significant, and people type it both ways.
    """
    value = raw.translate(_INVISIBLE).strip().lower()
    return value if len(value) <= EMAIL_MAX and _EMAIL.fullmatch(value) else None


# --- phone --------------------------------------------------------------------------------------

_ISRAEL_CALLING_CODE = "972"
_NON_DIGITS = re.compile(r"\D+")


@cache
def _national_pattern(country_code: int) -> re.Pattern[str] | None:
    """The country's general number shape (all types' leading digits and lengths), from phonenumbers metadata."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(
        country_code, phonenumbers.region_code_for_country_code(country_code)
    )
    if metadata is None or metadata.general_desc is None or not metadata.general_desc.national_number_pattern:
        return None
    return re.compile(metadata.general_desc.national_number_pattern)


def _possible(number: phonenumbers.PhoneNumber) -> bool:
    """A number worth keeping: valid, or of a shape the country uses even if its range is unallocated.

    `is_possible_number` alone only checks lengths across all of a country's number types (for
    Israel any of 7..12 digits), so a 12-digit "mobile" would pass; matching the country's general
    pattern as well catches over-long and mis-prefixed numbers. Local-only numbers (no area code)
    are rejected: they cannot identify anyone.
    """
    if phonenumbers.is_valid_number(number):
        return True
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        return False
    pattern = _national_pattern(number.country_code)
    return pattern is not None and pattern.fullmatch(phonenumbers.national_significant_number(number)) is not None


def _parse(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return number if _possible(number) else None


@lru_cache(maxsize=4096)  # a lead's phones are read for its record and again for its decision
@lru_cache(maxsize=8192)  # a lead's phones are read for its key and again for its decision: parsed once
def parse_phone(raw: str, region: str = "IL") -> PhoneNumber | None:
    """E.164 plus an "allocated" flag, or None for text that is not a possible phone number.

    `region` (default Israel) reads national spellings; a leading "+" or "00" keeps the number's
    own country. A bare "972..." without a plus is Israeli international form: people drop the plus
    on forms (phonenumbers already does this when the region is IL; for other regions it is the
    fallback when the national reading is not possible). Numbers in unallocated ranges
    (`phonenumbers.is_valid_number` false) are kept and flagged rather than dropped: metadata lags
    real allocations, and a flagged key still matches the same person typing it again.
    """
    text = raw.translate(_INVISIBLE).strip()
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)  # full-width digits and plus sign
    if text.startswith("00"):  # the common international prefix, whatever the region's own
        text = "+" + text[2:]
    number = _parse(text, region.upper())
    if number is None and not text.startswith("+"):
        digits = _NON_DIGITS.sub("", text)
        if digits.startswith(_ISRAEL_CALLING_CODE):
            number = _parse("+" + digits, None)
    if number is None:
        return None
    return PhoneNumber(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), phonenumbers.is_valid_number(number))


def phone(raw: str, region: str = "IL") -> str | None:
    """E.164 of `parse_phone`, allocated or not; None otherwise."""
    parsed = parse_phone(raw, region)
    return parsed.e164 if parsed else None


# --- national id / company number ---------------------------------------------------------------

# Separators people type inside an ID: whitespace, hyphens and dashes (incl. maqaf), dots.
_ID_SEPARATORS = re.compile(r"[\s.\-\u05be\u2010-\u2015]+")
_DOUBLED_DIGIT_SUM = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # digit sum of 2*d for d = 0..9


def _check_digit_ok(nine: str) -> bool:
    """Israeli ID check: weights 1,2,1,2,... over 9 digits, digit sums of products, total % 10 == 0."""
    total = sum(int(d) for d in nine[0::2]) + sum(_DOUBLED_DIGIT_SUM[int(d)] for d in nine[1::2])
    return total % 10 == 0


def national_id(raw: str) -> str | None:
    """Nine-digit teudat zehut / company number (ח.פ.), or None when it cannot be one.

    Both share one rule: up to nine digits, left-padded with zeros (leading zeros are routinely
    dropped by spreadsheets), and a valid check digit. Checking the digit keeps typos and
    placeholder values ("123456789", "000000000") from becoming keys that would merge strangers.
    """
    digits = _ID_SEPARATORS.sub("", raw.translate(_INVISIBLE))
    if not digits or len(digits) > 9 or not (digits.isascii() and digits.isdigit()):
        return None
    nine = digits.zfill(9)
    if nine == "000000000" or not _check_digit_ok(nine):
        return None
    return nine


def national_id_is_valid(raw: str) -> bool:
    """True when `raw` normalises to a valid national id / company number."""
    return national_id(raw) is not None


# --- names --------------------------------------------------------------------------------------

_HEBREW_FINALS = {"ך": "כ", "ם": "מ", "ן": "נ", "ף": "פ", "ץ": "צ"}
# Geresh and its stand-ins mark a sound or an acronym inside one word (ז'קלין, צה"ל, O'Brien):
# removed without splitting the word. Typographic apostrophes included (phones type O’Brien).
_GERESH_LIKE = "\u05f3\u05f4'\"`\u2018\u2019\u02bc\u00b4\u2032\u2033"
# Letters with a stroke rather than a combining accent: NFKD leaves them alone.
_LATIN_STROKES = {"ł": "l", "Ł": "l", "ø": "o", "Ø": "o", "đ": "d", "Đ": "d", "ħ": "h", "Ħ": "h", "ŧ": "t", "Ŧ": "t", "ı": "i"}
_TABLE_LIMIT = 65_536  # distinct code points remembered; beyond that they are classified on every call


def _classify(char: str) -> str | None:
    category = unicodedata.category(char)
    if category in ("Mn", "Me", "Cf"):  # niqqud, cantillation, accents after NFKD; invisible format characters
        return None
    if category == "Mc" or char.isalnum():  # letters, digits, spacing vowel signs of other scripts
        return char
    return " "  # punctuation (incl. maqaf, paseq, sof pasuq), symbols, whitespace, controls: a token break


class _NameTable(dict[int, str | None]):
    """`str.translate` table for names, filled lazily: each code point is classified once.

    Precomputing the whole of Unicode would cost import time and memory; a per-character Python
    loop would cost every call. This way the hot path is `str.translate` in C.
    """

    def __missing__(self, code_point: int) -> str | None:
        value = _classify(chr(code_point))
        if len(self) < _TABLE_LIMIT:
            self[code_point] = value
        return value


_NAME_TABLE = _NameTable()
_NAME_TABLE.update((cp, _classify(chr(cp))) for cp in range(128))
_NAME_TABLE.update((ord(k), v) for k, v in (_HEBREW_FINALS | _LATIN_STROKES).items())
_NAME_TABLE.update((ord(c), None) for c in _GERESH_LIKE)
_NAME_TABLE[0x0640] = None  # Arabic tatweel: elongation, not a letter


def _tokens(raw: str | None) -> list[str]:
    if not raw:
        return []
    # NFKD splits accents off their letters; the acute accent used as an apostrophe (O´Brien) would
    # decompose to a space plus a combining mark, so it goes first.
    text = raw if raw.isascii() else unicodedata.normalize("NFKD", raw.replace("\u00b4", ""))
    return text.translate(_NAME_TABLE).casefold().split()


def name(raw: str | None) -> str:
    """Comparable form of a name, tokens in their original order.

    Hebrew: niqqud and cantillation removed, final letters folded to normal forms (people and
    keyboards mix them), geresh/gershayim removed inside the word. Latin: accents stripped,
    case-folded, apostrophes removed inside the word. Other punctuation (hyphen, maqaf, dots,
    commas, brackets) separates tokens; whitespace is collapsed. Digits stay.
    """
    return " ".join(_tokens(raw))


def name_key(*parts: str | None) -> str:
    """Order-free key of a whole name: the normalised tokens of all parts, sorted.

    First/last name columns are swapped often enough ("Cohen Dana" vs "Dana Cohen") that token
    order must not matter.
    """
    return " ".join(sorted(token for part in parts for token in _tokens(part)))
