"""Screen 7, imports: what the console makes of intake's import jobs (pure).

A job's status (`GET /v1/imports/{id}`) carries its state, its counters, the columns it inferred
(header → lead field) and its row errors (`row`: the sheet's row number, the header row being
1; `field`: the lead field, e.g. `phones[0]`). A row error is shown under the column it came
from: the header whose field it names."""

import re
from dataclasses import dataclass
from typing import Any, Final

from crm_console.domain.problems import field_text

# The duplicate policies intake takes for an upload, in the seed's order (001 "מנועי הייבוא"):
# skip, fill in what is missing, renew the found records as new leads.
POLICIES: Final = ("skip", "fill_missing", "reset_status")
DEFAULT_POLICY: Final = "skip"
FINISHED: Final = frozenset({"done", "failed"})
ACCEPT: Final = ".csv,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

_INDEX = re.compile(r"\[\d+\]$")
# A lead field as a row error names it → the field a column maps to (`phones[0]` came from `phone`).
_PLURALS: Final = {"phones": "phone", "emails": "email", "addresses": "address"}


def finished(job: dict[str, Any]) -> bool:
    return str(job.get("state")) in FINISHED


@dataclass(frozen=True)
class Progress:
    done: int
    total: int | None  # None: not counted yet (an indeterminate bar)
    percent: int | None


def progress(job: dict[str, Any]) -> Progress:
    done = int(job.get("rows_done") or 0)
    raw_total = job.get("rows_total")
    total = int(raw_total) if isinstance(raw_total, int) else None
    if total is None:
        return Progress(done, None, None)
    if finished(job) and job.get("state") == "done":
        done = max(done, total)
    percent = 100 if total == 0 else min(100, done * 100 // total)
    return Progress(min(done, total) if total else done, total, percent)


def _target(field: str) -> str:
    base = _INDEX.sub("", field.strip())
    head = base.split(".", 1)[0]
    if head == "fields" and "." in base:
        return base  # a custom field's column maps to `fields.<key>`
    return _PLURALS.get(head, head)


def column_of(field: str | None, columns: dict[str, str]) -> str | None:
    """The header of the column a row error's `field` came from; None when no column maps to it
    (the error is then about the row as a whole, or a field no column fed)."""
    if not field:
        return None
    wanted = _target(field)
    for header, target in columns.items():
        if target == field or _target(target) == wanted:
            return header
    return None


@dataclass(frozen=True)
class RowError:
    row: int
    column: str | None  # the header, when a column maps to the field
    field: str | None
    text: str  # the message key shown in the person's language
    detail: str  # intake's own words (English), kept as a secondary detail


def row_errors(job: dict[str, Any]) -> list[RowError]:
    columns = job.get("columns") if isinstance(job.get("columns"), dict) else {}
    found = []
    for error in job.get("errors") or []:
        if not isinstance(error, dict):
            continue
        field = error.get("field") if isinstance(error.get("field"), str) else None
        message = str(error.get("message") or "")
        found.append(
            RowError(
                row=int(error.get("row") or 0),
                column=column_of(field, columns or {}),
                field=field,
                text=field_text("invalid", field or "", message),
                detail=message,
            )
        )
    return sorted(found, key=lambda e: (e.row, e.column or e.field or ""))


def policy_or_default(value: str | None) -> str:
    return value if value in POLICIES else DEFAULT_POLICY


def import_channels(channels: Any) -> list[dict[str, Any]]:
    """The active import channels of an answer of `GET /v1/imports/channels` (import channels
    only, id and name) or `GET /v1/channels` (every kind)."""
    items = channels.get("items", []) if isinstance(channels, dict) else []
    return [c for c in items if isinstance(c, dict) and c.get("kind", "import") == "import" and c.get("active", True)]
