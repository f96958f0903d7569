"""What the store can keep: text without NUL or lone surrogates (`crm_contracts.text`) and
whole numbers within 64 bits (the JSON encoder of JSONB columns, and BIGINT columns).

Every value a person or another service hands in meets these checks before any statement
is built from it, so a bad value is a `422` (or a dead-lettered event) naming its field,
never a failed transaction.
"""

from collections.abc import Iterator
from typing import Any

from crm_contracts.text import UNSTORABLE_MESSAGE, field_path, find_unstorable

INT64_MAX = 2**63 - 1
OUT_OF_RANGE = "is a number too large to store (beyond 64 bits)"


def find_out_of_range(value: Any, loc: tuple[Any, ...] = ()) -> Iterator[str]:
    """Field paths of every whole number in a JSON-like value that 64 bits cannot hold."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not -INT64_MAX - 1 <= value <= INT64_MAX:
            yield field_path(loc)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from find_out_of_range(item, (*loc, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from find_out_of_range(item, (*loc, index))


def storable_problems(value: Any, loc: tuple[Any, ...] = ()) -> list[tuple[str, str]]:
    """(field, message) for every part of `value` the store cannot keep; empty when all can."""
    problems = [(path, UNSTORABLE_MESSAGE) for path in find_unstorable(value, loc)]
    return problems + [(path, OUT_OF_RANGE) for path in find_out_of_range(value, loc)]
