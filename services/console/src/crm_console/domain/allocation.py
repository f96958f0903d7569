"""The allocation wizard's choices as the form carries them between steps, and what they become
for allocation-svc (pure: no I/O). A refusal's fields are mapped back to the wizard's inputs and
the step that shows them."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

STEPS = ("filter", "reps", "preview", "done")
DISTRIBUTIONS = ("evenly", "by_weight", "fixed_counts")
STATUSES = ("new", "follow_up", "follow_up_meeting", "customer", "customer_club", "not_interested", "frozen", "fictitious")
FILTER_FIELDS = ("statuses", "unassigned", "owner_id", "tags", "folder", "source", "created_from", "created_to", "limit")
REP_FIELDS = ("rep_ids", "distribution", "counts", "include_unavailable")


@dataclass
class WizardChoices:
    """Everything the person chose so far (kept in hidden inputs, so going back keeps it)."""

    statuses: list[str] = field(default_factory=list)
    unassigned: str = ""  # "", "true", "false"
    owner_id: str = ""
    tags: str = ""
    folder: str = ""
    source: str = ""
    created_from: str = ""
    created_to: str = ""
    limit: str = ""
    rep_ids: list[str] = field(default_factory=list)
    distribution: str = "evenly"
    counts: dict[str, str] = field(default_factory=dict)
    include_unavailable: bool = False

    @classmethod
    def from_form(cls, form: Mapping[str, Sequence[str]]) -> "WizardChoices":
        """From a form's values (name -> every value sent); `count_<rep id>` holds fixed counts."""

        def one(name: str) -> str:
            values = form.get(name) or []
            return values[-1].strip() if values else ""

        counts = {
            name.removeprefix("count_"): (values[-1].strip() if values else "")
            for name, values in form.items()
            if name.startswith("count_")
        }
        distribution = one("distribution")
        return cls(
            statuses=[s for s in form.get("statuses", []) if s in STATUSES],
            unassigned=one("unassigned") if one("unassigned") in ("true", "false") else "",
            owner_id=one("owner_id"),
            tags=one("tags"),
            folder=one("folder"),
            source=one("source"),
            created_from=one("created_from"),
            created_to=one("created_to"),
            limit=one("limit"),
            rep_ids=list(dict.fromkeys(r for r in form.get("rep_ids", []) if r)),
            distribution=distribution if distribution in DISTRIBUTIONS else "evenly",
            counts={k: v for k, v in counts.items() if v != ""},
            include_unavailable=one("include_unavailable") in ("1", "true", "on"),
        )

    def tag_list(self) -> list[str]:
        return [t.strip() for t in self.tags.split(",") if t.strip()]


def _moment(value: str, zone: ZoneInfo) -> str | None:
    """A date the person picked as the start of that day in the workspace's zone (ISO text)."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None
    return datetime.combine(day, time.min, tzinfo=zone).isoformat()


def filter_errors(choices: WizardChoices) -> dict[str, str]:
    """Refusals the console can tell before asking (field -> message key)."""
    errors: dict[str, str] = {}
    for name in ("created_from", "created_to"):
        value = getattr(choices, name)
        if value:
            try:
                date.fromisoformat(value)
            except ValueError:
                errors[name] = "allocation.error.date"
    if choices.limit and not (choices.limit.isdigit() and 1 <= int(choices.limit) <= 50_000):
        errors["limit"] = "allocation.error.number"
    return errors


def reps_errors(choices: WizardChoices) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not choices.rep_ids:
        errors["rep_ids"] = "allocation.pick_reps"
    if choices.distribution == "fixed_counts":
        for rep_id in choices.rep_ids:
            value = choices.counts.get(rep_id, "")
            if value and not value.isdigit():
                errors[f"count_{rep_id}"] = "allocation.error.number"
    return errors


def preview_body(choices: WizardChoices, zone: ZoneInfo) -> dict[str, object]:
    """`POST /v1/allocations/preview`'s body (only what was chosen)."""
    card_filter: dict[str, object] = {}
    if choices.statuses:
        card_filter["statuses"] = choices.statuses
    if choices.unassigned:
        card_filter["unassigned"] = choices.unassigned == "true"
    if choices.owner_id:
        card_filter["owner_id"] = choices.owner_id
    if choices.tag_list():
        card_filter["tags"] = choices.tag_list()
    for name in ("folder", "source"):
        if getattr(choices, name):
            card_filter[name] = getattr(choices, name)
    for name in ("created_from", "created_to"):
        moment = _moment(getattr(choices, name), zone) if getattr(choices, name) else None
        if moment:
            card_filter[name] = moment
    body: dict[str, object] = {"filter": card_filter, "rep_ids": choices.rep_ids, "distribution": choices.distribution}
    if choices.distribution == "fixed_counts":
        body["counts"] = {r: int(choices.counts.get(r) or 0) for r in choices.rep_ids}
    if choices.limit.isdigit():
        body["limit"] = int(choices.limit)
    if choices.include_unavailable:
        body["include_unavailable"] = True
    return body


def wizard_field(api_field: str) -> str:
    """The wizard input a refused API field belongs to: `filter.tags[0]` → `tags`,
    `rep_ids[1]` → `rep_ids`, `counts.<rep>` → `count_<rep>`."""
    name = api_field.split("[", 1)[0]
    if name.startswith("filter."):
        return name.removeprefix("filter.").split(".", 1)[0]
    if name.startswith("counts."):
        return "count_" + name.removeprefix("counts.")
    return name


def step_of(fields: Sequence[str]) -> str:
    """The first step showing one of these inputs (a refusal goes back there)."""
    if any(f in FILTER_FIELDS or f == "filter" for f in fields):
        return "filter"
    return "reps"


def card_name(card: Mapping[str, object]) -> str:
    """How a card is named in lists: the company, else the person's names."""
    company = card.get("company_name")
    if isinstance(company, str) and company:
        return company
    names = [card.get("first_name"), card.get("last_name")]
    return " ".join(n for n in names if isinstance(n, str) and n)
