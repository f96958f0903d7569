"""Allocation rules per workspace (DESIGN 4.6): criteria on a lead's facts, first active match wins.

An empty criterion places no constraint; a rule with no criteria matches every lead. Text is
compared ignoring case and surrounding whitespace; numbers and booleans in custom fields compare
by their text form (``"3"`` accepts 3 and 3.0, ``"true"`` accepts True).
"""

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args
from uuid import UUID

Strategy = Literal["round_robin", "weighted", "least_loaded", "fixed"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)


@dataclass(frozen=True)
class LeadFacts:
    channel_kind: str
    channel_key: str | None = None
    branch: str | None = None
    tags: Collection[str] = ()
    fields: Mapping[str, Any] = field(default_factory=dict)
    affiliate_name: str | None = None
    affiliate_account: str | None = None


@dataclass(frozen=True)
class Criteria:
    channel_kinds: Collection[str] = ()
    channel_keys: Collection[str] = ()
    branches: Collection[str] = ()
    tags_any: Collection[str] = ()
    tags_all: Collection[str] = ()
    fields: Mapping[str, Collection[Any]] = field(default_factory=dict)  # key -> accepted values
    affiliates: Collection[str] = ()  # affiliate names or account numbers

    def __post_init__(self) -> None:
        # A bare string is a Collection[str] of its characters: refuse it rather than match letters.
        lists: dict[str, object] = {k: v for k, v in vars(self).items() if k != "fields"}
        lists.update({f"fields[{k!r}]": v for k, v in self.fields.items()})
        for name, value in lists.items():
            if isinstance(value, str):
                raise TypeError(f"criterion {name} must be a collection of values, not the string {value!r}")


@dataclass(frozen=True)
class RuleSpec:
    id: UUID
    name: str
    position: int
    strategy: Strategy
    criteria: Criteria = field(default_factory=Criteria)
    rep_ids: tuple[UUID, ...] = ()  # empty = every rep of the workspace
    fixed_rep_id: UUID | None = None
    required_skills: frozenset[str] = frozenset()
    active: bool = True

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"rule {self.name!r}: unknown strategy {self.strategy!r} (expected one of {', '.join(STRATEGIES)})")
        if self.strategy == "fixed" and self.fixed_rep_id is None:
            raise ValueError(f"rule {self.name!r}: the fixed strategy needs fixed_rep_id")


def _key(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip().casefold()


def _keys(values: Collection[Any]) -> set[str]:
    return {_key(v) for v in values}


def _list(values: Collection[Any]) -> str:
    return ", ".join(sorted(str(v) for v in values))


def _values(value: Any) -> list[Any]:
    """A card value as a list: a multi-select holds several, a missing value none."""
    if value is None:
        return []
    if isinstance(value, list | tuple | set | frozenset):
        return [v for v in value if v is not None]
    return [value]


@dataclass(frozen=True)
class _Check:
    held: bool
    text: str


def _one_of(label: str, value: str | None, accepted: Collection[str]) -> _Check:
    if value is not None and _key(value) in _keys(accepted):
        return _Check(True, f"{label} {value} is one of {_list(accepted)}")
    return _Check(False, f"{label} {value if value is not None else '(none)'} is not one of {_list(accepted)}")


def _checks(criteria: Criteria, lead: LeadFacts) -> list[_Check]:
    """One check per criterion that constrains (empty criteria are skipped)."""
    checks: list[_Check] = []
    if criteria.channel_kinds:
        checks.append(_one_of("channel kind", lead.channel_kind, criteria.channel_kinds))
    if criteria.channel_keys:
        checks.append(_one_of("channel", lead.channel_key, criteria.channel_keys))
    if criteria.branches:
        checks.append(_one_of("branch", lead.branch, criteria.branches))
    tags = _keys(lead.tags)
    if criteria.tags_any:
        hits = [t for t in criteria.tags_any if _key(t) in tags]
        text = f"tagged {_list(hits)}" if hits else f"has none of the tags {_list(criteria.tags_any)}"
        checks.append(_Check(bool(hits), text))
    if criteria.tags_all:
        missing = [t for t in criteria.tags_all if _key(t) not in tags]
        text = f"has all the tags {_list(criteria.tags_all)}" if not missing else f"lacks the tags {_list(missing)}"
        checks.append(_Check(not missing, text))
    for name, accepted in sorted(criteria.fields.items()):
        card = _values(lead.fields.get(name))
        hits = [v for v in card if _key(v) in _keys(accepted)]
        if hits:
            checks.append(_Check(True, f"field {name} = {_list(hits)} is one of {_list(accepted)}"))
        else:
            shown = _list(card) if card else "(empty)"
            checks.append(_Check(False, f"field {name} = {shown} is not one of {_list(accepted)}"))
    if criteria.affiliates:
        accepted = _keys(criteria.affiliates)
        hit = next((a for a in (lead.affiliate_name, lead.affiliate_account) if a is not None and _key(a) in accepted), None)
        if hit is not None:
            checks.append(_Check(True, f"affiliate {hit} is one of {_list(criteria.affiliates)}"))
        else:
            shown = " / ".join(a for a in (lead.affiliate_name, lead.affiliate_account) if a) or "(none)"
            checks.append(_Check(False, f"affiliate {shown} is not one of {_list(criteria.affiliates)}"))
    return checks


def matches(rule: RuleSpec, lead: LeadFacts) -> bool:
    """Whether every criterion of the rule holds for the lead (``active`` is first_match's concern)."""
    return all(check.held for check in _checks(rule.criteria, lead))


def explain_match(rule: RuleSpec, lead: LeadFacts) -> str:
    """One sentence: which criteria held, or which failed and which held."""
    checks = _checks(rule.criteria, lead)
    if not checks:
        return f"rule '{rule.name}' matches every lead (no criteria)"
    held = [c.text for c in checks if c.held]
    failed = [c.text for c in checks if not c.held]
    if not failed:
        return f"rule '{rule.name}' matches: " + "; ".join(held)
    text = f"rule '{rule.name}' does not match: " + "; ".join(failed)
    return text + (f" (held: {'; '.join(held)})" if held else "")


def ordered(rules: Sequence[RuleSpec]) -> list[RuleSpec]:
    """Active rules in evaluation order: position, then id so equal positions stay deterministic."""
    return sorted((r for r in rules if r.active), key=lambda r: (r.position, r.id))


def first_match(rules: Sequence[RuleSpec], lead: LeadFacts) -> RuleSpec | None:
    return next((r for r in ordered(rules) if matches(r, lead)), None)
