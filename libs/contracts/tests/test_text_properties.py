"""Properties of the one text rule (crm_contracts.text) over generated text and JSON.

unstorable(s) is exactly "PostgreSQL or UTF-8 cannot keep s" (a NUL, or a surrogate code point
that no UTF-8 encoder accepts); find_unstorable names exactly the paths of such strings, keys
included, in the one field notation (`contacts[0].emails[2]`, `fields.colour`).
"""

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_contracts.text import field_path, find_unstorable, unstorable

pytestmark = pytest.mark.unit

PROPERTIES = settings(max_examples=200, deadline=None)

# Any code point, surrogates included (hypothesis leaves them out of text by default), with
# the two kinds of trouble drawn often enough to matter.
ANY_CHAR = st.one_of(
    st.characters(exclude_categories=()),
    st.sampled_from(["\x00", "\ud800", "\udbff", "\udc00", "\udfff", "\x01", "\x7f", "\ufffd", "\U0010ffff", "א"]),
)
ANY_TEXT = st.text(ANY_CHAR, max_size=20)
CLEAN_TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=10)
BAD_TEXT = st.builds(lambda a, bad, b: a + bad + b, CLEAN_TEXT, st.sampled_from(["\x00", "\ud800", "\udfff", "\udc00"]), CLEAN_TEXT)
# Keys that the notation can be read back from: no dots or brackets in them.
SAFE_KEY = st.text(st.characters(exclude_categories=["Cs"], exclude_characters=".[]\x00"), min_size=1, max_size=8)
KEY = st.one_of(SAFE_KEY, st.builds(lambda k, bad: k + bad, SAFE_KEY, st.sampled_from(["\x00", "\ud800"])))
LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), CLEAN_TEXT, BAD_TEXT)
JSON = st.recursive(LEAF, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEY, inner, max_size=4)), max_leaves=25)


def storable_in_postgres(s: str) -> bool:
    """What PostgreSQL's text and jsonb accept from a client: UTF-8 without NUL."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in s


@PROPERTIES
@given(ANY_TEXT)
def test_unstorable_is_exactly_what_utf8_and_postgres_cannot_keep(s: str) -> None:
    assert unstorable(s) is not storable_in_postgres(s)
    assert unstorable(s) is any(c == "\x00" or 0xD800 <= ord(c) <= 0xDFFF for c in s)


@PROPERTIES
@given(CLEAN_TEXT, st.sampled_from(["\x00", "\ud800", "\udfff"]), CLEAN_TEXT)
def test_one_bad_character_anywhere_makes_text_unstorable(before: str, bad: str, after: str) -> None:
    assert not unstorable(before + after)
    assert unstorable(before + bad + after)


def expected_paths(value: Any) -> list[str]:
    """The oracle: an explicit-stack walk that spells paths by the notation's own rules."""
    out: list[str] = []
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            if "\x00" in node or re.search("[\ud800-\udfff]", node):
                out.append(path)
        elif isinstance(node, dict):
            for key, item in node.items():
                child = f"{path}.{key}" if path else key
                if "\x00" in key or re.search("[\ud800-\udfff]", key):
                    out.append(child)
                stack.append((child, item))
        elif isinstance(node, list | tuple):
            for index, item in enumerate(node):
                stack.append((f"{path}[{index}]", item))
    return out


_STEP = re.compile(r"\[(\d+)\]|\.?([^.\[\]]+)")


def resolve(value: Any, path: str) -> list[tuple[Any, Any]]:
    """(container, key-or-index) steps that `path` names in `value` (keys have no dots or brackets)."""
    steps: list[tuple[Any, Any]] = []
    position = 0
    while position < len(path):
        match = _STEP.match(path, position)
        assert match, f"{path!r} is not in the field notation at {position}"
        part: Any = int(match[1]) if match[1] is not None else match[2]
        assert isinstance(value, list if isinstance(part, int) else dict), f"{path!r}: step {part!r} does not fit {type(value)}"
        steps.append((value, part))
        value = value[part]
        position = match.end()
    return steps


@PROPERTIES
@given(JSON)
def test_find_unstorable_names_exactly_the_unstorable_strings(value: Any) -> None:
    found = list(find_unstorable(value))
    assert sorted(found) == sorted(expected_paths(value))
    for path in found:
        steps = resolve(value, path)
        if not steps:  # the value itself is a string
            assert isinstance(value, str) and unstorable(value)
            continue
        container, last = steps[-1]
        named = container[last]
        assert (isinstance(named, str) and unstorable(named)) or (isinstance(last, str) and unstorable(last))


@PROPERTIES
@given(JSON)
def test_clean_json_has_no_unstorable_paths(value: Any) -> None:
    def clean(node: Any) -> Any:
        if isinstance(node, str):
            return re.sub("[\x00\ud800-\udfff]", "", node)
        if isinstance(node, dict):
            return {clean(k): clean(v) for k, v in node.items()}
        if isinstance(node, list):
            return [clean(v) for v in node]
        return node

    assert list(find_unstorable(clean(value))) == []


@PROPERTIES
@given(st.lists(st.one_of(SAFE_KEY, st.integers(0, 10_000)), max_size=6))
def test_field_path_dots_keys_and_brackets_indexes(loc: list[Any]) -> None:
    path = field_path(tuple(loc))
    expected = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(loc))
    assert path == expected
    assert ".[" not in path and "].[" not in path
    # Read back: the same steps in the same order.
    parts = [int(m[1]) if m[1] is not None else m[2] for m in _STEP.finditer(path)]
    assert parts == loc


def test_tuples_are_walked_like_lists() -> None:
    assert list(find_unstorable({"phones": ("ok", "a\x00b")})) == ["phones[1]"]
    assert list(find_unstorable({"a\x00": "b\ud800"})) == ["a\x00", "a\x00"]  # the key and its value
