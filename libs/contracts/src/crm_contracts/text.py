"""The one rule for what the stores can keep, applied at the edge of every service.

PostgreSQL cannot store a NUL character in `text` or `jsonb`, and UTF-8 cannot encode a
lone surrogate (JSON may spell one as `\\ud800`). Either would fail the statement that tries
to store it, far from the request that brought it, so every edge (HTTP bodies, query and
path parameters, form fields, import cells, inbound topics) refuses such text up front and
names the field. Whole numbers beyond 64 bits and non-finite floats cannot be written to a
JSONB column either (its JSON encoder, orjson, refuses the one and writes `null` for the
other), so they are refused the same way.

Field paths use one notation everywhere: keys joined by dots, list indexes in brackets
(`phones[1]`, `fields.colour`, `contacts[0].emails[2]`).
"""

import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_MESSAGE = "contains a character that cannot be stored (NUL or an unpaired surrogate)"

# The whole numbers a JSONB column's encoder (orjson) writes: signed and unsigned 64 bits.
INT_MIN, INT_MAX = -(2**63), 2**64 - 1
OUT_OF_RANGE_MESSAGE = "is a number that cannot be stored (not finite, or beyond 64 bits)"


def unstorable(value: str) -> bool:
    """True when `value` holds a character no store of ours can keep."""
    return _UNSTORABLE.search(value) is not None


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """`("contacts", 0, "phones", 1)` → `contacts[0].phones[1]`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def find_unstorable(value: Any, loc: tuple[Any, ...] = ()) -> Iterator[str]:
    """Field paths of every unstorable string in a JSON-like value (keys included)."""
    if isinstance(value, str):
        if unstorable(value):
            yield field_path(loc)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and unstorable(key):
                yield field_path((*loc, key))
            yield from find_unstorable(item, (*loc, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from find_unstorable(item, (*loc, index))


def find_out_of_range(value: Any, loc: tuple[Any, ...] = ()) -> Iterator[str]:
    """Field paths of every number in a JSON-like value the store cannot keep: a whole number
    beyond 64 bits, a float that is not finite."""
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            yield field_path(loc)
    elif isinstance(value, float):
        if not math.isfinite(value):
            yield field_path(loc)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from find_out_of_range(item, (*loc, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from find_out_of_range(item, (*loc, index))


def storable_problems(value: Any, loc: tuple[Any, ...] = ()) -> list[tuple[str, str]]:
    """(field, message) for every part of a JSON-like value the store cannot keep (text, then
    numbers); empty when all of it can."""
    problems = [(path, UNSTORABLE_MESSAGE) for path in find_unstorable(value, loc)]
    return problems + [(path, OUT_OF_RANGE_MESSAGE) for path in find_out_of_range(value, loc)]


# --- pydantic types ---------------------------------------------------------------------


def _storable_text(value: str) -> str:
    if unstorable(value):
        raise ValueError(UNSTORABLE_MESSAGE)
    return value


# The text rule as a validator: put it after any `StringConstraints` (strip first, then check),
# `Annotated[str, StringConstraints(max_length=200), STORABLE]`.
STORABLE = AfterValidator(_storable_text)
# Text a store can keep: a 422 naming the field, never a failed statement.
StorableStr = Annotated[str, STORABLE]

# A moment every layer can hold (Python's datetime ends at year 9999 in UTC, whatever the offset).
EARLIEST, LATEST = datetime(1900, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC)


def _in_range(value: datetime) -> datetime:
    if not EARLIEST <= value <= LATEST:
        raise ValueError(f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
    return value


Moment = Annotated[AwareDatetime, AfterValidator(_in_range)]
