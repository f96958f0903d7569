"""Search text (DESIGN 4.8): one box over name, national ID, phone in any spelling and e-mail."""

import pytest

from customer_svc.domain.search import fold, phone_forms, search_document, search_terms

pytestmark = pytest.mark.unit


def matches(doc: str, terms: list[str]) -> bool:
    return bool(terms) and all(t in doc for t in terms)


DOC = search_document(
    first_name="דָּנָה",
    last_name="כֹּהֵן",
    company_name="Müller & Sons Ltd.",
    national_id="039337423",
    phones=[
        {"value": "050-1234567", "e164": "+972501234567", "primary": True},
        {"value": "+1 (415) 555-0100", "e164": "+14155550100", "primary": False},
        {"value": "1-800-FLOWERS", "e164": None, "primary": False},
    ],
    emails=[{"value": "  Dana.Cohen@Example.CO.IL ", "primary": True}],
    contact_names=["יוסף לוי-שטרן", "Jean-Luc O'Brien"],
)


# --- fold ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("כֹּהֵן", "כהנ"),
        ("כהן", "כהנ"),
        ("בְּרֵאשִׁית֙", "בראשית"),  # cantillation (U+0599) as well as niqqud
        ("ךםןףץ", "כמנפצ"),
        ("שלום עליכם", "שלומ עליכמ"),
        ("ז׳קלין", "זקלינ"),
        ("צה״ל", "צהל"),
        ('צה"ל', "צהל"),
        ("ז'קלין", "זקלינ"),
        ("O'Brien", "obrien"),
        ("O’Brien", "obrien"),
        ("O`Brien", "obrien"),
        ("O´Brien", "obrien"),
        ("כהן־לוי", "כהנ לוי"),  # maqaf splits
        ("כהן-לוי", "כהנ לוי"),
        ("Jean-Luc", "jean luc"),
        ("a.b,c;d/e", "a b c d e"),
        ("Müller", "muller"),
        ("ÉLODIE", "elodie"),
        ("Straße", "strasse"),
        ("ﬁne", "fine"),
        ("  דנה \t\n כהן  ", "דנה כהנ"),
        ("\u200fדנה\u200e", "דנה"),
        ("בע״מ 2024", "בעמ 2024"),
        ("", ""),
        ("...---", ""),
    ],
)
def test_fold(raw: str, folded: str) -> None:
    assert fold(raw) == folded


def test_fold_is_idempotent() -> None:
    for raw in ("כֹּהֵן-לוי", "O'Brien", "Müller & Sons"):
        assert fold(fold(raw)) == fold(raw)


# --- phone forms --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "e164", "forms"),
    [
        ("050-1234567", "+972501234567", ["972501234567", "0501234567"]),
        ("02-6234567", "+97226234567", ["97226234567", "026234567"]),
        ("+1 415 555 0100", "+14155550100", ["14155550100"]),
        ("1-800-FLOWERS", None, ["1800"]),
        ("*6543", None, ["6543"]),
        ("", None, []),
        ("no digits", None, []),
    ],
)
def test_phone_forms(value: str, e164: str | None, forms: list[str]) -> None:
    assert phone_forms(value, e164) == forms


# --- document -----------------------------------------------------------------------------------


def test_document_holds_every_searchable_form_once() -> None:
    words = DOC.split()
    assert len(words) == len(set(words))
    for word in ("דנה", "כהנ", "muller", "sons", "ltd", "039337423", "972501234567", "0501234567", "14155550100", "1800"):
        assert word in words
    assert "dana.cohen@example.co.il" in words  # raw: '@' and '.' survive
    assert {"יוספ", "לוי", "שטרנ", "jean", "luc", "obrien"} <= set(words)


def test_document_is_deterministic_and_deduplicated() -> None:
    kwargs = {
        "first_name": "כהן",
        "last_name": "כהן",
        "company_name": None,
        "national_id": None,
        "phones": [{"value": "0501234567", "e164": "+972501234567"}, {"value": "050-1234567", "e164": "+972501234567"}],
        "emails": [{"value": "a@b.co"}, {"value": "A@B.CO"}],
    }
    assert search_document(**kwargs) == search_document(**kwargs) == "כהנ 972501234567 0501234567 a@b.co abco"  # type: ignore[arg-type]


