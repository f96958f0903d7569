"""Which text a refused field gets: decided by the problem's kind and the field, never by the
English detail (it is not shown). `field_texts` returns message keys per field name as the form
names its inputs (`phones[1]`, `fields.colour`)."""

import re
from collections.abc import Iterable

_INDEX = re.compile(r"\[\d+\]")

# The family of a field (indexes dropped) -> the text its refusal shows.
_BY_FIELD = {
    "phones": "error.phone",
    "phones.value": "error.phone",
    "emails": "error.email",
    "emails.value": "error.email",
    "national_id": "error.national_id",
}


def family(field: str) -> str:
    return _INDEX.sub("", field)


def field_text(kind: str, field: str, message: str = "") -> str:
    """The message key for one refused field."""
    if kind == "forbidden" or kind == "field-forbidden":
        return "error.forbidden_field"
    lowered = message.lower()
    if "required" in lowered or "missing" in lowered:
        return "error.required"
    if "at most" in lowered and "character" in lowered:
        return "error.too_long"
    named = _BY_FIELD.get(family(field)) or _BY_FIELD.get(family(field).split(".")[0])
    return named or "error.invalid"


def field_texts(kind: str, errors: Iterable[tuple[str, str]]) -> dict[str, str]:
    """field -> message key, first refusal of each field wins."""
    texts: dict[str, str] = {}
    for field, message in errors:
        texts.setdefault(field, field_text(kind, field, message))
    return texts


def page_text(kind: str, status: int) -> str:
    """The message key for a refusal that names no field."""
    if status == 409:
        return "error.conflict"
    if status == 413:
        return "error.too_large"
    if status == 429:
        return "error.rate_limited"
    if status == 403:
        return "state.forbidden.title"
    if status == 404:
        return "state.not_found.title"
    return "error.form"
