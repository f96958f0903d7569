"""Edge validation of a lead's identifiers (DESIGN 4.5): reject what can never match, keep the rest.

Pure: no I/O. The lead comes back with its identifiers stripped of surrounding whitespace and
otherwise as sent; normalising (E.164, lower-case e-mails, padded IDs) is the matcher's job.
A phone is accepted when dedup-svc can key it (valid, or possible and of a shape its country
uses); one that is possible but not allocated is kept and flagged downstream, never dropped.
"""

import re
import unicodedata
from functools import cache

import phonenumbers
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, ValidationError
from stdnum.il import hp, idnr

from crm_contracts.fields import UNKNOWN_FIELD, FieldDefinition, check_fields
from crm_contracts.leads import IdType, Lead
from crm_contracts.text import storable_problems
from intake_svc.domain.capture import LeadRejected

# Besides digits, a phone may carry these separators (and a single leading "+").
_PHONE_SEPARATORS = frozenset(" -.()/\u00a0")
# Bidirectional marks that Hebrew text editors put around numbers (LRM, RLM, LRE..RLO, LRI..PDI).
_BIDI_MARKS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_PHONE_REASONS = {
    phonenumbers.ValidationResult.TOO_SHORT: "too short to be a phone number",
    phonenumbers.ValidationResult.TOO_LONG: "too long to be a phone number",
    phonenumbers.ValidationResult.INVALID_LENGTH: "not a possible length for a phone number of its country",
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "unknown country calling code",
    phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "a local number: add its area code",
}
_PARSE_REASONS = {
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short to be a phone number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short to be a phone number",
    phonenumbers.NumberParseException.TOO_LONG: "too long to be a phone number",
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country calling code",
}

EMAIL_MAX = 254
EMAIL_LOCAL_MAX = 64
_LABEL_MAX = 63
_NATIONAL_ID_DIGITS = 9


def validate_lead(lead: Lead, region: str = "IL") -> Lead:
    """The lead with whitespace-stripped identifiers, or `LeadRejected` naming every bad field.

    Fields are named as the client sent them, with the index in lists: `phones[1]`, `emails[0]`,
    `national_id`, `fields.colour`. Text no store can keep (a NUL, an unpaired surrogate) is
    refused wherever it is; so are custom numbers JSON cannot carry or PostgreSQL cannot hold.
    An empty `national_id` counts as not sent; an empty list entry is rejected.
    """
    errors = storage_problems(lead)
    unstorable = {field for field, _ in errors}
    phones = [value.strip() for value in lead.phones]
    for index, value in enumerate(phones):
        if f"phones[{index}]" not in unstorable and (problem := phone_problem(value, region)):
            errors.append((f"phones[{index}]", problem))
    emails = [value.strip() for value in lead.emails]
    for index, value in enumerate(emails):
        if f"emails[{index}]" not in unstorable and (problem := email_problem(value)):
            errors.append((f"emails[{index}]", problem))
    national_id = lead.national_id.strip() if lead.national_id is not None else None
    if national_id == "":
        national_id = None
    if national_id is not None and "national_id" not in unstorable and (problem := national_id_problem(national_id, lead.id_type)):
        errors.append(("national_id", problem))
    if errors:
        raise LeadRejected.of(errors)
    return lead.model_copy(update={"phones": phones, "emails": emails, "national_id": national_id})


def storage_problems(lead: Lead) -> list[tuple[str, str]]:
    """(field, message) for every value of the lead that no store can keep (the one store rule,
    `crm_contracts.text`): unstorable text anywhere (keys included), custom numbers that are
    not finite or beyond 64 bits."""
    return storable_problems(lead.model_dump(mode="python"))


# The twin of dedup-svc's `dedup_svc.domain.normalise._possible` / `parse_phone`: a phone
# intake accepts must be one dedup can key, or it would be stored and never match
# (tests/contract/test_identifier_rules_agree.py holds the two to it). Services cannot import
# each other and crm_contracts is data only (no phonenumbers), so the rule is mirrored here.
_ISRAEL_CALLING_CODE = "972"


@cache
def _national_pattern(country_code: int) -> re.Pattern[str] | None:
    """The country's general number shape (all types' leading digits and lengths), from phonenumbers metadata."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(
        country_code, phonenumbers.region_code_for_country_code(country_code)
    )
    if metadata is None or metadata.general_desc is None or not metadata.general_desc.national_number_pattern:
        return None
    return re.compile(metadata.general_desc.national_number_pattern)


def _keyable_problem(text: str, region: str | None) -> str | None:
    """Why dedup could not key `text` read in `region`, or None when it can: a valid number,
    or a possible one of a shape its country uses (an unallocated range is kept and flagged)."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        return _PARSE_REASONS.get(exc.error_type, "not a phone number")
    if phonenumbers.is_valid_number(number):
        return None
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible != phonenumbers.ValidationResult.IS_POSSIBLE:
        return _PHONE_REASONS.get(possible, "not a phone number")
    pattern = _national_pattern(number.country_code)
    if pattern is not None and pattern.fullmatch(phonenumbers.national_significant_number(number)):
        return None
    return _NOT_IN_PLAN


