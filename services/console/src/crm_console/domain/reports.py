"""Screen 8, the manager's view: counts of cards by status, owner, source channel and affiliate
(customer-svc `GET /v1/customers/counts`), turned into labelled rows with their share (pure).

Labels: a status by its seed name (`status.<key>`), an owner by the rep's name (allocation-svc
reps), a channel by its name (intake-svc channels, for roles that may read them; else by its
kind), an affiliate by its name; a group with no key ("no owner", "no affiliate") by a text of
its own."""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final
from urllib.parse import urlencode

from crm_console.domain.i18n import Translator

DIMENSIONS: Final = ("status", "owner", "channel", "affiliate")


@dataclass(frozen=True)
class Row:
    key: str | None
    label: str  # text to show (user data or a translated text)
    translated: bool  # True: `label` is the console's own text; False: user data (shown in <bdi>)
    count: int
    percent: int  # share of the total, rounded down; the bar's length is relative to the largest
    bar: int
    href: str | None = None  # the search screen listing this group's cards


@dataclass(frozen=True)
class Counts:
    by: str
    rows: list[Row]
    total: int


def label_of(
    by: str,
    item: Mapping[str, Any],
    t: Translator,
    reps: Mapping[str, str],
    channels: Mapping[str, str],
) -> tuple[str, bool]:
    """(label, translated) for one group."""
    key = item.get("key")
    if by == "status":
        if key is None:
            return t("reports.none"), True
        status_key = f"status.{key}"
        return (t(status_key), True) if t.has(status_key) else (str(key), False)
    if by == "owner":
        if key is None:
            return t("reports.no_owner"), True
        return (reps[key], False) if key in reps else (t("reports.unknown_rep"), True)
    if by == "channel":
        if key is None:
            return t("reports.unknown_channel"), True
        if key in channels:
            return channels[key], False
        kind = str(item.get("kind") or key)
        kind_key = f"reports.kind.{kind}"
        return (t(kind_key), True) if t.has(kind_key) else (kind, False)
    if key is None:
        return t("reports.no_affiliate"), True
    label = item.get("label")
    name = str(label) if label else str(key)
    return (name if name == key else f"{name} ({key})"), False


def counts(answer: Any, t: Translator, reps: Mapping[str, str] | None = None, channels: Mapping[str, str] | None = None) -> Counts:
    body = answer if isinstance(answer, dict) else {}
    items = [i for i in body.get("items", []) if isinstance(i, dict)]
    total = int(body.get("total") or sum(int(i.get("count") or 0) for i in items))
    largest = max((int(i.get("count") or 0) for i in items), default=0)
    by = str(body.get("by") or "")
    rows = []
    for item in items:
        n = int(item.get("count") or 0)
        label, translated = label_of(by, item, t, reps or {}, channels or {})
        rows.append(
            Row(
                key=item.get("key"),
                label=label,
                translated=translated,
                count=n,
                percent=(n * 100 // total) if total else 0,
                bar=max(1, n * 100 // largest) if largest and n else 0,
            )
        )
    return Counts(by=by, rows=rows, total=total)


# The search screen's filter for a group of each dimension it can list (`None`: no owner).
_SEARCH_FILTER: Final = {"status": "status", "owner": "owner_id"}


def with_search_links(table: Counts, start: str = "", end: str = "") -> Counts:
    """Each group of a dimension the search screen filters by links to its cards there (with the
    same created range)."""
    name = _SEARCH_FILTER.get(table.by)
    if name is None:
        return table
    rows = []
    for row in table.rows:
        if row.key is None and table.by != "owner":
            rows.append(row)
            continue
        query = {name: row.key if row.key is not None else "none"}
        query.update({k: v for k, v in (("created_from", start), ("created_to", end)) if v})
        rows.append(replace(row, href="/search?" + urlencode(query)))
    return replace(table, rows=rows)


def names_by_id(answer: Any) -> dict[str, str]:
    """id → name of an answer listing reps or channels (`{"items": [{"id", "name"}]}`)."""
    items = answer.get("items", []) if isinstance(answer, dict) else []
    return {str(i["id"]): str(i.get("name") or i["id"]) for i in items if isinstance(i, dict) and "id" in i}
