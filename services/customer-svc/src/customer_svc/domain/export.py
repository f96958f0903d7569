"""What an export of cards holds (seed 000, DESIGN 4.9), as pure rules: the columns a role may
take away, one card's cells, and the neutralising of cells a spreadsheet would run.

- Columns: the card's exportable fields in a fixed order, then one `fields.<key>` column per
  custom field definition of the workspace (in their order); a column whose field the role
  hides is left out (`crm_runtime.permissions.field_access`), so it never leaves the service.
- Cells are text, numbers or booleans (`None` is an empty cell). Dates are ISO 8601 text (a
  spreadsheet's date type has no time zone). Lists (phones with the primary first, e-mails,
  tags, a multi select's values) are joined with `"; "`.
- OWASP "CSV injection": a text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage
  return gets a leading `'`, so neither Excel nor LibreOffice evaluates it (in CSV and in
  XLSX, where it is written as text). Numbers and booleans are typed values, never formulas.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final
from uuid import UUID

from crm_contracts.permissions import CUSTOM_FIELDS, FieldAccess, RolePermissions
from crm_runtime.permissions import field_access

FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
LIST_SEPARATOR: Final = "; "
FORMATS: Final = ("csv", "xlsx")

Cell = str | int | float | bool | None


def neutralised(text: str) -> str:
    """`text` as a cell no spreadsheet evaluates (OWASP CSV injection)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def cell(value: Any) -> Cell:
    """A stored value as one cell: typed numbers and booleans, everything else neutralised text."""
    if value is None:
        return None
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return neutralised(LIST_SEPARATOR.join(str(text_of(item)) for item in value if item is not None)) if value else None
    if isinstance(value, Mapping):
        return neutralised(str(text_of(value)))
    return neutralised(str(value))


def text_of(item: Any) -> Any:
    """A list member's text: a phone or e-mail entry's value, else the item."""
    if isinstance(item, Mapping):
        return item.get("value", "") if "value" in item else ", ".join(f"{k}={v}" for k, v in item.items())
    return item


def primary_first(entries: Sequence[Mapping[str, Any]] | None) -> list[Mapping[str, Any]]:
    """Phone or e-mail entries with the primary one first (otherwise as stored)."""
    items = list(entries or [])
    return sorted(items, key=lambda entry: not entry.get("primary"))


def _entries(name: str) -> Callable[[Mapping[Any, Any]], Any]:
    return lambda row: primary_first(row.get(name))


def _column(name: str) -> Callable[[Mapping[Any, Any]], Any]:
    return lambda row: row.get(name)


# (field path = column header, how the value is read from a card row), in the file's order.
BUILT_IN: Final[tuple[tuple[str, Callable[[Mapping[Any, Any]], Any]], ...]] = (
    ("number", _column("number")),
    ("card_type", _column("card_type")),
    ("status", _column("status")),
    ("first_name", _column("first_name")),
    ("last_name", _column("last_name")),
    ("company_name", _column("company_name")),
    ("id_type", _column("id_type")),
    ("national_id", _column("national_id")),
    ("branch", _column("branch")),
    ("phones", _entries("phones")),
    ("emails", _entries("emails")),
    ("tags", _column("tags")),
    ("folder", _column("folder")),
    ("owner_id", _column("owner_id")),
    ("created_by", _column("created_by")),
    ("created_at", _column("created_at")),
    ("last_contact_at", _column("last_contact_at")),
    ("next_contact_at", _column("next_contact_at")),
)
# The card columns an export reads (custom fields come from `fields`).
SOURCE_COLUMNS: Final = tuple(name for name, _ in BUILT_IN) + (CUSTOM_FIELDS,)


@dataclass(frozen=True)
class Column:
    header: str  # the field path: `national_id`, `fields.colour`
    read: Callable[[Mapping[Any, Any]], Any]


def _custom(key: str) -> Callable[[Mapping[Any, Any]], Any]:
    return lambda row: (row.get(CUSTOM_FIELDS) or {}).get(key)


def columns(perms: RolePermissions, custom_keys: Iterable[str]) -> list[Column]:
    """The export's columns for a role: the built-in ones, then `fields.<key>` per custom field,
    without those the role hides."""
    wanted = [Column(name, read) for name, read in BUILT_IN]
    wanted += [Column(f"{CUSTOM_FIELDS}.{key}", _custom(key)) for key in custom_keys]
    return [c for c in wanted if field_access(perms, c.header) is not FieldAccess.HIDDEN]


def header(chosen: Sequence[Column]) -> list[Cell]:
    return [c.header for c in chosen]


def cells(chosen: Sequence[Column], row: Mapping[Any, Any]) -> list[Cell]:
    """One card row (a mapping of its columns) as the export's cells."""
    return [cell(c.read(row)) for c in chosen]


def file_name(workspace: str, day: date, fmt: str) -> str:
    """`customers-<workspace>-<YYYY-MM-DD>.<fmt>`, the workspace reduced to characters every
    `Content-Disposition` reader takes (letters, digits, `.`, `_`, `-`; others become `_`)."""
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "._-") else "_" for ch in workspace)
    return f"customers-{safe}-{day.isoformat()}.{fmt}"
