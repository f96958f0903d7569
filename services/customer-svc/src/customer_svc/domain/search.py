"""The text one search box looks in (DESIGN 4.8), and the terms a query becomes.

A card's search document and a query go through the same folding, so that a match is a plain
substring test of every term (the repository can serve it with a trigram index): niqqud,
final letters, case, accents and punctuation never decide a match; phones are kept as digit
strings in every form people type them (international and Israeli national).
"""

import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

_HEBREW_FINALS = {"ך": "כ", "ם": "מ", "ן": "נ", "ף": "פ", "ץ": "צ"}
# Geresh, gershayim and their stand-ins mark a sound or an acronym inside one word (ז'קלין, צה"ל, O'Brien).
_INSIDE_WORD = "\u05f3\u05f4'\"`\u2018\u2019\u02bc"
_PHONE_CHARS = re.compile(r"[0-9+\-().\/]+")
_MAX_PHONE_DIGITS = 15  # E.164
# The start of an e-mail address typed without its "@": "noa.co", "d_levi" (not "jean-luc": a name).
_EMAILISH = re.compile(r"[a-z0-9-]*[a-z0-9](?:[._+][a-z0-9-]+)+[._+]?", re.IGNORECASE)


class _FoldTable(dict[int, str | None]):
    """`str.translate` table filled lazily: each code point is classified once, the hot path stays in C."""

    def __missing__(self, code_point: int) -> str | None:
        char = chr(code_point)
        category = unicodedata.category(char)
        if category in ("Mn", "Me", "Cf"):  # niqqud, cantillation, accents after NFKD, bidi marks
            value: str | None = None
        elif char.isalnum() or category == "Mc":
            value = char
        else:  # punctuation (maqaf, hyphen, dots, commas), symbols, whitespace
            value = " "
        if len(self) < 65_536:
            self[code_point] = value
        return value


_TABLE = _FoldTable({ord(k): v for k, v in _HEBREW_FINALS.items()} | {ord(c): None for c in _INSIDE_WORD})


def fold(text: str) -> str:
    """Lower-cased words without niqqud, accents, final letters or punctuation, single-spaced."""
    # The acute accent typed as an apostrophe (O´Brien) would decompose to a space and a mark.
    text = text.replace("\u00b4", "").casefold()
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
    return " ".join(text.translate(_TABLE).split())


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isascii() and c.isdigit())


def phone_forms(value: str, e164: str | None) -> list[str]:
    """Digit strings a phone is found by: international without '+', and the Israeli national form."""
    if e164 is None:
        forms = [_digits(value)]
    else:
        international = _digits(e164)
        forms = [international]
        if international.startswith("972"):
            forms.append("0" + international[3:])
    return [f for f in dict.fromkeys(forms) if f]


def compact(text: str) -> str:
    """Letters and digits only, lower-cased: how e-mail addresses are also written in the document."""
    return "".join(c for c in text.lower() if c.isalnum())


def search_document(
    *,
    first_name: str | None,
    last_name: str | None,
    company_name: str | None,
    national_id: str | None,
    phones: Sequence[dict[str, Any]],
    emails: Sequence[dict[str, Any]],
    contact_names: Iterable[str] = (),
) -> str:
    words: list[str] = []
    for part in (first_name, last_name, company_name, *contact_names):
        words.extend(fold(part or "").split())
    words.append(_digits(national_id or ""))
    for phone in phones:
        words.extend(phone_forms(phone.get("value") or "", phone.get("e164")))
    for email in emails:
        address = (email.get("value") or "").strip().lower()
        words += [address, compact(address)]
    return " ".join(w for w in dict.fromkeys(words) if w)


def _phone_digits(text: str) -> str:
    """Digits of a phone-ish term; "00" and a national "0" after 972 ("+972 (0)50...") dropped."""
    digits = _digits(text)
    digits = digits[2:] if digits.startswith("00") else digits
    return "972" + digits[4:] if digits.startswith("9720") and len(digits) >= 12 else digits


def _is_phoneish(term: str) -> bool:
    return _PHONE_CHARS.fullmatch(term) is not None


def search_terms(q: str) -> list[str]:
    """The substrings every one of which a document must contain to match `q`."""
    raw = "".join(c for c in q if unicodedata.category(c) != "Cf").split()
    if len(raw) > 1 and all(_is_phoneish(t) for t in raw):
        # "050 123 4567", "+972 50-123-4567": one number in groups. Too many digits for one
        # number means several numbers (a phone and an ID): those stay separate terms.
        joined = _phone_digits("".join(raw))
        if 2 <= len(joined) <= _MAX_PHONE_DIGITS:
            return [joined]
    terms: list[str] = []
    for term in raw:
        if _is_phoneish(term) and len(_digits(term)) >= 2:
            terms.append(_phone_digits(term))
        elif "@" in term or _EMAILISH.fullmatch(term):
            # An e-mail start: "@" kept (matched against the raw address); without one, matched
            # against the address with its punctuation removed, which gives the trigram index
            # more to narrow by than "david.da" split into "david" and "da".
            terms.append(term.lower() if "@" in term else compact(term))
        else:
            terms.extend(fold(term).split())
    return [t for t in dict.fromkeys(terms) if t]
