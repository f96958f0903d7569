"""Rules and strategies of DESIGN 4.6 as pure functions."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID


@dataclass(frozen=True)
class Rep:
    id: UUID
    name: str
    available: bool = True
    weight: int = 1
    team: str | None = None
    branch: str | None = None


@dataclass(frozen=True)
class Rule:
    id: UUID
    name: str
    position: int
    strategy: str
    criteria: dict[str, Any] = field(default_factory=dict)
    rep_ids: tuple[UUID, ...] = ()
    cursor: int = 0


@dataclass(frozen=True)
class LeadFacts:
    channel_kind: str
    branch: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Choice:
    rep: Rep
    next_cursor: int
    reason: str


def rule_matches(rule: Rule, lead: LeadFacts) -> bool:
    c = rule.criteria
    if c.get("channel_kinds") and lead.channel_kind not in c["channel_kinds"]:
        return False
    if c.get("branches") and lead.branch not in c["branches"]:
        return False
    if c.get("tags") and not set(c["tags"]) & set(lead.tags):
        return False
    return True


def first_matching(rules: Sequence[Rule], lead: LeadFacts) -> Rule | None:
    return next((r for r in sorted(rules, key=lambda r: r.position) if rule_matches(r, lead)), None)


def candidates(rule: Rule, reps: Sequence[Rep]) -> list[Rep]:
    """The rule's reps (all reps when it names none) that are available, in a stable order."""
    pool = [r for r in reps if r.available and (not rule.rep_ids or r.id in rule.rep_ids)]
    return sorted(pool, key=lambda r: str(r.id))


def round_robin(rule: Rule, reps: Sequence[Rep]) -> Choice | None:
    pool = candidates(rule, reps)
    if not pool:
        return None
    rep = pool[rule.cursor % len(pool)]
    reason = f"rule '{rule.name}': round robin, turn {rule.cursor % len(pool) + 1} of {len(pool)} available reps"
    return Choice(rep, rule.cursor + 1, reason)


STRATEGIES = {"round_robin": round_robin}
