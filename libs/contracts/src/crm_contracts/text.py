"""The one rule for text that crosses the edge of any service.

PostgreSQL cannot store a NUL character in `text` or `jsonb`, and UTF-8 cannot encode a
lone surrogate (JSON may spell one as `\\ud800`). Either would fail the statement that tries
to store it, far from the request that brought it, so every edge (HTTP bodies, query and
path parameters, form fields, import cells, inbound topics) refuses such text up front and
names the field.

Field paths use one notation everywhere: keys joined by dots, list indexes in brackets
(`phones[1]`, `fields.colour`, `contacts[0].emails[2]`).
"""

import re
from collections.abc import Iterator
from typing import Any

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_MESSAGE = "contains a character that cannot be stored (NUL or an unpaired surrogate)"


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
