"""Custom field definitions (DESIGN 4.1) and the check every write path applies to values.

customer-svc owns the definitions; the check lives here so that every service that takes
values in (customer-svc for people and decisions, intake-svc at the edge) reads them alike.
"""

import math
import re
from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, model_validator

CARD_TYPES = ("lead", "customer", "business_partner", "supplier", "service_provider", "employee")
UNKNOWN_FIELD = "no such custom field in this workspace"
KEY_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"


class FieldKind(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    CHECKBOX = "checkbox"
    SINGLE_SELECT = "single_select"
    MULTI_SELECT = "multi_select"


class FieldDefinition(BaseModel):
    key: str = Field(pattern=KEY_PATTERN, description="The name values are stored under in `fields`.")
    label: str = Field(min_length=1, max_length=200)
    label_he: str | None = Field(default=None, max_length=200)
    kind: FieldKind
    options: list[str] = Field(default_factory=list, max_length=500, description="Select kinds: the allowed values.")
    mandatory: bool = False
    card_types: list[str] | None = Field(default=None, min_length=1, description="Card types the field applies to; null = every type.")
    max_length: int = Field(default=2000, ge=1, le=100_000, description="Text kind: the longest value accepted.")

    @model_validator(mode="after")
    def _consistent(self) -> "FieldDefinition":
        selecting = self.kind in (FieldKind.SINGLE_SELECT, FieldKind.MULTI_SELECT)
        if selecting and not self.options:
            raise ValueError("a select field needs at least one option")
        if not selecting and self.options:
            raise ValueError("only select fields take options")
        if len(set(self.options)) != len(self.options):
            raise ValueError("options must be distinct")
        for card_type in self.card_types or ():
            if card_type not in CARD_TYPES:
                raise ValueError(f"unknown card type {card_type!r}; one of {', '.join(CARD_TYPES)}")
        return self

    def applies_to(self, card_type: str) -> bool:
        return self.card_types is None or card_type in self.card_types


class FieldError(BaseModel):
    field: str = Field(description="`fields.<key>`.")
    message: str


# Commas only as thousands separators: "1,200.50" yes; "1.200,50" and "1,2" are not numbers.
_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
_TRUE = {"true", "1", "yes", "on", "כן", "v", "x"}
_FALSE = {"false", "0", "no", "off", "לא", ""}


def _coerce(definition: FieldDefinition, value: Any) -> Any:
    """The stored form of `value`, or ValueError saying what is wrong."""
    kind = definition.kind
    if kind is FieldKind.TEXT:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError("must be text")
        text = str(value)
        if len(text) > definition.max_length:
            raise ValueError(f"longer than {definition.max_length} characters")
        return text
    if kind is FieldKind.NUMBER:
        if isinstance(value, bool):
            raise ValueError("must be a number")
        if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
            return value
        if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
            text = value.strip().replace(",", "")
            return float(text) if "." in text else int(text)
        raise ValueError("must be a number")
    if kind is FieldKind.DATE:
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip()).isoformat()
            except ValueError:
                pass
        raise ValueError("must be a date as YYYY-MM-DD")
    if kind is FieldKind.CHECKBOX:
        if isinstance(value, bool):
            return value
        if isinstance(value, str | int) and str(value).strip().lower() in _TRUE | _FALSE:
            return str(value).strip().lower() in _TRUE
        raise ValueError("must be true or false")
    if kind is FieldKind.SINGLE_SELECT:
        if not isinstance(value, str) or value not in definition.options:
            raise ValueError(f"must be one of: {', '.join(definition.options)}")
        return value
    values = [v.strip() for v in value.split(",")] if isinstance(value, str) else value
    if not isinstance(values, list) or any(not isinstance(v, str) or v not in definition.options for v in values):
        raise ValueError(f"must be a list of: {', '.join(definition.options)}")
    return list(dict.fromkeys(values))


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def check_fields(definitions: list[FieldDefinition], values: dict[str, Any], card_type: str) -> tuple[dict[str, Any], list[FieldError]]:
    """Validate and normalise `values` against the workspace's definitions for `card_type`.

    Returns the clean values and one error per bad field. Unknown keys and keys of fields that
    do not apply to the card type are errors; an empty value clears the field (None).
    """
    by_key = {d.key: d for d in definitions}
    clean: dict[str, Any] = {}
    errors: list[FieldError] = []
    for key, value in values.items():
        definition = by_key.get(key)
        if definition is None:
            errors.append(FieldError(field=f"fields.{key}", message=UNKNOWN_FIELD))
        elif not definition.applies_to(card_type):
            errors.append(FieldError(field=f"fields.{key}", message=f"does not apply to card type {card_type}"))
        elif _empty(value):
            clean[key] = None
        else:
            try:
                clean[key] = _coerce(definition, value)
            except ValueError as error:
                errors.append(FieldError(field=f"fields.{key}", message=str(error)))
    return clean, errors


def missing_mandatory(definitions: list[FieldDefinition], values: dict[str, Any], card_type: str) -> list[FieldError]:
    """One error per mandatory field of `card_type` without a value in `values` (the whole card's fields)."""
    return [
        FieldError(field=f"fields.{d.key}", message="is mandatory")
        for d in definitions
        if d.mandatory and d.applies_to(card_type) and _empty(values.get(d.key))
    ]
