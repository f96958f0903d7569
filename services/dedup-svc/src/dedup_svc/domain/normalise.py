"""Normalised identifiers: the only form in which identities are stored and compared."""

from dataclasses import dataclass

import phonenumbers


@dataclass(frozen=True, order=True)
class IdentityKey:
    kind: str  # "email" | "phone" | "national_id"
    value: str


def email(raw: str) -> str | None:
    value = raw.strip().lower()
    return value if "@" in value and len(value) >= 3 else None


def phone(raw: str, region: str = "IL") -> str | None:
    """E.164 for anything phonenumbers can parse as a possible number; None otherwise."""
    text = raw.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    digits = "".join(ch for ch in text if ch.isdigit())
    if not digits:
        return None
    try:
        parsed = phonenumbers.parse(text, region)
        if not phonenumbers.is_possible_number(parsed) and not text.startswith("+"):
            parsed = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        try:
            parsed = phonenumbers.parse("+" + digits, None)
        except phonenumbers.NumberParseException:
            return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def national_id(raw: str) -> str | None:
    digits = "".join(ch for ch in raw if ch.isdigit())
    if not digits or len(digits) > 9:
        return None
    return digits.zfill(9)


def identity_keys(emails: list[str], phones: list[str], nid: str | None, region: str = "IL") -> list[IdentityKey]:
    keys: set[IdentityKey] = set()
    keys.update(IdentityKey("email", v) for v in map(email, emails) if v)
    keys.update(IdentityKey("phone", v) for v in (phone(p, region) for p in phones) if v)
    if nid and (value := national_id(nid)):
        keys.add(IdentityKey("national_id", value))
    return sorted(keys)