_NOT_IN_PLAN = "not a number of its country's numbering plan (a wrong prefix or length, or a local number without its area code)"


def phone_problem(value: str, region: str = "IL") -> str | None:
    """Why `value` is not a phone number dedup-svc can key, or None when it is.

    The parse is dedup-svc's normaliser's: `00` becomes `+`; a number is read in `region`
    unless it carries its own country; a bare `972...` that is no national number of `region`
    is read as Israeli international form (`972501234567`). A number is kept when it is valid,
    or possible and of a shape its country uses (an unallocated range: flagged downstream,
    never dropped); a wrong length or prefix, or a local number without its area code, is
    refused with the reason.
    """
    if not value:
        return "must not be empty"
    bare = "".join(ch for ch in value if ch not in _BIDI_MARKS)
    body = bare[1:] if bare.startswith("+") else bare
    if any(not (ch.isdecimal() or ch in _PHONE_SEPARATORS) for ch in body):
        return "may contain only digits, spaces, dashes, dots, brackets and a leading +"
    digits = "".join(ch for ch in body if ch.isdecimal())
    if not digits:
        return "must contain digits"
    text = "+" + bare[2:] if bare.startswith("00") else bare
    reason = _keyable_problem(text, region.upper())
    if reason is not None and not text.startswith("+") and digits.startswith(_ISRAEL_CALLING_CODE):
        if _keyable_problem("+" + digits, None) is None:
            return None
    return reason


def email_problem(value: str) -> str | None:
    """Why `value` is not a plausible e-mail address, or None when it is.

    Pragmatic, not RFC 5322: one `@`, a local part of 1-64 characters, a domain of dot-separated
    labels (letters and marks of any script, digits, inner hyphens) ending in a TLD of at least two letters
    or an IDNA `xn--` label, no whitespace, at most 254 characters.
    """
    if not value:
        return "must not be empty"
    if len(value) > EMAIL_MAX:
        return f"longer than {EMAIL_MAX} characters"
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        return "must not contain spaces or control characters"
    if value.count("@") != 1:
        return "must contain exactly one @"
    local, domain = value.split("@")
    if not local:
        return "missing the part before @"
    if len(local) > EMAIL_LOCAL_MAX:
        return f"the part before @ is longer than {EMAIL_LOCAL_MAX} characters"
    labels = domain.split(".")
    if len(labels) < 2:
        return "the domain needs a dot"
    for label in labels:
        if not label or len(label) > _LABEL_MAX or label[0] == "-" or label[-1] == "-":
            return "the domain is malformed"
        if not all(ch == "-" or unicodedata.category(ch)[0] in "LMN" for ch in label):
            return "the domain is malformed"
    tld = labels[-1]
    is_word = len(tld) >= 2 and tld[0].isalpha() and all(unicodedata.category(ch)[0] in "LM" for ch in tld)
    if not (is_word or tld.lower().startswith("xn--")):
        return "the domain needs a top-level domain of at least two letters"
    return None


def national_id_problem(value: str, id_type: IdType | None) -> str | None:
    """Why `value` is not a valid Israeli ID (or company number, for `company`), or None.

    Spaces and dashes are ignored; at most 9 digits, left-padded to 9; the check digit is Luhn's
    (python-stdnum `il.idnr`, or `il.hp` which also requires a company number to start with 5).
    """
    compact = value.replace(" ", "").replace("-", "")
    if not compact or not all("0" <= ch <= "9" for ch in compact):
        return "may contain only digits, spaces and dashes"
    if len(compact) > _NATIONAL_ID_DIGITS:
        return f"at most {_NATIONAL_ID_DIGITS} digits"
    padded = compact.zfill(_NATIONAL_ID_DIGITS)
    try:
        (hp if id_type is IdType.COMPANY else idnr).validate(padded)
    except InvalidChecksum:
        return "invalid check digit"
    except InvalidComponent:
        return "a company number starts with 5"
    except InvalidFormat:
        return "must not be all zeros"
    except ValidationError:
        return "not a valid number"
    return None


def check_custom_fields(lead: Lead, definitions: list[FieldDefinition]) -> Lead:
    """The lead with its custom values in their stored form, or `LeadRejected` naming every
    value a definition refuses. Keys no definition knows pass: customer-svc keeps them aside."""
    clean, errors = check_fields(definitions, lead.fields, "lead")
    refused = [
        (error.field, error.message)
        for error in errors
        if lead.fields.get(error.field.removeprefix("fields.")) is not None and error.message != UNKNOWN_FIELD
    ]
    if refused:
        raise LeadRejected.of(refused)
    return lead.model_copy(update={"fields": {**lead.fields, **{k: v for k, v in clean.items() if v is not None}}})
