"""Phone entries of cards and contacts: E.164 beside the spelling a person typed."""

import phonenumbers


def to_e164(value: str, region: str) -> str | None:
    """The E.164 form of a possible number, or None (kept as typed: never dropped)."""
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) if phonenumbers.is_possible_number(parsed) else None
