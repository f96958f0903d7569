"""Spreadsheet import: from a header row and data rows to the flat form `lead_from_form` takes.

Pure: the file reading lives in `adapters/spreadsheets.py`.

Column targets are the web-capture field names of DESIGN 5.2 (`first_name`, `phone`, `email`,
`national_id`, ... and `fields.X` for custom field X). A company-number column (ח.פ., VAT, ...)
maps to `national_id` like an ID column; what tells them apart is `implied_id_types`, which
`row_to_form` applies by itself: a row with a value in such a column gets `id_type=company`
(unless the row has its own `id_type` value).
"""

import re
import unicodedata

from intake_svc.domain.capture import LIST_FIELDS

# Targets `lead_from_form` understands without a mapping (see domain/capture.py).
KNOWN_TARGETS = frozenset(
    {
        "first_name",
        "last_name",
        "company_name",
        "name",
        "phone",
        "phone2",
        "mobile",
        "phones",
        "email",
        "emails",
        "id",
        "national_id",
        "id_type",
        "branch",
        "tags",
        "notes",
        "external_id",
        "affiliate_name",
        "affiliate_account_number",
        "broker_name",
        "broker_account_number",
    }
)
CUSTOM_PREFIX = "fields."
COMPANY = "company"

# Several columns with these targets add up instead of overwriting each other: they are joined,
# in column order, under one list key of lead_from_form (which splits on commas).
_LIST_KEYS = LIST_FIELDS
_PHONE_TARGETS = frozenset({"phone", "phone2", "mobile", "phones"})
_ALIASES = {"id": "national_id"}

# Header synonyms, written as people write them; compared after `_key` (normalised, no spaces).
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "first_name": ("first name", "firstname", "given name", "forename", "שם פרטי", "פרטי"),
    "last_name": ("last name", "lastname", "surname", "family name", "שם משפחה", "משפחה"),
    "name": (
        "full name",
        "name",
        "contact",
        "contact name",
        "customer name",
        "client name",
        "שם",
        "שם מלא",
        "שם לקוח",
        "שם הלקוח",
        "שם איש קשר",
    ),
    "company_name": (
        "company",
        "company name",
        "organization",
        "organisation",
        "business",
        "business name",
        "חברה",
        "שם חברה",
        "שם החברה",
        "שם העסק",
        "שם עסק",
        "עסק",
    ),
    "phone": ("phone", "telephone", "tel", "phone number", "telephone number", "טלפון", "טל", "מספר טלפון"),
    "phone2": ("phone 2", "other phone", "second phone", "additional phone", "alternate phone", "טלפון 2", "טלפון נוסף", "טלפון שני"),
    "mobile": ("mobile", "mobile phone", "cell", "cellphone", "cell phone", "נייד", "טלפון נייד", "סלולרי", "סלולר", "פלאפון"),
    "email": (
        "email",
        "e-mail",
        "mail",
        "email address",
        "e-mail address",
        'דוא"ל',
        "דואל",
        "אימייל",
        "אי-מייל",
        "מייל",
        "דואר אלקטרוני",
        "כתובת מייל",
        'כתובת דוא"ל',
    ),
    "national_id": (
        "id",
        "national id",
        "id number",
        "teudat zehut",
        "tz",
        "ת.ז.",
        'ת"ז',
        "תעודת זהות",
        "מספר זהות",
        "מספר תעודת זהות",
        "זהות",
    ),
    "id_type": ("id type", "סוג זהות", "סוג מזהה"),
    "branch": ("branch", "סניף"),
    "tags": ("tags", "labels", "תגיות", "תגית"),
    "notes": ("notes", "note", "comments", "remarks", "הערות", "הערה"),
    "external_id": ("external id", "מזהה חיצוני"),
    "broker_name": ("broker", "broker name", "affiliate", "שם המתווך", "שם מתווך", "מתווך", "שם המשווק", "משווק"),
    "broker_account_number": ("broker account number", "מספר חשבון המתווך", "מספר חשבון מתווך"),
}
# Company numbers go to `national_id` too, and imply `id_type=company`.
_COMPANY_NUMBER_HEADERS = (
    "company number",
    "company id",
    "company registration number",
    "vat",
    "vat number",
    "hp",
    "ח.פ.",
    'ח"פ',
    "מספר חברה",
    "עוסק מורשה",
    'ע"מ',
    "מספר עוסק",
)

# Hebrew points and cantillation marks (niqqud): combining marks of the Hebrew block.
_NIQQUD = {cp: None for cp in range(0x0591, 0x05C8) if unicodedata.category(chr(cp)) == "Mn"}
# Invisible characters spreadsheets leave around Hebrew text: bidi marks and zero-width ones.
_INVISIBLE = {cp: None for cp in (0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2060, 0xFEFF, *range(0x202A, 0x202F), *range(0x2066, 0x206A))}
# Quotes, geresh (׳) and gershayim (״), and dots are dropped: ת"ז, ת.ז. and ת׳ז׳ all become תז.
_DROPPED = {ord(ch): None for ch in "'\"`\u2018\u2019\u201c\u201d\u05f3\u05f4."}
# Dashes (hyphen, en/em dash, Hebrew maqaf) and underscores separate words.
_SEPARATORS = {ord(ch): " " for ch in "-_\u2010\u2011\u2012\u2013\u2014\u2015\u05be"}
_HEADER_TABLE = _NIQQUD | _INVISIBLE | _DROPPED | _SEPARATORS
_SPACES = re.compile(r"\s+")
_LOST_ZERO = re.compile(r"[0-9]{8,9}")