def test_empty_card_has_an_empty_document() -> None:
    assert search_document(first_name=None, last_name="", company_name=None, national_id=None, phones=[], emails=[]) == ""


# --- terms --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "terms"),
    [
        ("050-1234567", ["0501234567"]),
        ("+972-50-123-4567", ["972501234567"]),
        ("972501234567", ["972501234567"]),
        ("00972501234567", ["972501234567"]),
        ("050 123 4567", ["0501234567"]),
        ("(050) 123-4567", ["0501234567"]),
        ("+972 50 123 4567", ["972501234567"]),
        ("+972 (0)50-123-4567", ["972501234567"]),
        ("050.123.4567", ["0501234567"]),
        ("\u200f050-1234567\u200e", ["0501234567"]),
        ("039337423 0501234567", ["039337423", "0501234567"]),  # too long for one number: two terms
        ("כֹּהֵן", ["כהנ"]),
        ("כהן-לוי", ["כהנ", "לוי"]),
        ("דנה  כהן", ["דנה", "כהנ"]),
        ("כהן כהן", ["כהנ"]),
        ("Dana COHEN", ["dana", "cohen"]),
        ("Dana.Cohen@Example.co.il", ["dana.cohen@example.co.il"]),
        ("dana.cohen", ["danacohen"]),  # an e-mail start: matched against the compacted address
        ("כהן 050-1234567", ["כהנ", "0501234567"]),
        ("5", ["5"]),  # one digit is text, not a phone
        ("- 5", ["5"]),
        ("", []),
        ("   ", []),
        ("-- ... ׳", []),
    ],
)
def test_search_terms(query: str, terms: list[str]) -> None:
    assert search_terms(query) == terms


@pytest.mark.parametrize(
    "query",
    [
        # phone in any spelling, and partial
        "050-1234567",
        "+972-50-123-4567",
        "972501234567",
        "00972501234567",
        "0501234567",
        "050 123 4567",
        "(050) 123-4567",
        "0501",
        "1234567",
        "4567",
        "415-555-0100",
        "+1 415 555 0100",
        # Hebrew name with or without niqqud and finals, partial
        "כֹּהֵן",
        "כהן",
        "כה",
        "כהנ",
        "דָנָה כֹהֵן",
        "כהן דנה",
        "דנ",
        "שטרן",
        "לוי-שטרן",
        # Latin any case and accents
        "muller",
        "MÜLLER",
        "Mül",
        "o'brien",
        "OBRIEN",
        "jean-luc",
        # e-mail, prefix and whole
        "dana.cohen@",
        "Dana.Cohen@Example.co.il",
        "dana",
        "example",
        # national ID, whole and partial
        "039337423",
        "39337423",
        "0393",
        "337-423",
        # mixed
        "כהן 0501",
        "dana 039337423",
    ],
)
def test_query_finds_the_card(query: str) -> None:
    assert matches(DOC, search_terms(query)), (query, search_terms(query), DOC)


@pytest.mark.parametrize(
    "query",
    [
        "0521234567",
        "050-7654321",
        "+972-52-123-4567",
        "כהנא",
        "לוין",
        "miller",
        "dana.levi@",
        "dana@example.co.il",
        "123456782",
        "כהן 0521234567",  # one term matches, the other does not
        "",
        "...",
    ],
)
def test_query_does_not_find_the_card(query: str) -> None:
    assert not matches(DOC, search_terms(query)), (query, search_terms(query))


@pytest.mark.parametrize("q", ["noa.co", "Noa.Cohen7", "d_lev", "noa.cohen7@"])
def test_an_email_start_without_its_at_stays_one_term_matched_against_the_raw_address(q: str) -> None:
    terms = search_terms(q)
    assert len(terms) == 1 and terms[0] == (q.lower() if "@" in q else "".join(c for c in q.lower() if c.isalnum()))
    doc = search_document(
        first_name=None, last_name="x", company_name=None, national_id=None, phones=[], emails=[{"value": "noa.cohen7@d_levi.io"}]
    )
    assert all(t in doc for t in terms)


def test_a_title_with_a_trailing_dot_is_still_folded_as_a_name() -> None:
    assert search_terms("Dr. Cohen") == ["dr", "cohen"]