class MappingError(Exception):
    """An explicit column mapping cannot be applied; `field` is the offending mapping key."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def normalise_header(text: str) -> str:
    """NFKC, casefolded, with quotes, geresh/gershayim, dots, niqqud and invisible bidi marks
    removed, dashes and underscores turned into spaces, runs of spaces collapsed and stripped:
    `' E-Mail '` -> `"e mail"`, `'ת"ז'` -> `"תז"`."""
    text = unicodedata.normalize("NFKC", text).translate(_HEADER_TABLE).casefold()
    return _SPACES.sub(" ", text).strip()


def _key(text: str) -> str:
    # Headers are compared without spaces, so "E-mail", "email" and "e mail" are one header.
    return normalise_header(text).replace(" ", "")


_BY_KEY: dict[str, str] = {_key(h): target for target, headers in _SYNONYMS.items() for h in headers}
_BY_KEY.update({_key(target): target for target in KNOWN_TARGETS})
_COMPANY_KEYS = frozenset(_key(h) for h in _COMPANY_NUMBER_HEADERS)
_BY_KEY.update(dict.fromkeys(_COMPANY_KEYS, "national_id"))


def is_known_target(target: str) -> bool:
    return target in KNOWN_TARGETS or (target.startswith(CUSTOM_PREFIX) and bool(target.removeprefix(CUSTOM_PREFIX).strip()))


def infer_columns(headers: list[str]) -> dict[int, str]:
    """Column index -> target for the headers recognised in English or Hebrew.

    Unknown headers are left out (their cells come back as raw attributes). A target already
    taken by an earlier column is not given twice: a further phone column takes the first free
    of `phone`, `phone2`, else `phones`; anything else stays unmapped. Pair with `implied_id_types` for company numbers.
    """
    columns: dict[int, str] = {}
    taken: set[str] = set()
    for index, header in enumerate(headers):
        target = _BY_KEY.get(_key(header))
        if target is None:
            continue
        target = _ALIASES.get(target, target)
        if target in taken:
            if target not in _PHONE_TARGETS:
                continue
            target = next((slot for slot in ("phone", "phone2") if slot not in taken), "phones")
        columns[index] = target
        taken.add(target)
    return columns


def implied_id_types(headers: list[str], columns: dict[int, str]) -> dict[int, str]:
    """Columns whose header says what kind of identifier they hold: a company-number header
    (ח.פ., VAT, ...) mapped to `national_id` implies `id_type=company` for its rows."""
    return {
        index: COMPANY
        for index, target in columns.items()
        if _ALIASES.get(target, target) == "national_id" and index < len(headers) and _key(headers[index]) in _COMPANY_KEYS
    }


def explicit_columns(headers: list[str], mapping: dict[str, str]) -> dict[int, str]:
    """Column index -> target from a user's `{header text: target}` mapping.

    Header texts are compared after `normalise_header` (and without spaces); a key naming
    several identical headers maps them all. Raises `MappingError` naming the first key that
    matches no header or whose target is neither a known name nor `fields.X`.
    """
    by_key: dict[str, list[int]] = {}
    for index, header in enumerate(headers):
        by_key.setdefault(_key(header), []).append(index)
    columns: dict[int, str] = {}
    for name, target in mapping.items():
        target = target.strip()
        if not is_known_target(target):
            raise MappingError(name, f"unknown target {target!r}: use a lead field name or fields.<custom field>")
        indexes = by_key.get(_key(name))
        if not indexes:
            raise MappingError(name, "no column has this header")
        for index in indexes:
            columns[index] = target
    return columns


def restore_leading_zero(phone: str) -> str:
    """Excel drops the leading zero of Israeli numbers kept as numbers: 501234567 -> 0501234567."""
    parts = [part.strip() for part in phone.split(",")]
    return ", ".join("0" + part if _LOST_ZERO.fullmatch(part) and not part.startswith(("0", "972")) else part for part in parts)


def _clean_cell(value: str) -> str:
    return value.translate(_INVISIBLE).strip()


def row_to_form(row: list[str], columns: dict[int, str], headers: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """(form for `lead_from_form` with an empty mapping, raw leftovers keyed by header).

    Empty cells are dropped. Phones, e-mails and tags from several columns are joined, in
    column order, under `phones`, `emails` and `tags`; phones get their lost leading zero back.
    Several columns on one scalar target: `notes` are joined by new lines, otherwise the first
    non-empty value wins and the others are kept in `raw`. A company-number column with a value
    adds `id_type=company` unless the row has its own `id_type`. Cells beyond the header row, or
    under an empty header, are keyed `column N` (1-based) in `raw`.
    """
    form: dict[str, str] = {}
    raw: dict[str, str] = {}
    id_types = implied_id_types(headers, columns)
    implied: str | None = None
    for index, cell in enumerate(row):
        value = _clean_cell(cell)
        if not value:
            continue
        target = columns.get(index)
        if target is not None:
            target = _ALIASES.get(target, target)
            if target in _PHONE_TARGETS:
                value = restore_leading_zero(value)
            key = _LIST_KEYS.get(target, target)
            if key not in form:
                form[key] = value
                if index in id_types:
                    implied = id_types[index]
                continue
            if key in _LIST_KEYS.values():
                form[key] = f"{form[key]}, {value}"
                continue
            if key == "notes":
                form[key] = f"{form[key]}\n{value}"
                continue
        header = _clean_cell(headers[index]) if index < len(headers) else ""
        name = header or f"column {index + 1}"
        if name in raw:
            name = f"{name} (column {index + 1})"
        raw[name] = value
    if implied is not None:
        form.setdefault("id_type", implied)
    return form, raw
